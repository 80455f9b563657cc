"""Keep JAX's compiled code within the operating system's limits.

On CPU, every executable XLA compiles holds about 200 memory mappings for as long as it stays in JAX's
cache. Linux refuses new mappings past ``vm.max_map_count`` (65,530 by default), and the next
compilation then aborts the process ("LLVM ERROR: Unable to allocate section memory"). A full
``tmt reproduce`` compiles a few hundred shapes (one per sample-size bucket and grid point), so the
engine calls :func:`release_if_crowded` before each measurement: past half the limit, the caches are
cleared and later calls recompile what they need.
"""
from __future__ import annotations

import gc
from pathlib import Path

import jax

_MAPS = Path("/proc/self/maps")
_LIMIT = Path("/proc/sys/vm/max_map_count")


def mappings() -> int | None:
    """Memory mappings this process holds (Linux), else None."""
    try:
        with _MAPS.open("rb") as f:
            return sum(1 for _ in f)
    except OSError:
        return None


def map_limit() -> int | None:
    try:
        return int(_LIMIT.read_text())
    except (OSError, ValueError):
        return None


def release_if_crowded(fraction: float = 0.5) -> bool:
    """Clear JAX's caches when the process holds more than ``fraction`` of the mapping limit."""
    held, limit = mappings(), map_limit()
    if held is None or limit is None or held <= fraction * limit:
        return False
    jax.clear_caches()
    gc.collect()
    return True
