"""A statement's tokens, for comparing statements by what they say rather than how
they are laid out (the runner's fingerprints of completed statements)."""

from __future__ import annotations

from migrator.sql.libpg import pg_parser
from migrator.sql.split import COMMENT_TOKENS


def normalized(text: str) -> str:
    """``text`` without comments or layout: its tokens separated by one space, keywords
    in lower case. Constants, identifiers and string bodies are kept as written, so
    any change that could change what the statement does changes the result. Text the
    scanner cannot read (an unterminated string) is only re-spaced."""
    try:
        tokens = pg_parser.scan(text)
    except pg_parser.ParseError:
        return " ".join(text.split())
    words = []
    for token in tokens:
        if token.name in COMMENT_TOKENS:
            continue
        word = text[token.start : token.end + 1]  # character offsets, end inclusive
        words.append(word.lower() if token.kind != "NO_KEYWORD" else word)
    return " ".join(words)
