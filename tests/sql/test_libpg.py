"""pglast's parser is loaded without its enum and AST modules, which load on first use."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import sys
from migrator.sql.split import split_statements

split_statements("create table t (id int); select 1;")
deferred = sorted(
    name for name in ("pglast.enums", "pglast.ast")
    if type(sys.modules[name]).__name__ == "_Deferred"
    and "__file__" not in vars(sys.modules[name])
)
print(",".join(deferred))

import pglast
from pglast import ast, parse_sql
from pglast.enums import ConstrType
from pglast.stream import RawStream

(raw,) = parse_sql("alter table t add constraint c check (id > 0)")
assert isinstance(raw.stmt, ast.AlterTableStmt)
assert raw.stmt.cmds[0].def_.contype is ConstrType.CONSTR_CHECK
assert pglast.enums.ConstrType is ConstrType
print(RawStream()(raw))
"""


def test_parsing_loads_no_enum_or_ast_module_and_both_work_when_used() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    deferred, printed = completed.stdout.strip().splitlines()
    assert deferred == "pglast.ast,pglast.enums"
    assert printed == "ALTER TABLE t ADD CONSTRAINT c CHECK (id > 0)"
