"""kws-record's two faces: a live terminal panel (rich) and plain lines when stdout is no terminal.

Both take the session's `Event`s and `Status`; keys come from `KeyReader`, single key presses on a
terminal, or one command per line from a pipe (so a program or a test can drive a session).
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from typing import TextIO

from .record_session import KEYS_HELP, Event, Status

_STYLE = {"kept": "green", "talk": "green", "rejected": "bold red", "silence": "yellow",
          "extra": "yellow", "deleted": "magenta", "word-done": "bold cyan", "done": "bold cyan",
          "prompt": "bold", "text": "bold", "replay": "cyan", "info": "dim"}

METER_DB = 60.0  # the meter shows -60..0 dBFS


class PlainUI:
    """One line per event on stdout; no meter (a log, a pipe, a test)."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout

    def __enter__(self) -> PlainUI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.out.flush()

    def event(self, event: Event) -> None:
        print(event.message, file=self.out, flush=True)

    def update(self, status: Status, overflows: int = 0) -> None:
        pass


def meter(level_dbfs: float, peak_dbfs: float, width: int = 40):
    """A level bar: RMS level filled, the peak marked; red when the peak nears full scale."""
    from rich.text import Text

    def cells(db: float) -> int:
        return int(round(width * min(1.0, max(0.0, (db + METER_DB) / METER_DB))))

    fill, peak = cells(level_dbfs), min(width - 1, cells(peak_dbfs))
    style = "red" if peak_dbfs > -1.0 else "yellow" if peak_dbfs > -6.0 else "green"
    bar = Text("█" * fill, style=style)
    rest = ["·"] * (width - fill)
    if peak >= fill:
        rest[peak - fill] = "|"
    bar.append("".join(rest), style="dim")
    return bar


def render(status: Status, overflows: int = 0):
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(justify="right", style="dim")
    grid.add_column()
    if status.phase == "words":
        title = f"kws-record · word {status.word_index + 1} of {status.words}"
        grid.add_row("say", Text(status.word.upper(), style="bold cyan"))
        grid.add_row("clips", Text(f"{status.count} / {status.target}", style="bold"))
    elif status.phase == "talk":
        title = "kws-record · talk that is no keyword"
        grid.add_row("read aloud", Text(status.text, style="bold"))
        grid.add_row("talk", Text(f"{status.talk_seconds:.0f} / {status.talk_target:.0f} s", style="bold"))
    else:
        title = "kws-record · done"
    level = meter(status.level_dbfs, status.peak_dbfs)
    level.append(f"  {status.level_dbfs:4.0f} dBFS", style="dim")
    if status.phase == "words":
        level.append(f"  noise {status.floor_dbfs:.0f}", style="dim")
    level.append("  ● hearing you" if status.hearing else "", style="green")
    grid.add_row("level", level)
    for i, line in enumerate(status.last):
        grid.add_row("last" if i == len(status.last) - 1 else "", Text(line, style="dim"))
    foot = Text(f"{KEYS_HELP}   ·   {status.seconds:.0f} s", style="dim")
    if overflows:
        foot.append(f"   ·   {overflows} audio blocks lost", style="yellow")
    grid.add_row("keys", foot)
    return Panel(grid, title=title, border_style="cyan", expand=False)


class RichUI:
    """A live panel redrawn about ten times a second; events scroll above it."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console()
        self._live = Live(console=self.console, refresh_per_second=10, transient=False,
                          auto_refresh=False)
        self._status: Status | None = None
        self._overflows = 0

    def __enter__(self) -> RichUI:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(None, None, None)

    def event(self, event: Event) -> None:
        from rich.text import Text

        self.console.print(Text(event.message, style=_STYLE.get(event.kind, "")))

    def update(self, status: Status, overflows: int = 0) -> None:
        self._live.update(render(status, overflows), refresh=True)


class KeyReader:
    """Keys from stdin on a thread: single presses on a terminal (cbreak mode, restored on
    close), one command per line otherwise. `pressed()` returns what arrived since the last call."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdin
        self._queue: queue.Queue[str] = queue.Queue()
        self._saved = None
        self.tty = False
        try:
            self._fd = self.stream.fileno()
            self.tty = os.isatty(self._fd)
        except (OSError, ValueError, AttributeError):
            self._fd = None  # no stdin at all (a closed or replaced stream): no keys
        if self.tty:
            import termios
            import tty

            self._saved = termios.tcgetattr(self._fd)
            tty.setcbreak(self._fd)
        if self._fd is not None:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            if self.tty:
                while True:
                    ch = os.read(self._fd, 1).decode(errors="ignore")
                    if not ch:
                        return
                    self._queue.put(ch.lower())
            for line in self.stream:
                key = line.strip().lower()[:1]
                if key:
                    self._queue.put(key)
        except (OSError, ValueError):
            return

    def pressed(self) -> list[str]:
        out = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        if self._saved is not None:
            import termios

            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
            self._saved = None
