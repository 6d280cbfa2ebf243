"""The runner: plans what ``up``/``down`` will do (:mod:`.plan`, pure), executes it
(:mod:`.execute`), reports progress (:mod:`.report`), and computes status, verify and
repair results (:mod:`.status`, :mod:`.recovery`, pure). :mod:`.flows` ties them to a
connection, the ledger and the migration lock, one documented function per command.

Public entry points::

    from migrator.runner.flows import up, down, status, verify, baseline, repair
    from migrator.runner.execute import apply_migration   # ONE migration, given connection
    from migrator.runner.schedule import plan_up, plan_down, render_sql
"""
