"""Benchmarks of migrator against its peers (dbmate, sql-migrate, yoyo, squawk).

Run everything and rewrite docs/benchmarks.md::

    bash bench/install_peers.sh          # peers into bench/.tools/ (once)
    python -m bench.run_all              # with the project's Python

Peers are benchmark inputs, never dependencies of the project.
"""
