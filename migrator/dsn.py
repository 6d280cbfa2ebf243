"""Connection strings: masking passwords and describing targets without secrets."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_URL_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


def mask_dsn(dsn: str) -> str:
    """Return ``dsn`` with any password replaced by ``***``.

    Handles URLs (``postgres://user:secret@host/db``, ``?password=secret``) and libpq
    keyword strings (``host=x password=secret``). Never raises.
    """
    try:
        parts = urlsplit(dsn)
    except ValueError:
        parts = None
    if parts is not None and parts.scheme and "@" in parts.netloc:
        userinfo, _, hostinfo = parts.netloc.rpartition("@")
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            userinfo = f"{user}:***"
        dsn = urlunsplit(parts._replace(netloc=f"{userinfo}@{hostinfo}"))
    dsn = _URL_QUERY_PASSWORD.sub(r"\1***", dsn)
    return _KEYWORD_PASSWORD.sub(r"\1***", dsn)


def scrub(text: str, secrets: list[str]) -> str:
    """Remove every known secret (passwords) from a message before it is shown."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
