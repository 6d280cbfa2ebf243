"""``status`` and ``verify`` load neither the planner nor the executor, and ``up``
does not load the status report: what a command imports is paid by every run of it."""

from __future__ import annotations

import json
import subprocess
import sys

#: modules the read-only commands never need
NOT_FOR_STATUS = (
    "migrator.runner.execute",
    "migrator.runner.schedule",
    "migrator.runner.backfill",
    "migrator.plan",
)


def test_the_run_functions_module_loads_no_planner_or_executor() -> None:
    probe = "import json, sys\nimport migrator.runner.flows\nprint(json.dumps(sorted(sys.modules)))"
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    loaded = json.loads(completed.stdout)

    assert "asyncpg" in loaded
    assert "migrator.runner.status" not in loaded, "status and verify import it themselves"
    assert [name for name in loaded if name.startswith(NOT_FOR_STATUS)] == [], (
        "status would pay for modules only `up` and `down` use"
    )
