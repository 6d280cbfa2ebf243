"""The one explicit list of lint rules. Adding a rule: write it in its family module
(docstring with the five sections), list it here, add its case file under
``tests/lint/cases/``, and regenerate ``docs/rules/`` (``migrate rules --write-docs docs/rules``).
"""

from __future__ import annotations

from migrator.lint.rule import Rule
from migrator.lint.rules import (
    breaking,
    columns,
    constraints,
    indexes,
    robustness,
    security,
    tables,
    transactions,
    types,
)

RULES: tuple[Rule, ...] = (
    # locking and rewrites
    indexes.index_not_concurrent,
    indexes.drop_index_not_concurrent,
    indexes.reindex_not_concurrent,
    transactions.concurrently_in_transaction,
    constraints.constraint_not_valid,
    transactions.validate_in_same_transaction,
    constraints.unique_without_index,
    constraints.set_not_null,
    columns.add_column_required,
    columns.add_column_rewrite,
    columns.column_type_rewrite,
    transactions.missing_lock_timeout,
    tables.table_rewrite,
    tables.detach_partition_not_concurrent,
    transactions.statements_after_access_exclusive,
    tables.unbatched_backfill,
    transactions.enum_value_in_transaction,
    # breaking changes
    breaking.drop_table,
    breaking.drop_column,
    breaking.rename_table,
    breaking.rename_column,
    breaking.drop_not_null,
    breaking.truncate,
    breaking.drop_schema_or_database,
    # robustness
    robustness.syntax_error,
    transactions.transaction_control,
    transactions.commit_point,
    robustness.psql_meta_command,
    robustness.identifier_too_long,
    transactions.non_idempotent_non_transactional,
    robustness.foreign_key_without_index,
    robustness.invalid_directive,
    robustness.invalid_suppression,
    robustness.invalid_migration_file,
    # types and style
    types.prefer_bigint,
    types.prefer_identity,
    types.prefer_text,
    types.prefer_timestamptz,
    types.prefer_jsonb,
    # security
    security.hardcoded_password,
    security.grant_to_public,
    security.security_definer_search_path,
)

RULES_BY_ID: dict[str, Rule] = {r.id: r for r in RULES}
RULE_IDS: frozenset[str] = frozenset(RULES_BY_ID)
#: findings of these rules cannot be suppressed
UNSUPPRESSIBLE = frozenset({"invalid-suppression"})


def get_rule(rule_id: str) -> Rule | None:
    return RULES_BY_ID.get(rule_id)
