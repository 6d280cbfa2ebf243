"""pytest plugin shipped with migrator (entry point ``pytest11``).

Fixtures for users' own test suites are added by the dry-run layer; importing this
module must stay cheap and must not require pytest-postgresql.
"""
