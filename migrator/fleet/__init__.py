"""Fleets: one command over many databases, concurrently, each with its own ledger and
lock (``--targets FILE``).

Data flows one way: :mod:`~migrator.fleet.targets` reads the targets file (pure),
:mod:`~migrator.fleet.discover` turns ``[[discover]]`` entries into targets (one query
per server), :mod:`~migrator.fleet.select` picks a shard, :mod:`~migrator.fleet.run`
drives one runner function per target under a concurrency limit, and
:mod:`~migrator.fleet.render` turns the outcomes into lines, a summary and JSON.
"""
