"""migrator/sql/ is the one place that knows PostgreSQL's syntax: no module outside it
imports pglast (docs/design.md, "Layers")."""

from __future__ import annotations

import ast
from pathlib import Path

import migrator

PACKAGE = Path(migrator.__file__).parent
SQL_LAYER = PACKAGE / "sql"


def _pglast_imports(path: Path) -> list[int]:
    """Lines of ``path`` that import pglast (any form, at any depth of the module)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names = [str(node.args[0].value)]
        else:
            continue
        if any(name == "pglast" or name.startswith("pglast.") for name in names):
            found.append(node.lineno)
    return found


def test_only_the_sql_layer_imports_pglast() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if SQL_LAYER not in path.parents
        for line in _pglast_imports(path)
    ]
    assert offenders == [], "pglast imported outside migrator/sql/: " + ", ".join(offenders)


def test_the_check_sees_every_form_of_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import pglast\n"
        "from pglast import ast\n"
        "def f():\n"
        "    from pglast.enums import ConstrType\n"
        "    importlib.import_module('pglast.stream')\n"
        "from migrator.sql.syntax import deparse\n"
        "import pglastic\n",
        encoding="utf-8",
    )
    assert _pglast_imports(sample) == [1, 2, 4, 5]
