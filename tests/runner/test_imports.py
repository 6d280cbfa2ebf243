"""``status`` and ``verify`` load neither the planner nor the executor: what they
import is paid by every run of them."""

from __future__ import annotations

import json
import subprocess
import sys

#: modules the read-only commands never need
NOT_FOR_STATUS = (
    "migrator.runner.execute",
    "migrator.runner.plan",
    "migrator.runner.backfill",
    "migrator.plan",
)


def test_the_run_functions_module_loads_no_planner_or_executor() -> None:
    probe = "import json, sys\nimport migrator.runner.flows\nprint(json.dumps(sorted(sys.modules)))"
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    loaded = json.loads(completed.stdout)

    assert "migrator.runner.status" in loaded and "asyncpg" in loaded
    assert [name for name in loaded if name.startswith(NOT_FOR_STATUS)] == [], (
        "status would pay for modules only `up` and `down` use"
    )
