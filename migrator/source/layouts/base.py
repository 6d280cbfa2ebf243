"""What every layout shares: the directory listing it reads, the migrations it finds
by name, and how a found migration's files become :class:`MigrationFile` values."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal, NamedTuple

from migrator.errors import SourceError, UsageError
from migrator.source.model import MigrationFile

#: control characters (C0, DEL, C1) a file name must not hold: printed raw, an ANSI
#: escape in a name would rewrite the terminal
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: a version prefix in digits of any script (Arabic-Indic, full-width): refused, not ignored
_UNICODE_VERSION = r"\d+[_.]"
_ASCII_VERSION = r"[0-9]+[_.]"


def shown(name: str) -> str:
    """A file name safe to print: control characters escaped (``\\x1b``)."""
    return _CONTROL.sub(lambda found: f"\\x{ord(found[0]):02x}", name)


# The records below are named tuples: every command that reads a directory creates
# these classes, and a named tuple class costs a fraction of a dataclass to create.


class Listing(NamedTuple):
    """The entries of a migrations directory, hidden ones left out."""

    directory: Path
    #: file names (symlinks to files included), sorted
    files: tuple[str, ...]
    #: sub-directory names, sorted
    folders: tuple[str, ...]
    #: names refused before any layout looked at them (control characters, loops)
    problems: tuple[str, ...] = ()
    #: the names (files or folders) that are symbolic links
    symlinks: frozenset[str] = frozenset()


def list_directory(directory: Path, wanted: Callable[[str], bool] | None = None) -> Listing:
    """Read ``directory`` once. Raises :class:`SourceError` when it is missing or
    unreadable; entries that cannot be used (a symlink loop, a name with control
    characters) become problems of the listing. With ``wanted``, only the entries whose
    name it accepts are listed (the others are not looked at: a cheap test first)."""
    if not directory.exists():
        raise SourceError(
            [f"migrations directory {directory} does not exist"],
            hint="pass --dir, set migrations-dir in [tool.migrator], or run `migrate new NAME`",
        )
    if not directory.is_dir():
        raise SourceError([f"{directory} is not a directory"], hint="pass the migrations directory")
    files: list[str] = []
    folders: list[str] = []
    problems: list[str] = []
    symlinks: set[str] = set()
    try:
        with os.scandir(directory) as scan:
            entries = sorted((entry.name, entry) for entry in scan)
    except OSError as exc:
        raise SourceError([f"cannot list {directory}: {exc.strerror}"]) from None
    for name, entry in entries:
        if name.startswith(".") or (wanted is not None and not wanted(name)):
            continue
        if not name.isprintable() and _CONTROL.search(name):  # control: never printable
            problems.append(
                f"{directory / shown(name)}: file name holds control characters: rename it"
            )
            continue
        try:
            is_dir = entry.is_dir()
            if entry.is_symlink():
                os.stat(entry.path)  # ELOOP / a dangling link
                symlinks.add(name)
        except OSError as exc:
            problems.append(
                f"{directory / name}: cannot read ({exc.strerror}): fix or remove the symlink"
            )
            continue
        (folders if is_dir else files).append(name)
    return Listing(directory, tuple(files), tuple(folders), tuple(problems), frozenset(symlinks))


def duplicate_version_problems(version: str, paths: list[Path]) -> list[str]:
    """One problem per file of a version that several migrations use, each at its own
    path (so that lint's github, SARIF and GitLab outputs point at the real files)."""
    problems = []
    for path in sorted(paths):
        others = ", ".join(sorted(other.name for other in paths if other != path))
        problems.append(
            f"{path}: version {version} is used by more than one migration (also {others}): "
            "give each its own version (two branches that each added one clash like this; "
            "`migrate new --timestamp` avoids it)"
        )
    return problems


def non_ascii_version(name: str) -> bool:
    """``٣_b.sql``: a version in digits that are not ASCII."""
    return bool(re.match(_UNICODE_VERSION, name)) and not re.match(_ASCII_VERSION, name)


def non_ascii_problem(path: Path) -> str:
    return (
        f"{path}: the version is not in ASCII digits 0-9: rename the file "
        "(versions are compared as ASCII numbers)"
    )


class Candidate(NamedTuple):
    """A migration a layout found by name: its version and where its SQL is."""

    key: int
    version_text: str
    name: str
    up: Path
    down: Path | None = None
    #: what name-level metadata says (diesel's ``metadata.toml``)
    transactional: bool = True
    #: the paths that make it up (for duplicate and symlink messages)
    paths: tuple[Path, ...] = ()
    #: Flyway's ``R__`` migration (see :attr:`Migration.repeatable`)
    repeatable: bool = False


class Scan:
    """What a layout made of a listing."""

    def __init__(self) -> None:
        self.candidates: list[Candidate] = []
        self.ignored: list[Path] = []
        self.problems: list[str] = []


class Section(NamedTuple):
    """The SQL of one direction, with the file's line numbers kept: text outside the
    section (and the layout's own marker lines) is blanked, newlines kept."""

    text: str
    transactional: bool = True


def blank(text: str) -> str:
    """``text`` with everything but line ends turned into spaces (a ``\r\n`` stays, so
    a section's checksum does not depend on the file's line ends)."""
    return re.sub(r"[^\r\n]", " ", text)


def keep_only(text: str, start: int, end: int) -> str:
    """``text`` with everything outside ``[start, end)`` blanked."""
    return blank(text[:start]) + text[start:end] + blank(text[end:])


def file_of(path: Path, direction: Literal["up", "down"], section: Section) -> MigrationFile:
    """A :class:`MigrationFile` of one section (its checksum: of the section's text)."""
    return MigrationFile(path, direction, section.text, layout_transactional=section.transactional)


class Layout:
    """One tool's way of laying out migrations. Subclasses say how names map to
    versions (:meth:`scan`), how a file holds its SQL (:meth:`load`), how to tell the
    layout from a directory (:meth:`claims`) and what ``migrate new`` writes."""

    #: the name ``--layout`` takes and ``status`` prints
    name: ClassVar[str]
    #: how version texts map to ledger keys (see migrator.source.versions)
    scheme: ClassVar[str] = "digits"

    def claims(self, listing: Listing) -> bool:
        """Whether ``listing`` looks written for this layout."""
        raise NotImplementedError

    def scan(self, listing: Listing) -> Scan:
        raise NotImplementedError

    def load(self, candidate: Candidate) -> tuple[MigrationFile, MigrationFile | None]:
        """The up and down files of ``candidate``. Raises :class:`SourceError`."""
        from migrator.source.discovery import load_file

        up = load_file(candidate.up, "up")
        up = self.mark(up, candidate)
        down = None
        if candidate.down is not None:
            down = self.mark(load_file(candidate.down, "down"), candidate)
        return up, down

    def mark(self, migration_file: MigrationFile, candidate: Candidate) -> MigrationFile:
        """Apply the transaction mode the layout reads from names or file heads."""
        if candidate.transactional:
            return migration_file
        return dataclasses.replace(migration_file, layout_transactional=False)

    def new_files(
        self, directory: Path, version: str, name: str, transactional: bool
    ) -> list[tuple[Path, str]]:
        """The files ``migrate new`` writes for a migration (path, content)."""
        raise UsageError(f"`migrate new` cannot write the {self.name} layout")

    def version_of_name(self, name: str) -> str | None:
        """The version text of a directory entry (for ``migrate new``'s numbering)."""
        return None


def read_text(path: Path) -> str:
    """A file's text (UTF-8, BOM dropped), or :class:`SourceError`."""
    from migrator.source.discovery import load_file

    return load_file(path).text


class SectionedLayout(Layout):
    """A layout of one ``<version><rest>.sql`` file per migration holding both
    directions in marked sections (dbmate, goose). Subclasses give the name pattern
    (groups ``version`` and ``label``), the marker that tells the layout from a
    directory, and how a file splits into its sections."""

    #: a migration's file name: groups ``version`` and ``label``
    name_pattern: ClassVar[re.Pattern[str]]
    #: a line only this layout's files hold
    marker: ClassVar[re.Pattern[str]]

    def sections(self, path: Path, text: str) -> tuple[Section, Section | None]:
        """The up and down sections of a file. Raises :class:`SourceError`."""
        raise NotImplementedError

    def label(self, match: re.Match[str]) -> str:
        return match.group("label")

    def claims(self, listing: Listing) -> bool:
        for name in listing.files:
            if self.name_pattern.match(name) and not name.endswith((".up.sql", ".down.sql")):
                try:
                    return bool(self.marker.search(read_text(listing.directory / name)))
                except SourceError:
                    return False
        return False

    def scan(self, listing: Listing) -> Scan:
        scan = Scan()
        directory = listing.directory
        scan.ignored.extend(directory / name for name in listing.folders)
        for name in listing.files:
            path = directory / name
            match = self.name_pattern.match(name)
            if match is None:
                if non_ascii_version(name):
                    scan.problems.append(non_ascii_problem(path))
                else:
                    scan.ignored.append(path)
                continue
            version = match.group("version")
            scan.candidates.append(
                Candidate(int(version), version, self.label(match), path, path, paths=(path,))
            )
        return scan

    def load(self, candidate: Candidate) -> tuple[MigrationFile, MigrationFile | None]:
        up, down = self.sections(candidate.up, read_text(candidate.up))
        return (
            file_of(candidate.up, "up", up),
            file_of(candidate.up, "down", down) if down else None,
        )

    def version_of_name(self, name: str) -> str | None:
        match = self.name_pattern.match(name)
        return match.group("version") if match else None
