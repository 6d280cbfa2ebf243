"""The checksum the ledger keeps of a migration's SQL: SHA-256 of its text with line
ends as ``\\n`` and no BOM (as Flyway's checksum reads lines). A checkout that turns
``\\n`` into ``\\r\\n`` (git's ``core.autocrlf`` on Windows) or an editor that adds a
BOM is not drift; any other byte is. For a file saved with ``\\n`` and no BOM this is the
SHA-256 of its bytes."""

from __future__ import annotations

import hashlib


def content_checksum(text: str) -> str:
    """The checksum of ``text`` (its BOM already dropped)."""
    return hashlib.sha256(text.replace("\r\n", "\n").encode("utf-8")).hexdigest()


class StreamedChecksum:
    """:func:`content_checksum` of a text given in chunks (a ``\\r\\n`` may fall across
    two of them)."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._carried = ""  # a chunk's last ``\r``, until the next chunk says what follows

    def update(self, chunk: str) -> None:
        text = self._carried + chunk
        self._carried = "\r" if text.endswith("\r") else ""
        if self._carried:
            text = text[:-1]
        self._digest.update(text.replace("\r\n", "\n").encode("utf-8"))

    def hexdigest(self) -> str:
        digest = self._digest.copy()
        digest.update(self._carried.encode("utf-8"))
        return digest.hexdigest()
