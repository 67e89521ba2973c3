"""Progress for long commands: a live line on a terminal, a line every few seconds otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Reports `done` of `total` units with rate and ETA."""

    def __init__(
        self, label: str, total: int | None, unit: str = "rows", stream: TextIO | None = None
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self._last = 0.0
        self.done = 0

    def advance(self, n: int = 1) -> None:
        """Count n more units; redraw at most 10 times a second (every 5 s off a terminal)."""
        self.done += n
        now = time.monotonic()
        if now - self._last >= (0.1 if self.tty else 5.0):
            self._last = now
            self._draw(now)

    def _draw(self, now: float, final: bool = False) -> None:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        if self.total:
            pct = min(100.0, 100.0 * self.done / self.total)
            eta = (self.total - self.done) / rate if rate > 0 and not final else 0.0
            text = (
                f"{self.label}: {self.done:,}/{self.total:,} {self.unit} ({pct:5.1f}%) "
                f"{rate:,.0f}/s eta {eta:,.0f}s"
            )
        else:
            text = f"{self.label}: {self.done:,} {self.unit} {rate:,.0f}/s"
        if self.tty:
            self.stream.write("\r\x1b[2K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> float:
        """Draw the final line; return the seconds taken."""
        now = time.monotonic()
        self._draw(now, final=True)
        return now - self.started
