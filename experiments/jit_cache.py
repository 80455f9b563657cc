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
import time
from pathlib import Path

import jax

_MAPS = Path("/proc/self/maps")
_LIMIT = Path("/proc/sys/vm/max_map_count")


def mappings() -> int | None:
    """Memory mappings this process holds (Linux), else None."""
    try:
        return _MAPS.read_bytes().count(b"\n")
    except OSError:
        return None


def map_limit() -> int | None:
    try:
        return int(_LIMIT.read_text())
    except (OSError, ValueError):
        return None


CHECK_EVERY = 0.5  # seconds: a compilation takes longer than that and adds about 200 mappings
_last_check = [float("-inf")]


def release_if_crowded(fraction: float = 0.5, every: float = CHECK_EVERY) -> bool:
    """Clear JAX's caches when the process holds more than ``fraction`` of the mapping limit. Looks at most
    once per ``every`` seconds (reading /proc/self/maps costs milliseconds, and a search makes thousands of
    counts); between looks at most a compilation or two can add mappings, far below the other half."""
    now = time.monotonic()
    if now - _last_check[0] < every:
        return False
    _last_check[0] = now
    held, limit = mappings(), map_limit()
    if held is None or limit is None or held <= fraction * limit:
        return False
    jax.clear_caches()
    gc.collect()
    return True
