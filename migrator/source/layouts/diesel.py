"""diesel: one folder per migration, ``<timestamp>_<name>/up.sql`` + ``down.sql``, with
an optional ``metadata.toml``.

As diesel (diesel_migrations, migrations_internals): a folder is a migration when it
holds ``up.sql``; its version is the folder name up to the first ``_`` with the dashes
dropped, and versions are ordered as text (``2020-12-7-190800`` sorts after
``2020-12-31-...``); files beside the folders and other files inside them are ignored;
``metadata.toml`` sets ``run_in_transaction`` (a ``metadata.toml`` that parses but does
not name it means false, as in diesel, whose default for a present file is serde's).
What diesel would silently misread is refused with its place: a ``metadata.toml`` that
is not TOML or whose ``run_in_transaction`` is not a boolean (diesel then runs the
migration in a transaction, whatever the file says), and a folder with a ``down.sql``
but no ``up.sql`` (diesel refuses it; other folders without ``up.sql`` are ignored).
Where diesel's version would hold letters (``2023-05-23-1715-update-x``: no ``_``), the
version is the leading digits and dashes and the rest is the name.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from migrator.errors import SourceError, UsageError
from migrator.source.layouts.base import (
    Candidate,
    Layout,
    Listing,
    Scan,
    duplicate_version_problems,
)
from migrator.source.reading import SIDE_FILE_BYTES, read_regular_file
from migrator.source.versions import diesel_key

#: ``2023-05-23-1715-update-x``: no ``_``, the version is the leading digits and dashes
_LEADING = re.compile(r"^(?P<version>[0-9][0-9-]*[0-9])-(?P<name>[A-Za-z].*)$")


def split_folder_name(name: str) -> tuple[str, str] | None:
    """``(version text, name)`` of a diesel folder, or None."""
    if "_" in name:
        version, rest = name.split("_", 1)
        if re.fullmatch(r"[0-9][0-9-]*", version):
            return version, rest
        return None
    match = _LEADING.match(name)
    if match:
        return match.group("version"), match.group("name")
    return None


#: the line of ``metadata.toml`` that sets ``run_in_transaction``
_KEY_LINE = re.compile(r"^\s*run_in_transaction\s*=", re.MULTILINE)
#: where tomllib says a syntax error is
_TOML_ERROR_LINE = re.compile(r"\(at line (\d+), column \d+\)")
#: what diesel does with a ``metadata.toml`` it cannot use
_DIESEL_IGNORES = (
    "diesel ignores such a metadata.toml and runs the migration in a transaction, "
    "which may not be what it says"
)


def run_in_transaction(folder: Path) -> bool:
    """diesel's reading of ``metadata.toml``: absent: true; present without the key:
    false. A file diesel could not use (it then falls back to true without a word: not
    TOML, or ``run_in_transaction`` not a boolean, such as the string ``"false"``) is
    refused with its line (:class:`SourceError`): what the author meant is unclear."""
    path = folder / "metadata.toml"
    if not path.exists() and not path.is_symlink():
        return True
    text = read_regular_file(path, SIDE_FILE_BYTES, "metadata.toml")
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError:
        raise SourceError([f"{path}: not UTF-8 text; {_DIESEL_IGNORES}"]) from None
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_ERROR_LINE.search(str(exc))
        where = f"{path}:{found.group(1)}" if found else str(path)
        reason = _TOML_ERROR_LINE.sub("", str(exc)).strip()
        raise SourceError(
            [f"{where}: not valid TOML ({reason}); {_DIESEL_IGNORES}: fix the file"]
        ) from None
    value = data.get("run_in_transaction", False)
    if not isinstance(value, bool):
        decoded = text.decode("utf-8")
        found = _KEY_LINE.search(decoded)
        where = f"{path}:{decoded.count(chr(10), 0, found.start()) + 1}" if found else str(path)
        raise SourceError(
            [
                f"{where}: run_in_transaction = {value!r} is not a TOML boolean; "
                f"{_DIESEL_IGNORES}: write run_in_transaction = true or false, without quotes"
            ]
        )
    return value


class DieselLayout(Layout):
    name = "diesel"
    scheme = "diesel"

    def claims(self, listing: Listing) -> bool:
        return any((listing.directory / name / "up.sql").is_file() for name in listing.folders)

    def scan(self, listing: Listing) -> Scan:
        scan = Scan()
        directory = listing.directory
        scan.ignored.extend(directory / name for name in listing.files)
        keys: dict[int, Path] = {}
        for name in listing.folders:
            folder = directory / name
            if not (folder / "up.sql").is_file():
                if (folder / "down.sql").is_file():  # diesel refuses it too
                    scan.problems.append(
                        f"{folder}: has a down.sql but no up.sql (diesel refuses such a "
                        "folder): restore its up.sql, or remove the folder"
                    )
                else:
                    scan.ignored.append(folder)
                continue
            parts = split_folder_name(name)
            if parts is None:
                scan.problems.append(
                    f"{folder}: folder name does not start with a diesel version "
                    "(<timestamp>_<name>, e.g. 2019-09-12-100000_create_users): rename it"
                )
                continue
            version, label = parts
            try:
                key = diesel_key(version)
            except UsageError as exc:
                scan.problems.append(f"{folder}: {exc.message}")
                continue
            if key in keys:
                scan.problems.extend(duplicate_version_problems(version, [keys[key], folder]))
                continue
            keys[key] = folder
            down = folder / "down.sql"
            has_down = down.is_file()
            try:
                transactional = run_in_transaction(folder)
            except SourceError as exc:
                scan.problems.extend(exc.problems)
                continue
            scan.candidates.append(
                Candidate(
                    key,
                    version,
                    label,
                    folder / "up.sql",
                    down if has_down else None,
                    transactional,
                    paths=(folder,),
                )
            )
        scan.candidates.sort(key=lambda candidate: candidate.key)
        return scan

    def new_files(
        self, directory: Path, version: str, name: str, transactional: bool
    ) -> list[tuple[Path, str]]:
        folder = directory / f"{version}_{name}"
        files = [(folder / "up.sql", ""), (folder / "down.sql", "")]
        if not transactional:
            files.append((folder / "metadata.toml", "run_in_transaction = false\n"))
        return files

    def version_of_name(self, name: str) -> str | None:
        parts = split_folder_name(name)
        return parts[0] if parts else None
