"""The database layer: connections (:mod:`.connection`), the ledger (:mod:`.ledger`,
:mod:`.records`), the migration lock (:mod:`.lock`), INVALID indexes (:mod:`.indexes`)
and identifier quoting (:mod:`.quoting`).

With :mod:`migrator.runner` this is the only code that talks to PostgreSQL (asyncpg).
This package imports nothing itself, so pure layers may use :mod:`.quoting` and
:mod:`.records` without loading the driver.
"""
