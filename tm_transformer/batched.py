"""A batched simulator in JAX: thousands of machines of different sizes, one ``lax.scan``.

Machines are padded to common shapes (B, n_max, k_max); padded entries are never reached because a
machine only enters its own states and writes its own symbols. Each machine has its own tape row of
width 2*steps + len(initial tape) + 1, so the head cannot leave it. Per step and machine: read the cell,
look up (write, move, next), write, move; undefined transitions stop without a step, halt transitions
count as a step. Same conventions as :mod:`tm_transformer.simulator`.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .errors import ToolkitError
from .machine import TuringMachine
from .simulator import Trace, check_run_args


def pad_tables(machines: Sequence[TuringMachine]) -> dict[str, np.ndarray]:
    """Stack transition tables into int32/bool arrays of shape (B, n_max, k_max)."""
    if not machines:
        raise ToolkitError("the batch is empty: expected at least one machine")
    n = max(m.n_states for m in machines)
    k = max(m.n_symbols for m in machines)
    out = {"write": np.zeros((len(machines), n, k), np.int32), "move": np.zeros((len(machines), n, k), np.int32),
           "next": np.zeros((len(machines), n, k), np.int32), "defined": np.zeros((len(machines), n, k), bool)}
    for b, m in enumerate(machines):
        for key, arr in m.arrays.items():
            out[key][b, :m.n_states, :m.n_symbols] = arr
    return out


@dataclass(frozen=True)
class BatchResult:
    """Per-machine arrays of shape (B,): steps, state (-1 = halt), head, halted, undefined; tape (B, W)
    with cell c at column c + ``origin``; ``trace_*`` of shape (B, steps) when recorded (padded with -1)."""

    steps: np.ndarray
    state: np.ndarray
    head: np.ndarray
    halted: np.ndarray
    undefined: np.ndarray
    tape: np.ndarray
    origin: int
    trace_state: np.ndarray | None = None
    trace_head: np.ndarray | None = None
    trace_read: np.ndarray | None = None
    trace_write: np.ndarray | None = None

    @property
    def sigma(self) -> np.ndarray:
        return np.count_nonzero(self.tape, axis=1)

    def trace(self, b: int) -> Trace:
        n = int(self.steps[b])
        rows = []
        for a in (self.trace_state, self.trace_head, self.trace_read, self.trace_write):
            if a is None:  # (a TypeError, as indexing None was)
                raise TypeError("no trace recorded: run_batch(..., record_trace=True) records one")
            rows.append(np.asarray(a[b, :n], np.int64))
        return Trace(*rows)


@partial(jax.jit, static_argnames=("steps", "record"))
def _run(write, move, nxt, defined, tape, origin, steps: int, record: bool):
    """The batch split over every visible device (one ``("trials",)`` mesh axis, :func:`jax.shard_map`):
    each device runs its own machines -- no machine reads another's tables or tape, so the result is the
    same on any number of devices. B must be a multiple of the device count (:func:`run_batch` pads)."""
    from jax.sharding import PartitionSpec as P

    from .experiments.devices import AXIS, mesh

    def local(write, move, nxt, defined, tape, origin):
        return _run_local(write, move, nxt, defined, tape, origin, steps, record)

    rows, cols = P(AXIS), P(None, AXIS)
    out_specs = (rows,) * 6 + ((cols,) * 4 if record else None,)
    return jax.shard_map(local, mesh=mesh(), in_specs=(rows,) * 5 + (P(),), out_specs=out_specs, check_vma=False)(
        write, move, nxt, defined, tape, jnp.int32(origin))


def _run_local(write, move, nxt, defined, tape, origin, steps: int, record: bool):
    B = tape.shape[0]
    rows = jnp.arange(B)

    def step(carry, _):
        tape, state, head, done, undef, count = carry
        sym = tape[rows, head]
        s = jnp.maximum(state, 0)
        ok = defined[rows, s, sym] & ~done
        undef = undef | (~done & ~defined[rows, s, sym])
        w = jnp.where(ok, write[rows, s, sym], sym)
        tape = tape.at[rows, head].set(w.astype(tape.dtype))
        new_head = jnp.where(ok, head + move[rows, s, sym], head)
        new_state = jnp.where(ok, nxt[rows, s, sym], state)
        ys = None
        if record:
            pad = jnp.int32(-1)
            ys = tuple(jnp.where(ok, v, pad) for v in (state, head - origin, sym.astype(jnp.int32), w.astype(jnp.int32)))
        done = done | undef | (new_state < 0)
        return (tape, new_state, new_head, done, undef, count + ok), ys

    init = (tape, jnp.zeros(B, jnp.int32), jnp.full(B, origin, jnp.int32), jnp.zeros(B, bool),
            jnp.zeros(B, bool), jnp.zeros(B, jnp.int32))
    (tape, state, head, done, undef, count), ys = jax.lax.scan(step, init, None, length=steps)
    return tape, state, head - origin, done, undef, count, ys


def run_batch(machines: Sequence[TuringMachine], steps: int, tapes: Sequence[Sequence[int]] | None = None,
              record_trace: bool = False) -> BatchResult:
    """Run every machine for at most ``steps`` steps in one compiled scan."""
    tapes = tapes if tapes is not None else [()] * len(machines)
    if len(tapes) != len(machines):
        raise ToolkitError(f"{len(tapes)} initial tapes for {len(machines)} machines: expected one per machine")
    inits = [check_run_args(m, steps, t) for m, t in zip(machines, tapes)]
    longest = max((len(t) for t in inits), default=0)
    origin = steps + 1
    width = 2 * steps + longest + 2
    if width * len(machines) > 2 ** 31:
        raise ToolkitError(f"batch of {len(machines)} tapes x {width} cells is too large: run fewer steps or machines")
    tape = np.zeros((len(machines), width), np.int8 if max(m.n_symbols for m in machines) < 128 else np.int32)
    for b, t in enumerate(inits):
        tape[b, origin: origin + len(t)] = t
    tab = pad_tables(machines)
    B = len(machines)
    size = -(-B // jax.device_count()) * jax.device_count()  # pad with copies of machine 0, dropped below
    arrays = [np.concatenate([a, np.repeat(a[:1], size - B, 0)]) for a in
              (tab["write"], tab["move"], tab["next"], tab["defined"], tape)]
    out = _run(*arrays, origin, steps, record_trace)
    tape, state, head, done, undef, count, ys = jax.device_get(out)
    tape, state, head, done, undef, count = (a[:B] for a in (tape, state, head, done, undef, count))
    halted = done
    extra = {}
    if record_trace:
        extra = {f"trace_{k}": np.asarray(v)[:, :B].T for k, v in zip(("state", "head", "read", "write"), ys)}
    return BatchResult(np.asarray(count), np.asarray(state), np.asarray(head), np.asarray(halted),
                       np.asarray(undef), np.asarray(tape), origin, **extra)
