"""Progress bars (tqdm) for long work; silent when not on a terminal."""
from __future__ import annotations

from contextlib import contextmanager

from tqdm.auto import tqdm


@contextmanager
def step_bar(total: int, enabled: bool = True, unit: str = "step"):
    """Yield a callback ``update(done_so_far)`` that moves a bar to ``done_so_far``."""
    bar = tqdm(total=total, unit=unit, unit_scale=True, disable=None if enabled else True, leave=False)
    last = [0]

    def update(done: int):
        bar.update(done - last[0])
        last[0] = done

    try:
        yield update
    finally:
        bar.close()
