"""Progress bars (tqdm) for long work; silent when not on a terminal."""
from __future__ import annotations

import os
from contextlib import contextmanager

from tqdm.auto import tqdm


@contextmanager
def step_bar(total: int, enabled: bool = True, unit: str = "step", desc: str | None = None):
    """Yield a callback ``update(done_so_far)`` that moves a bar to ``done_so_far``; ``desc`` labels the
    bar (e.g. "steps (total = cap)" when the total is a cap, not the expected end)."""
    # TMT_PROGRESS=1 draws the bar even when stderr is not a terminal (a long run logged to a file)
    forced = os.environ.get("TMT_PROGRESS") == "1"
    bar = tqdm(total=total, desc=desc, unit=unit, unit_scale=True, disable=(False if forced else None) if enabled else True,
               leave=False, mininterval=1 if forced else 0.1)
    last = [0]

    def update(done: int):
        bar.update(done - last[0])
        last[0] = done

    try:
        yield update
    finally:
        bar.close()
