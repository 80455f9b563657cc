"""Progress for long work, in a terminal and in a log.

What is shown depends on ``TMT_PROGRESS`` (documented in the README):

* unset: a bar (tqdm) when stderr is a terminal; otherwise -- ``nohup``, SLURM, CI, ``2> log`` -- plain
  lines on stderr, one every ``TMT_PROGRESS_EVERY`` seconds (default 30; also while nothing moves) with
  the fraction done, the elapsed time and the ETA, and one as each check of ``tmt reproduce`` /
  ``tmt experiment`` finishes;
* ``TMT_PROGRESS=0``: nothing;
* ``TMT_PROGRESS=1``: the bar even when stderr is not a terminal (a long run logged to a file).

A bar is cleared when its work is done (``leave=False``): nothing stale stays behind after a run.
"""
from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager

DEFAULT_EVERY = 30.0  # seconds between two log lines


def mode() -> str:
    """``"off"``, ``"forced"`` (a bar without a terminal), ``"bar"`` (stderr is a terminal) or ``"lines"``."""
    value = os.environ.get("TMT_PROGRESS", "").strip().lower()
    if value in ("0", "off", "no", "false"):
        return "off"
    if value in ("1", "on", "yes", "true"):
        return "forced"
    try:
        return "bar" if sys.stderr.isatty() else "lines"
    except (AttributeError, ValueError):  # a closed or replaced stderr
        return "lines"


def every() -> float:
    """Seconds between two log lines (``TMT_PROGRESS_EVERY``; 0: a line at every update)."""
    try:
        return max(0.0, float(os.environ.get("TMT_PROGRESS_EVERY", DEFAULT_EVERY)))
    except ValueError:
        return DEFAULT_EVERY


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return (f"{h}:" if h else "") + f"{rest // 60:02d}:{rest % 60:02d}"


class LogLines:
    """The part of tqdm's interface the toolkit uses (``update``, ``close``, ``n``, ``total``), written as
    lines for a log: ``desc: 42% (420/1,000 unit), 01:10 elapsed, ETA 01:37`` every ``interval`` seconds
    (from a background thread too, so a long stretch without updates still shows the run is alive), and
    :meth:`note` for an event (a finished check) with the same figures."""

    def __init__(self, total: float, desc: str = "tmt", unit: str = "", interval: float | None = None,
                 file=None, show_counts: bool = True):
        import threading

        self.total, self.desc, self.unit = total, desc, unit
        self.interval = every() if interval is None else interval
        self.file = file
        self.show_counts = show_counts
        self.n = 0
        self.start = self.last = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        if self.interval > 0:
            threading.Thread(target=self._beat, name="tmt-progress", daemon=True).start()

    def _beat(self) -> None:
        while not self._stop.wait(max(0.5, self.interval / 4)):
            if time.monotonic() - self.last >= self.interval:
                self._line()

    def update(self, n: float = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self._line()

    def note(self, text: str) -> None:
        self._line(text)

    def close(self) -> None:
        self._stop.set()  # no closing line: the caller says what was done, nothing goes stale

    def _line(self, text: str = "") -> None:
        with self._lock:
            if self._stop.is_set() and not text:
                return
            self._write(text)

    def _write(self, text: str) -> None:
        now = time.monotonic()
        self.last = now
        elapsed = now - self.start
        frac = min(1.0, self.n / self.total) if self.total else 0.0
        eta = _clock(elapsed * (1 - frac) / frac) if frac > 0 else "?"
        counts = f" ({self.n:,.0f}/{self.total:,.0f} {self.unit})" if self.show_counts and self.unit else ""
        print(f"{self.desc}: {100 * frac:3.0f}%{counts}, {_clock(elapsed)} elapsed, ETA {eta}"
              + (f" -- {text}" if text else ""), file=self.file or sys.stderr, flush=True)


def overall_bar(total: float, desc: str = "tmt", unit: str = "est-s", enabled: bool = True):
    """A bar, log lines or None (``TMT_PROGRESS=0`` or not ``enabled``) for work of ``total`` units; the
    lines show no unit counts (``est-s``: estimated seconds, a weight, not a promise)."""
    how = mode() if enabled else "off"
    if how == "off":
        return None
    if how == "lines":
        return LogLines(total, desc, unit, show_counts=False)
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, position=0, disable=False, leave=False,
                mininterval=1 if how == "forced" else 0.1,
                bar_format="{l_bar}{bar}| {percentage:3.0f}% [{elapsed} elapsed, ETA {remaining}]")


@contextmanager
def step_bar(total: int, enabled: bool = True, unit: str = "step", desc: str | None = None):
    """Yield a callback ``update(done_so_far)`` that moves a bar (or the log lines) to ``done_so_far``;
    ``desc`` labels it (e.g. "steps (total = cap)" when the total is a cap, not the expected end)."""
    how = mode() if enabled else "off"
    if how == "lines":
        bar = LogLines(total, "tmt" + (f" {desc}" if desc else ""), unit + "s")
    else:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=desc, unit=unit, unit_scale=True, disable=how == "off", leave=False,
                   mininterval=1 if how == "forced" else 0.1)
    last = [0]

    def update(done: int):
        bar.update(done - last[0])
        last[0] = done

    try:
        yield update
    finally:
        bar.close()
