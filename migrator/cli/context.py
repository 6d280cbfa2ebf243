"""What every command shares: the global flags and the settings they resolve to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from migrator.config import Settings, load_settings


@dataclass
class AppContext:
    flags: dict[str, Any] = field(default_factory=dict)
    #: the global ``--verbose``: tracebacks and debug detail (a command's own ``-v``,
    #: such as ``status -v``, is not this)
    verbose: bool = False
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self, **more_flags: Any) -> Settings:
        """Settings resolved from the global flags plus a command's own flags."""
        if more_flags or self._settings is None:
            resolved = load_settings({**self.flags, **more_flags})
            if more_flags:
                return resolved
            self._settings = resolved
        return self._settings
