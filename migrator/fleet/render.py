"""How a fleet run looks: one line per target as it finishes, a live count on a
terminal, then a summary naming every target that did not succeed and why."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from migrator.fleet.run import FleetResult, Observer, Outcome
from migrator.fleet.targets import Target


def format_elapsed_ms(ms: int) -> str:
    """``850 ms``, ``12.3 s``, ``4 min 05 s``: how long something took, for people."""
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} min {seconds:02d} s"


_CONTROL = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F)}


def _safe(text: str) -> str:
    """``text`` with control characters escaped (names and errors come from outside)."""
    return text.translate(_CONTROL)


def outcome_line(outcome: Outcome) -> str:
    took = f" ({format_elapsed_ms(outcome.duration_ms)})" if outcome.duration_ms is not None else ""
    return _safe(f"{outcome.name}: {outcome.state}: {outcome.summary}") + took


class LineObserver(Observer):
    """Prints each finished target on ``out``; on a terminal, keeps a live count
    (done / running / failed / pending) on the last line of ``status``."""

    def __init__(self, total: int, out: TextIO | None = None, status: TextIO | None = None) -> None:
        self.total = total
        self.out = out or sys.stdout
        self.status = status or sys.stderr
        self.live = self.status.isatty()
        self.running = 0
        self.done = 0
        self.failed = 0

    def _clear(self) -> None:
        if self.live:
            self.status.write("\r\x1b[K")
            self.status.flush()

    def _show(self) -> None:
        if not self.live:
            return
        pending = self.total - self.done - self.running
        self.status.write(
            f"\r\x1b[Kfleet: {self.done - self.failed} done, {self.running} running, "
            f"{self.failed} failed, {pending} pending"
        )
        self.status.flush()

    def started(self, target: Target) -> None:
        self.running += 1
        self._show()

    def finished(self, outcome: Outcome) -> None:
        self.running -= 1
        self.done += 1
        if not outcome.ok:
            self.failed += 1
        self._clear()
        print(outcome_line(outcome), file=self.out, flush=True)
        if outcome.result is not None and outcome.result.text:
            print(outcome.result.text.rstrip("\n"), file=self.out, flush=True)
        self._show()

    def close(self) -> None:
        self._clear()


def summary_lines(result: FleetResult, what: str) -> list[str]:
    """The closing summary: counts by state, then a table of every target that did not
    succeed with the reason."""
    total = len(result.outcomes)
    states: dict[str, int] = {}
    for outcome in result.outcomes:
        states[outcome.state] = states.get(outcome.state, 0) + 1
    counts = ", ".join(f"{count} {state}" for state, count in states.items())
    lines = [
        f"fleet {what}: {total} target{'s' if total != 1 else ''}: {counts or 'none'} "
        f"in {format_elapsed_ms(result.duration_ms)}"
    ]
    if result.stopped_because:
        lines.append(f"stopped starting targets: {_safe(result.stopped_because)}")
    troubled = [o for o in result.outcomes if not o.ok]
    if troubled:
        width = max(len(o.name) for o in troubled)
        state_width = max(len(o.state) for o in troubled)
        lines.append("")
        lines.append(f"{'target':<{width}}  {'state':<{state_width}}  why")
        for outcome in troubled:
            lines.append(
                _safe(f"{outcome.name:<{width}}  {outcome.state:<{state_width}}  {outcome.summary}")
            )
    return lines


def status_table(result: FleetResult) -> list[str]:
    """``status`` over a fleet: one row per target."""
    rows = []
    for outcome in result.outcomes:
        found = outcome.result
        rows.append(
            (
                outcome.name,
                (found.current_version_shown or "") if found else "",
                "" if not found or found.pending is None else str(found.pending),
                (found.detail_state if found and found.detail_state else outcome.state),
                "" if outcome.ok else outcome.summary,
            )
        )
    headers = ("target", "version", "pending", "state", "error")
    widths = [max(len(headers[i]), *(len(row[i]) for row in rows)) for i in range(4)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers[:4], widths, strict=True)) + "  error"]
    for row in rows:
        cells = "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True))
        lines.append(_safe(f"{cells}  {row[4]}".rstrip()))
    return lines


def fleet_json(result: FleetResult) -> dict[str, Any]:
    return {
        "targets": [outcome.to_json() for outcome in result.outcomes],
        "summary": {
            "targets": len(result.outcomes),
            "ok": result.count("ok"),
            "failed": len(result.outcomes) - result.count("ok") - result.count("not started"),
            "not_started": result.count("not started"),
            "stopped_because": result.stopped_because,
            "duration_ms": result.duration_ms,
            "exit_code": int(result.exit_code),
        },
    }
