"""``migrate plan FILE``: read the intended change, replay the schema the earlier
migrations built, plan every statement, and lay the plan out as the next migration
files. Pure: reads files, never a database; :func:`write_plan` is the only writer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from migrator.errors import SourceError, UsageError
from migrator.plan.assemble import assemble
from migrator.plan.catalog_facts import CatalogFacts, replay
from migrator.plan.changes import plan_statement, planning_units, read_change_file
from migrator.plan.dependents import Dependents
from migrator.plan.dropped_sources import DroppedSources
from migrator.plan.exclusive_locks import ExpandSplitter
from migrator.plan.file_order import FileOrder
from migrator.plan.model import CannotPlan, Change, Plan
from migrator.plan.prechecks import TablesBefore, add_prechecks
from migrator.plan.recipes.foreign_keys import refuse_changed_references
from migrator.plan.recipes.target import PlanOptions
from migrator.plan.render import RenderedMigration, irreversible_reason, render
from migrator.source import Migration, MigrationSet, discover, load_file
from migrator.sql.catalog import Catalog
from migrator.sql.names import QualifiedName, relation_name
from migrator.sql.split import Statement

#: versions this long are timestamps (``20261122153000``): the plan continues in time
_TIMESTAMP_WIDTH = 12


@dataclass(frozen=True)
class PlannedFile:
    path: Path
    text: str


@dataclass(frozen=True)
class PlannedVersion:
    """One migration of the plan with the version and files it gets."""

    version_text: str
    rendered: RenderedMigration
    files: tuple[PlannedFile, ...]
    irreversible_reason: str = ""


@dataclass(frozen=True)
class PlanResult:
    source: Path
    plan: Plan
    versions: tuple[PlannedVersion, ...]
    #: files of the pending migration that ``--replace`` replaces
    replaced: tuple[Path, ...] = ()
    #: ``--replace`` of a migration whose statements are all safe as written: it is
    #: left as it is, nothing is written
    left_as_is: bool = False

    @property
    def files(self) -> tuple[PlannedFile, ...]:
        return tuple(f for version in self.versions for f in version.files)

    @property
    def removed(self) -> tuple[Path, ...]:
        """Replaced files that no planned file takes the place of."""
        written = {f.path for f in self.files}
        return tuple(path for path in self.replaced if path not in written)


def _read(path: Path) -> str:
    """The change's SQL, read with the same checks as a migration file (size,
    permissions, UTF-8, NUL bytes)."""
    if not path.exists():
        raise UsageError(f"{path}: no such file", hint="pass the SQL file of the change")
    return load_file(path).text


#: the layouts whose file names the planner writes
_PLANNED_LAYOUTS = ("migrator", "golang-migrate", "sqlx")


def _migrations(directory: Path) -> MigrationSet:
    if not directory.exists():
        return MigrationSet(directory, ())
    found = discover(directory)
    if found.layout not in _PLANNED_LAYOUTS:
        raise UsageError(
            f"{directory} is a {found.layout} directory; `migrate plan` writes migrator's "
            "own <version>_<name>.up.sql files",
            hint="write the planned SQL into files of that layout (`migrate new` makes them)",
        )
    return found


def _owning_migration(migration_set: MigrationSet, path: Path) -> Migration | None:
    resolved = path.resolve()
    for migration in migration_set.migrations:
        if migration.down is not None and migration.down.path.resolve() == resolved:
            raise UsageError(f"{path} is a down migration", hint="plan the up file of the change")
        if migration.up.path.resolve() == resolved:
            return migration
    return None


def next_versions(
    migration_set: MigrationSet, count: int, now: datetime | None = None
) -> list[str]:
    """The version texts of ``count`` new migrations after every existing one."""
    existing = migration_set.migrations
    if not existing:
        return [f"{n:03d}" for n in range(1, count + 1)]
    widest = max(len(m.version_text or str(m.version)) for m in existing)
    last = max(m.version for m in existing)
    if widest >= _TIMESTAMP_WIDTH:
        stamp = int((now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S"))
        first = max(stamp, last + 1)
        return [str(first + n) for n in range(count)]
    return [f"{last + n:0{widest}d}" for n in range(1, count + 1)]


def _replacing_versions(
    migration_set: MigrationSet, owner: Migration, count: int, path: Path
) -> list[str]:
    """Versions for ``count`` migrations that take the place of ``owner``: its own
    version and the ones after it, which must be free up to the next migration."""
    width = len(owner.version_text or str(owner.version))
    later = [m for m in migration_set.migrations if m.version > owner.version]
    if later and later[0].version - owner.version < count:
        following = later[0]
        free = following.version - owner.version
        raise UsageError(
            f"--replace: {path} plans as {count} migrations, but only {free} version(s) "
            f"are free before the next one ({following.label}), and the plan must run "
            "before it",
            hint="renumber the later pending migrations to leave room, or plan a copy of "
            "the file without --replace and remove the migration yourself",
        )
    return [f"{owner.version + n:0{width}d}" for n in range(count)]


def _base_name(path: Path, migration: Migration | None) -> str:
    if migration is not None:
        return migration.name
    stem = path.name.removesuffix(".sql").removesuffix(".up")
    stem = re.sub(r"^\d+_", "", stem)
    return re.sub(r"[^A-Za-z0-9_]+", "_", stem).strip("_").lower() or "change"


def _views_created(units: list[Statement], catalog: Catalog) -> frozenset[tuple[str, str]]:
    """The views (and materialized views) ``units`` create, as ``(schema, name)``."""
    found: set[tuple[str, str]] = set()
    for unit in units:
        tree = unit.kind_and_fields(view_query=False)
        if tree is None:
            continue
        kind, fields = tree
        if kind == "ViewStmt":
            range_var = fields.get("view")
        elif kind == "CreateTableAsStmt":
            range_var = (fields.get("into") or {}).get("rel")
        else:
            continue
        schema, name = relation_name(range_var)
        resolved = catalog.resolve(schema, name)
        found.add((resolved.schema, resolved.name))
    return frozenset(found)


class _ColumnsSeen:
    """The columns of every table before the change file, and the ones the file adds,
    retypes or renames to at any point (:class:`~migrator.plan.prechecks.TablesBefore`)."""

    def __init__(self, catalog: Catalog) -> None:
        self._before = self._columns(catalog)
        self._changed: dict[tuple[str, str], set[str]] = {}

    @staticmethod
    def _columns(catalog: Catalog) -> dict[tuple[str, str], dict[str, str]]:
        return {
            (table.name.schema, table.name.name): {c.name: c.type.sql for c in table.columns}
            for table in catalog.tables()
            if not catalog.is_new(table)
        }

    def note(self, catalog: Catalog) -> None:
        """Remember the columns as the statement just replayed left them."""
        for table in catalog.tables():
            key = (table.name.schema, table.name.name)
            old = self._before.get(key, {})
            changed = {c.name for c in table.columns if old.get(c.name) != c.type.sql}
            if changed:
                self._changed.setdefault(key, set()).update(changed)

    def before_the_file(self, catalog: Catalog) -> TablesBefore:
        existing = frozenset(
            key
            for key in self._before
            if (table := catalog.table(QualifiedName(*key))) is None or not catalog.is_new(table)
        )
        return TablesBefore(existing, {k: frozenset(v) for k, v in self._changed.items()})


def plan_changes(
    text: str, where: str, earlier: list[Migration], options: PlanOptions
) -> list[Change]:
    """Every change of ``text``, planned against the schema ``earlier`` migrations built
    and the statements (and ``ALTER TABLE`` subcommands) of ``text`` before each one.

    The changes that end their expand migration are marked (:mod:`.exclusive_locks`);
    after each, what the file created so far is planned as existing: it is, for the
    migrations after it."""
    dependents = Dependents()
    replaying = replay(earlier, dependents)
    catalog = replaying.catalog
    statements = read_change_file(text, where)
    facts = CatalogFacts(catalog, dependents)
    changes: list[Change] = []
    units = [(statement, unit) for statement in statements for unit in planning_units(statement)]
    splitter = ExpandSplitter(replaying, statements, [unit for _, unit in units])
    order = FileOrder(catalog)
    sources = DroppedSources(catalog)
    columns = _ColumnsSeen(catalog)
    for position, (statement, unit) in enumerate(units):
        later = [later_unit for _, later_unit in units[position + 1 :]]
        try:
            planned = plan_statement(
                unit,
                facts,
                options,
                _views_created(later, catalog),
                later,
            )
            order.check(unit, planned)
            sources.check(unit.text, [] if unit.parsed is None else [unit.parsed])
            planned = splitter.mark(planned, position)
            changes += planned
            facts.note_deferred(planned)
            # a view the plan drops in its contract phase still uses its columns until then
            dependents.until_contract = any(change.recipe == "drop view" for change in planned)
            replaying.statement(unit)
            columns.note(catalog)
            dependents.until_contract = False
            refuse_changed_references(facts, facts.retyped_keys)
        except CannotPlan as error:
            raise type(error)(
                f"{where}:{statement.line}: {error.message}", hint=error.hint
            ) from None
        splitter.applied(planned)
    try:
        return add_prechecks(changes, columns.before_the_file(catalog))
    except CannotPlan as error:
        raise type(error)(f"{where}: {error.message}", hint=error.hint) from None


def plan_file(
    path: Path,
    migrations_dir: Path,
    *,
    replace: bool = False,
    preview: bool = False,
    lock_timeout_ms: int = 5000,
    options: PlanOptions | None = None,
    now: datetime | None = None,
) -> PlanResult:
    """Plan the change in ``path`` as the next migrations of ``migrations_dir``.

    With ``preview`` (``--print``: nothing will be written), a pending migration is
    planned as ``replace`` would plan it.

    Raises :class:`~migrator.plan.model.CannotPlan` when a change cannot be made safe,
    :class:`UsageError` for a file that cannot be planned as asked.
    """
    options = options or PlanOptions()
    text = _read(path)
    migration_set = _migrations(migrations_dir)
    owner = _owning_migration(migration_set, path)
    if owner is not None and not (replace or preview):
        raise UsageError(
            f"{path} is migration {owner.label} already; planning it would add the change "
            "a second time",
            hint="pass --replace to replace it (only if no database has applied it), or "
            "--print to look at the plan",
        )
    if replace and owner is None:
        raise UsageError(
            f"--replace: {path} is not a migration in {migrations_dir}",
            hint="pass the up file of a pending migration",
        )
    earlier = [m for m in migration_set.migrations if owner is None or m.version < owner.version]
    changes = plan_changes(text, str(path), earlier, options)
    plan = assemble(changes, _base_name(path, owner))
    if owner is not None and plan.all_safe_already:
        return PlanResult(path, plan, (), left_as_is=True)
    if owner is not None:
        versions = _replacing_versions(migration_set, owner, len(plan.migrations), path)
    else:
        versions = next_versions(migration_set, len(plan.migrations), now)
    planned = []
    for position, (version, rendered) in enumerate(
        zip(versions, render(plan, path.name, lock_timeout_ms), strict=True)
    ):
        name = rendered.migration.name
        if rendered.down is None:
            files: tuple[PlannedFile, ...] = (
                PlannedFile(migrations_dir / f"{version}_{name}.sql", rendered.up),
            )
        else:
            files = (
                PlannedFile(migrations_dir / f"{version}_{name}.up.sql", rendered.up),
                PlannedFile(migrations_dir / f"{version}_{name}.down.sql", rendered.down),
            )
        planned.append(
            PlannedVersion(version, rendered, files, irreversible_reason(plan, position))
        )
    replaced = owner.files() if owner is not None else ()
    return PlanResult(path, plan, tuple(planned), tuple(f.path for f in replaced))


def write_plan(result: PlanResult) -> None:
    """Write the plan's files (and remove the replaced migration's). Refuses to
    overwrite an existing file."""
    for planned in result.files:
        if planned.path.exists() and planned.path not in result.replaced:
            raise SourceError([f"{planned.path} exists already"], hint="nothing was written")
    if result.files:
        result.files[0].path.parent.mkdir(parents=True, exist_ok=True)
    for old in result.replaced:
        old.unlink(missing_ok=True)
    for planned in result.files:
        planned.path.write_text(planned.text, encoding="utf-8")
