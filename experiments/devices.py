"""Monte-Carlo trials spread over every visible device: one mesh axis, ``"trials"``.

The engine's jitted batches build their trial indices t (B,) inside the computation and pin them to
``NamedSharding(mesh, P("trials"))``; XLA then runs each device's slice of the batch on that device
(GSPMD partitioning, no ``pmap``). A trial's result depends on (seed, tag, t) only, so the per-trial
arrays -- and the host-side sums over them, taken in trial order -- are bit-identical whatever the
number of devices, or of processes (``jax.distributed``: the mesh then spans every process's devices).
"""
from __future__ import annotations

from functools import lru_cache

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

AXIS = "trials"


@lru_cache(maxsize=None)
def _mesh(count: int):
    return jax.make_mesh((count,), (AXIS,), axis_types=(jax.sharding.AxisType.Auto,))


def mesh():
    """The 1-D mesh over all devices (every process's, under ``jax.distributed``)."""
    return _mesh(jax.device_count())


def trial_sharding() -> NamedSharding:
    return NamedSharding(mesh(), P(AXIS))


def split(x):
    """Inside jit: shard the leading (trial) axis of ``x`` over the devices."""
    return jax.lax.with_sharding_constraint(x, trial_sharding())


def use_every_core() -> int | None:
    """On a CPU, XLA runs a device's share of a batch on one core: give the CPU one host device per core
    available to this process (``--xla_force_host_platform_device_count``), so the engine's trials use them
    all. Results do not change (a trial's words and sums do not depend on the device count). Called by
    ``tmt reproduce / experiment / nstar`` before their first JAX computation; an explicit count in
    ``XLA_FLAGS`` wins, and ``TMT_HOST_DEVICES=N`` sets N (1: one device). Returns the count set, or None.
    Only the CPU backend reads the flag: on a GPU the engine's devices are the GPUs."""
    import os

    from jax._src import xla_bridge

    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags or xla_bridge.backends_are_initialized():
        return None
    want = os.environ.get("TMT_HOST_DEVICES", "").strip()
    if want:
        if not want.isdecimal() or int(want) < 1:
            from tm_transformer.errors import ToolkitError

            raise ToolkitError(f"TMT_HOST_DEVICES={want!r}: expected a positive integer number of host devices")
        count = int(want)
    else:
        count = cores()
    if count <= 1:
        return None
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()
    return count


def cores() -> int:
    """CPU cores available to this process (its affinity mask where the system has one)."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def round_up(size: int) -> int:
    """``size`` rounded up to a multiple of the device count (padded trials are masked out)."""
    k = jax.device_count()
    return -(-size // k) * k


def to_host(x) -> np.ndarray:
    """A per-trial array, gathered in trial order on every process."""
    if getattr(x, "is_fully_addressable", True):
        return np.asarray(x)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(x, tiled=True))


def ordered_sum(x, axis: int = -1):
    """Sum over ``axis`` as a fixed pairwise tree of elementwise adds (zero-padded to a power of two).

    XLA may reduce a row in another order when the batch around it has another shape (one device's
    share of the trials), which moves float sums by an ulp; elementwise adds are exact per element, so
    this sum is the same on any number of devices."""
    import jax.numpy as jnp

    x = jnp.moveaxis(x, axis, -1)
    k = x.shape[-1]
    width = 1 << max(0, (k - 1).bit_length())
    if width != k:
        x = jnp.concatenate([x, jnp.zeros(x.shape[:-1] + (width - k,), x.dtype)], -1)
    while x.shape[-1] > 1:
        half = x.shape[-1] // 2
        x = x[..., :half] + x[..., half:]
    return x[..., 0]
