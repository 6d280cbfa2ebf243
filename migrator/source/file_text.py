"""The text of a large migration file, read from disk in chunks whenever it is walked,
never held whole (see :class:`~migrator.sql.statement_source.StatementSource`).

Reading it the first time checks what :func:`~migrator.source.discovery.load_file`
checks of a small file (UTF-8, no NUL byte; a BOM is dropped) and computes the
checksum of its bytes as they stream. Every later read computes the checksum again
and stops with a :class:`~migrator.errors.SourceError` before its last chunk when the
file no longer has it: a walk never goes past a file edited since it was loaded (the
runner's transaction then rolls back; its last statement is never sent).
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from migrator.errors import SourceError
from migrator.source.checksum import StreamedChecksum

#: bytes read at a time
CHUNK_BYTES = 1 << 16


@dataclass(frozen=True)
class FileText:
    """A file's text, read again from ``path`` at every walk; ``checksum`` is the
    SHA-256 of its bytes when it was loaded (a walk checks the file still has them),
    ``content_checksum`` the ledger's checksum of its text (:mod:`~migrator.source.checksum`)."""

    path: Path
    checksum: str
    content_checksum: str

    def chunks(self) -> Iterator[str]:
        """The text in chunks (BOM dropped). Raises :class:`SourceError` when the file
        changed since it was loaded, before the chunk that ends it."""
        digest = hashlib.sha256()
        yield from _decoded(self.path, digest)
        if digest.hexdigest() != self.checksum:
            raise _changed(self.path)

    @property
    def size(self) -> int:
        """The file's size in bytes now."""
        return self.path.stat().st_size

    def read(self) -> str:
        """The whole text: as much memory as the file (the runner and the linter walk
        :meth:`chunks` instead)."""
        return "".join(self.chunks())

    def lines(self, numbers: set[int]) -> dict[int, str]:
        """The text of each 1-based line of ``numbers`` (without its line end), read in
        one pass that holds only those lines."""
        found: dict[int, str] = {}
        last = max(numbers)
        line, partial = 1, ""
        for chunk in self.chunks():
            parts = chunk.split("\n")
            for part in parts[:-1]:
                if line in numbers:
                    found[line] = (partial + part).removesuffix("\r")
                line, partial = line + 1, ""
            if line > last:
                return found
            partial = partial + parts[-1] if line in numbers else ""
        if line in numbers and partial:
            found[line] = partial
        return found

    def head(self, size: int) -> str:
        """The first ``size`` characters at most."""
        text = ""
        for chunk in _decoded(self.path, hashlib.sha256()):
            text += chunk
            if len(text) >= size:
                break
        return text[:size]


def load_large(path: Path) -> FileText:
    """Check a large file as :func:`~migrator.source.discovery.load_file` checks a small
    one, reading it once in chunks, and return its :class:`FileText`."""
    digest = hashlib.sha256()
    content = StreamedChecksum()
    line = 1
    nul_line: int | None = None  # reported once the whole file decoded, as load_file does
    for chunk in _decoded(path, digest, checked=True):
        content.update(chunk)
        if nul_line is None and "\x00" in chunk:
            nul_line = line + chunk.count("\n", 0, chunk.index("\x00"))
        line += chunk.count("\n")
    if nul_line is not None:
        raise SourceError(
            [
                f"{path}:{nul_line}: contains a NUL byte, where PostgreSQL would stop reading "
                "the statement: remove the byte"
            ]
        )
    return FileText(path, digest.hexdigest(), content.hexdigest())


def _decoded(path: Path, digest: hashlib._Hash, *, checked: bool = False) -> Iterator[str]:
    """The UTF-8 text of ``path`` in chunks, BOM dropped; the bytes go into ``digest``.
    With ``checked``, a decoding error is a :class:`SourceError` naming the byte. The
    file is opened for each chunk and closed before it is yielded: a walk left half-way
    holds no descriptor, and a process forked meanwhile (lint's second process) shares
    no file offset with it."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    consumed = 0
    first = True
    while True:
        try:
            with open(path, "rb") as file:
                file.seek(consumed)
                data = file.read(CHUNK_BYTES)
        except PermissionError:
            raise SourceError([f"{path}: permission denied: make the file readable"]) from None
        except OSError as exc:
            raise SourceError([f"{path}: cannot read ({exc.strerror})"]) from None
        digest.update(data)
        pending = len(decoder.getstate()[0])  # an unfinished character's bytes
        try:
            text = decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            if not checked:  # it was UTF-8 when it was loaded
                raise _changed(path) from None
            raise SourceError(
                [
                    f"{path}: not UTF-8 (byte {consumed - pending + exc.start}): save "
                    "the file as UTF-8"
                ]
            ) from None
        consumed += len(data)
        if first and text:
            first = False
            text = text.removeprefix("\ufeff")
        if text:
            yield text
        if not data:
            return


def _changed(path: Path) -> SourceError:
    return SourceError(
        [
            f"{path}: changed while migrator was reading it: run the command again once the "
            "file is saved"
        ]
    )
