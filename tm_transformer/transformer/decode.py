"""Decoding: one machine step per token, KV cache preallocated, ``lax.scan``, ``vmap`` over machines.

A run processes positions 0..P+T-2 of the sequence (P prompt tokens, then the generated tokens); the
output at position P-1+t is the token of step t+1. Attention at position i reads only the live prefix
of the cache (keys 0..i), in chunks of ``chunk`` keys folded with an online max/softmax, so the cost of
a step grows with the steps taken so far, not with the cache length.

Two cache layouts hold the same keys and values:

* ``dense``: keys (S, H, D+1) and values (S, H, k) in the run's dtype, exactly what the generic forward
  pass of :mod:`.model` computes; scores are the dtype's dot products (this is what the precision
  envelope is about, and what the frontier measurement runs);
* ``packed``: the same keys and values stored losslessly as 3 bytes per token -- the written cell as an
  int16 index (the key bits are its binary code), the written symbol as an int8 (the value is its
  one-hot) -- with the recency recomputed from the position. The score M <b(h), b(p)> + r is
  evaluated as M (D - 2 popcount(h XOR p)) + r, the same integer, then cast to the dtype.

Run-time checks (raised by :func:`run` as :class:`PrecisionError`, never returned as a trace): the head
leaving +-R, a softmax run whose top key keeps less than 3/4 of the weight, a head read-out that is not
within 1/4 of an integer.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import PrecisionError, ToolkitError
from ..machine import TuringMachine
from ..simulator import RunResult, Trace, check_run_args
from . import model
from .compile import CompiledMachine, Layout, compile_machine
from .envelope import MANTISSA_BITS, envelope

LAYOUTS = ("dense", "packed")
_ERR_RANGE, _ERR_SOFTMAX, _ERR_READOUT = 1, 2, 4


def _dtype(name: str):
    if name not in MANTISSA_BITS:
        raise PrecisionError(f"dtype {name!r}: expected one of {', '.join(MANTISSA_BITS)}")
    if name == "float64" and not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)  # float64 runs need JAX's 64-bit mode
    return {"float16": jnp.float16, "bfloat16": jnp.bfloat16, "float32": jnp.float32, "float64": jnp.float64}[name]


def prompt(layout: Layout, M: int, tape: Sequence[int], length: int) -> dict[str, np.ndarray]:
    """Prompt token fields, each (length,): left padding, one token per tape cell, the start token."""
    L = layout
    tape = list(tape)
    pad = length - len(tape) - 1
    f = {k: np.zeros(length, np.int32) for k in ("state", "head", "write_pos", "symbol", "recency", "kind")}
    f["state"][:] = L.state_none
    f["head"][:] = L.R  # cell 0; a prompt token's own query is never read
    f["write_pos"][:] = L.cell_none
    f["symbol"][:] = L.k  # no value
    f["recency"][:pad] = -M  # padding: below the start token, never the top key
    f["kind"][:pad] = 0
    cells = np.arange(len(tape))
    f["write_pos"][pad: pad + len(tape)] = cells + L.R
    f["symbol"][pad: pad + len(tape)] = tape
    f["kind"][pad: pad + len(tape)] = 1
    f["state"][-1], f["symbol"][-1], f["recency"][-1], f["kind"][-1] = 0, 0, M * (L.D - 1), 2
    return f


def _recency(j, P, n_pad, M, D):
    """Recency of the token at position j: -M padding, 0 tape, M(D-1) start token, j - P + 1 steps."""
    return jnp.where(j >= P, j - P + 1, jnp.where(j == P - 1, M * (D - 1), jnp.where(j < n_pad, -M, 0)))


def _packed_scores(q_cell, M, D, cells, rec, int_dtype):
    """Integer scores of the query cell against packed keys: M (D - 2 popcount(q XOR p)) + r, where a
    token without a written cell has zero key bits (dot product 0)."""
    dot = D - 2 * jax.lax.population_count(jnp.bitwise_xor(q_cell, cells.astype(jnp.int32)))
    dot = jnp.where(cells < 0, 0, dot)
    return M * dot.astype(int_dtype) + rec.astype(int_dtype)


def _run_one(params, fields, *, n, k, R, D, M, P, T, beta, chunk, layout, dtype):
    """One machine: returns per-step trace arrays (T,) and the final status."""
    S = -(-(P + T) // chunk) * chunk
    if layout == "dense":
        d_head, d_v = params["layers"][0]["attn"]["wq"].shape[-1], params["layers"][0]["attn"]["wv"].shape[-1]
        cache = (jnp.zeros((S, 1, d_head), dtype), jnp.zeros((S, 1, d_v), dtype))
    else:
        cache = (jnp.full((S,), -1, jnp.int16), jnp.zeros((S,), jnp.int8))
    score_int = jnp.int64 if (M * (D + 1) >= 2 ** 31) else jnp.int32
    n_pad = fields["n_pad"]
    layer = params["layers"][0]

    def attend(cache, i, x, token):
        q, key, val = model.qkv(layer, x)
        if layout == "dense":
            ck, cv = cache
            ck, cv = ck.at[i].set(key), cv.at[i].set(val)

            def body(c, st):
                keys = jax.lax.dynamic_slice_in_dim(ck, c * chunk, chunk)
                vals = jax.lax.dynamic_slice_in_dim(cv, c * chunk, chunk)
                valid = c * chunk + jnp.arange(chunk) <= i
                return model.attend_chunk(st, q, keys, vals, valid, beta)

            st = jax.lax.fori_loop(0, i // chunk + 1, body, model.empty_attn_state(1, d_v, dtype))
            return (ck, cv), st
        cells, syms = cache
        wpos = token["write_pos"]
        cells = cells.at[i].set(jnp.where(wpos == 2 * R + 1, -1, wpos).astype(jnp.int16))
        syms = syms.at[i].set(jnp.where(token["symbol"] >= k, 0, token["symbol"]).astype(jnp.int8))
        q_cell = token["head"]
        onehot = jnp.eye(k, dtype=dtype)

        def body(c, st):
            cl = jax.lax.dynamic_slice_in_dim(cells, c * chunk, chunk)
            sy = jax.lax.dynamic_slice_in_dim(syms, c * chunk, chunk)
            j = c * chunk + jnp.arange(chunk)
            scores = _packed_scores(q_cell, M, D, cl, _recency(j, P, n_pad, M, D), score_int)
            if beta is None:  # integer scores: exact, and the same numbers the dtype holds inside the envelope
                scores = jnp.where(j <= i, scores, jnp.iinfo(score_int).min)
                top = jnp.argmax(scores)
                best = scores[top].astype(dtype)
                better = best > st.best[0]
                val = onehot[sy[top].astype(jnp.int32)]
                return model.AttnState(jnp.where(better, best, st.best), st.norm, jnp.where(better, val, st.acc))
            valid = j <= i
            scores = jnp.where(valid, scores.astype(dtype), -jnp.inf)
            new = jnp.maximum(st.best[0], scores.max())
            scale = jnp.where(jnp.isfinite(st.best[0]), jnp.exp(beta * (st.best[0] - new)), 0)
            w = jnp.where(valid, jnp.exp(beta * (scores - new)), 0)
            acc = st.acc * scale + (w[:, None] * onehot[sy.astype(jnp.int32)]).sum(0)[None]
            return model.AttnState(new[None], st.norm * scale + w.sum(), acc)

        st = jax.lax.fori_loop(0, i // chunk + 1, body, model.empty_attn_state(1, k, dtype))
        return (cells, syms), st

    def position(carry, i):
        cache, gen, done, err, steps, min_top = carry
        in_prompt = i < P
        token = {name: jnp.where(in_prompt, fields[name][jnp.minimum(i, P - 1)], gen[name])
                 for name in ("state", "head", "write_pos", "symbol", "recency")}
        x = model.embed(params, token)
        cache, st = attend(cache, i, x, token)
        heads, top = model.finish_attention(st, beta)
        x = x + model.attn_out(layer, heads)
        x = x + model.mlp(layer, x)
        out = model.readout(params, x)

        stepping = (i >= P - 1) & ~done  # this position's output is a machine step
        undefined = out["undefined"] > 0.5
        head_val = out["head"].astype(jnp.float32)
        new_head = jnp.round(head_val).astype(jnp.int32)
        bad_readout = jnp.abs(head_val - new_head) > 0.25
        out_of_range = (new_head < -R) | (new_head > R)
        executes = stepping & ~undefined
        err = err | jnp.where(executes & out_of_range, _ERR_RANGE, 0) | jnp.where(executes & bad_readout, _ERR_READOUT, 0)
        if beta is not None:
            err = err | jnp.where(stepping & (top[0] < 0.75), _ERR_SOFTMAX, 0)
            min_top = jnp.where(stepping, jnp.minimum(min_top, top[0].astype(jnp.float32)), min_top)
        new_state = out["state"].astype(jnp.int32)
        halts = new_state == n
        nxt = {"state": new_state, "head": jnp.clip(new_head, -R, R) + R, "write_pos": token["head"],
               "symbol": out["symbol"].astype(jnp.int32), "recency": i - P + 2}
        gen = jax.tree.map(lambda a, b: jnp.where(executes, a, b), nxt, gen)
        row = tuple(jnp.where(executes, v, -1) for v in
                    (token["state"], token["head"] - R, out["read"].astype(jnp.int32), nxt["symbol"]))
        steps = steps + executes
        done = done | (stepping & (undefined | halts | out_of_range))
        return (cache, gen, done, err, steps, min_top), (row, stepping & undefined)

    gen0 = {name: jnp.int32(0) for name in ("state", "head", "write_pos", "symbol", "recency")}
    carry = (cache, gen0, jnp.bool_(False), jnp.int32(0), jnp.int32(0), jnp.float32(1))
    (_, gen, done, err, steps, min_top), (rows, undef) = jax.lax.scan(position, carry, jnp.arange(P + T - 1) if T else jnp.arange(0))
    rows = tuple(r[P - 1:] for r in rows)
    return {"state": rows[0], "head": rows[1], "read": rows[2], "write": rows[3], "steps": steps,
            "final_state": gen["state"], "final_head": gen["head"] - R, "undefined": undef[P - 1:].any(),
            "done": done, "err": err, "min_top_weight": min_top}


@partial(jax.jit, static_argnames=("param_axes", "n", "k", "R", "D", "M", "P", "T", "beta", "chunk", "layout", "dtype"))
def _run_batch(params, fields, param_axes, **static):
    axes = jax.tree.unflatten(jax.tree.structure(params), param_axes)
    with jax.default_matmul_precision("highest"):  # TF32 on GPUs is not exact
        return jax.vmap(partial(_run_one, **static), in_axes=(axes, 0))(params, fields)


def _stack_params(trees: list) -> tuple[dict, tuple]:
    """Stack per-machine weights; a leaf equal for every machine (all but the transition table, for
    machines padded to one shape) is shared instead, so the batch runs real matmuls on it."""
    leaves = [jax.tree.leaves(t) for t in trees]
    out, axes = [], []
    for column in zip(*leaves):
        if all(a is column[0] for a in column[1:]):
            out.append(column[0])
            axes.append(None)
        else:
            out.append(np.stack(column))
            axes.append(0)
    return jax.tree.unflatten(jax.tree.structure(trees[0]), out), tuple(axes)


@dataclass(frozen=True)
class TransformerRun:
    """The outcome of a transformer run: one :class:`RunResult` (with trace) per machine, and the run's
    numerics (the dtype, beta, the smallest top-key softmax weight seen)."""

    results: list[RunResult]
    dtype: str
    beta: float | None
    min_top_weight: np.ndarray
    layout: str


def _cast(tree, dtype):
    return jax.tree.map(lambda a: jnp.asarray(a, dtype), tree)


def run(machines: TuringMachine | Sequence[TuringMachine], steps: int, tapes=None, *, dtype: str = "float32",
        beta: float | None = None, head_range: int = 1000, layout: str = "packed", chunk: int = 128,
        check_envelope: bool = True) -> TransformerRun:
    """Run one machine or a batch on the compiled transformer for ``steps`` steps (or to the halt).

    Raises :class:`PrecisionError` before the run when it would leave the precision envelope, and
    after it when a run-time check fails; ``check_envelope=False`` skips the first check only (the
    frontier measurement uses it; the run-time checks still apply).
    """
    single = isinstance(machines, TuringMachine)
    batch = [machines] if single else list(machines)
    if not batch:
        raise ToolkitError("the batch is empty: expected at least one machine")
    if layout not in LAYOUTS:
        raise ToolkitError(f"layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    if beta is not None and not (beta > 0 and np.isfinite(beta)):
        raise ToolkitError(f"softmax beta must be a positive number, got {beta!r}")
    if tapes is None:
        tapes = [()] * len(batch)
    elif single:
        tapes = [tapes]
    if len(tapes) != len(batch):
        raise ToolkitError(f"{len(tapes)} initial tapes for {len(batch)} machines: expected one per machine")
    inits = [check_run_args(m, steps, t) for m, t in zip(batch, tapes)]
    longest = max(len(t) for t in inits)
    if longest > head_range + 1:
        raise PrecisionError(f"the initial tape spans cells 0..{longest - 1}, beyond the head range +-{head_range}")
    env = envelope(dtype, steps, head_range, beta, longest)
    if check_envelope:
        env.check()
    jdt = _dtype(dtype)
    n = max(m.n_states for m in batch)
    k = max(m.n_symbols for m in batch)
    compiled = [compile_machine(m, steps, head_range, n, k) for m in batch]
    L, M = compiled[0].layout, compiled[0].M
    P = longest + 1
    params, param_axes = _stack_params([c.params for c in compiled])
    fields = {key: np.stack([prompt(L, M, t, P)[key] for t in inits]) for key in ("state", "head", "write_pos", "symbol", "recency")}
    fields["n_pad"] = np.array([P - 1 - len(t) for t in inits], np.int32)
    out = _run_batch(_cast(params, jdt), fields, param_axes, n=n, k=k, R=L.R, D=L.D, M=M, P=P, T=int(steps),
                     beta=None if beta is None else float(beta), chunk=int(chunk), layout=layout, dtype=jdt)
    out = jax.device_get(out)
    errors = np.asarray(out["err"])
    if errors.any():
        b = int(np.nonzero(errors)[0][0])
        e = int(errors[b])
        why = []
        if e & _ERR_RANGE:
            why.append(f"the head left the range +-{head_range} (pass a larger head_range)")
        if e & _ERR_SOFTMAX:
            why.append(f"softmax attention kept only {float(out['min_top_weight'][b]):.3g} < 3/4 of its weight on the "
                       f"right key (raise beta)")
        if e & _ERR_READOUT:
            why.append("the head read-out was not within 1/4 of an integer")
        raise PrecisionError(f"transformer run of machine {b} ({batch[b]}) is not exact: " + "; ".join(why))
    results = [_result(batch[b], inits[b], {key: np.asarray(v[b]) for key, v in out.items()}) for b in range(len(batch))]
    return TransformerRun(results, dtype, beta, np.asarray(out["min_top_weight"]), layout)


def _result(machine: TuringMachine, init: np.ndarray, o: dict) -> RunResult:
    s = int(o["steps"])
    trace = Trace(*(o[key][:s].astype(np.int64) for key in ("state", "head", "read", "write")))
    if s:
        final_head = int(trace.head[-1] + machine.table[trace.state[-1]][trace.read[-1]].move)
        final_state = int(machine.table[trace.state[-1]][trace.read[-1]].next_state)
    else:
        final_head, final_state = 0, 0
    lo = min(0, int(trace.head.min()) if s else 0, final_head)
    hi = max(len(init) - 1, int(trace.head.max()) if s else 0, final_head)
    tape = np.zeros(hi - lo + 1, np.int32)
    tape[-lo: -lo + len(init)] = init
    if s:  # last write to each cell wins
        order = np.arange(s)[::-1]
        cells, first = np.unique(trace.head[order], return_index=True)
        tape[cells - lo] = trace.write[order][first]
    halted = final_state < 0 and s > 0 and bool(o["done"]) and not bool(o["undefined"])
    reason = "halted" if halted else "undefined" if bool(o["undefined"]) else "step_limit"
    heads = np.concatenate([trace.head, [final_head]]) if s else np.array([0])
    return RunResult(s, final_state if s else 0, final_head, tape, lo, reason, int(heads.min()), int(heads.max()),
                     None, trace)
