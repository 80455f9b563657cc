"""Decoding: one machine step per token, every step computed from the weight arrays in the run's dtype.

A run processes positions 0..P+T-2 of the sequence (P prompt tokens, then the generated tokens); the
output at position P-1+t is the token of step t+1. At each position the token is embedded, its query,
key and value are computed with W_q, W_k, W_v (:func:`.model.qkv`), attention reads the live prefix of
the cache (keys 0..i) in chunks of ``chunk`` keys folded with an online max/softmax
(:func:`.model.attend_chunk`), then W_o, the transition MLP and the read-out give the next token.

Two cache layouts, one semantics:

* ``dense``: keys (S, 1, D+1) and values (S, 1, k) in the run's dtype, as computed;
* ``packed``: per token only the ids that feed the key and value rows (3 bytes for compiled machines);
  each chunk's keys and values are rebuilt from the weights (:mod:`.packed`), bit for bit the dense ones.
  Both call the same :func:`.model.attend_chunk` on keys of the same shape.

**Certificate.** Each step checks, from the model's own numbers, that its arithmetic was exact
(flags in :data:`CHECKS`); :func:`run` raises :class:`PrecisionError` naming the machine, the step and
the reason at the first failure, so a returned trace is one whose every step was certified:

* ``scores``: the query and every live key hold integers and ``max_s sum_e |q_e k_se| <= 2^p``
  (p significand bits of the dtype): then every product and every partial sum of every score is an
  integer of magnitude <= 2^p, exactly representable, so each score is exact in any summation order;
* ``gap`` (hardmax): the top score is strictly above the runner-up (no tie decided by position);
* ``softmax``: the top key keeps >= 3/4 of the weight (the transition MLP reads 1/4 .. 3/4 as 0 .. 1);
* ``embed``: the token's integer fields (its recency) are exactly representable in the dtype;
* ``readout``: each categorical read-out (state, symbol, read) wins by >= 1/2, each of the next head's
  bits (``head_bits``, from the incrementer block of :mod:`.compile`) is within 1/4 of +-1, and the
  ``undefined`` flag within 1/4 of 0 or 1. The head id is the offset-binary code of the bits (cell + R):
  no residual scalar holds the head, so it is exact at any distance in every dtype.

The head leaving +-R is reported as ``range``. ``certify=False`` decodes without raising (the frontier
measurement uses it to find where uncertified runs first go wrong).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field as dc_field
from functools import partial
from typing import Callable, NamedTuple, Sequence, cast

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import PrecisionError, ToolkitError
from ..machine import HALT, TuringMachine
from ..simulator import RunResult, Trace, check_run_args
from . import model
from . import evict as evict_mod
from . import packed as packed_mod
from .compile import Layout, compile_machine
from .envelope import MANTISSA_BITS, envelope, position_bits, steps_exact

LAYOUTS = ("dense", "packed")
TOKEN_FIELDS = ("state", "head", "write_pos", "symbol", "recency")
ERR_RANGE, ERR_SOFTMAX, ERR_READOUT, ERR_SCORES, ERR_GAP, ERR_EMBED = 1, 2, 4, 8, 16, 32
CHECKS = {ERR_RANGE: "range", ERR_SOFTMAX: "softmax", ERR_READOUT: "readout", ERR_SCORES: "scores",
          ERR_GAP: "gap", ERR_EMBED: "embed"}
_DTYPES = {"float16": jnp.float16, "bfloat16": jnp.bfloat16, "float32": jnp.float32, "float64": jnp.float64}
_FIRST_SEGMENT = 4096
_MAX_SEGMENT = 1 << 20  # evicting cache: positions per jitted segment (a progress update each)


def _dtype(name: str):
    if name not in MANTISSA_BITS:
        raise PrecisionError(f"dtype {name!r}: expected one of {', '.join(MANTISSA_BITS)}")
    return _DTYPES[name]


def x64_if(needed: bool):
    """A context with JAX's 64-bit mode on (for float64 runs), without touching the global flag."""
    if not needed:
        return contextlib.nullcontext()
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    return jax.experimental.enable_x64()  # pyright: ignore[reportAttributeAccessIssue]  (older JAX only)


def prompt(layout: Layout, M: int, tape: Sequence[int] | np.ndarray, length: int) -> dict[str, np.ndarray]:
    """Prompt token fields, each (length,): left padding, one token per tape cell, the start token."""
    L = layout
    tape = list(tape)
    pad = length - len(tape) - 1
    f = {k: np.zeros(length, np.int32) for k in TOKEN_FIELDS}
    f["state"][:] = L.state_none
    f["head"][:] = L.R  # cell 0; a prompt token's own query is never read
    f["write_pos"][:] = L.cell_none
    f["symbol"][:] = L.k  # no value
    f["recency"][:pad] = -M  # padding: below the start token, never the top key
    cells = np.arange(len(tape))
    f["write_pos"][pad: pad + len(tape)] = cells + L.R
    f["symbol"][pad: pad + len(tape)] = tape
    f["state"][-1], f["symbol"][-1], f["recency"][-1] = 0, 0, M * (L.D - 1)
    return f


@dataclass(frozen=True)
class Static:
    """The compile-time configuration of a decode (hashable: a static argument of the jitted loop)."""

    n: int
    k: int
    R: int
    P: int
    beta: float | None
    chunk: int
    layout: str
    dtype: str
    plan: packed_mod.PackedPlan | None
    record: bool
    trace: bool
    certify: bool
    fixed_shape: bool = False
    cache: str = "full"                  # "evict": one key per cell (see :mod:`.evict`)
    cell_field: str = ""                 # evict: the token field whose id is a key's slot
    coef: float = 0.0                    # evict: the score rounding coefficient (u + gamma_n)
    skip: bool = True                    # evict: skip blocks whose score bound cannot win

    @property
    def jdtype(self):
        return _DTYPES[self.dtype]

    @property
    def check_dtype(self):
        return jnp.float64 if self.dtype == "float64" else jnp.float32

    @property
    def p(self) -> int:
        return MANTISSA_BITS[self.dtype]


class Carry(NamedTuple):
    """Per-machine decoding state between positions."""

    cache: dict           # dense: keys (S, 1, D+1), values (S, 1, k); packed: {field: (S,) ids}
    gen: dict             # the token generated by the last position
    done: jax.Array       # halted, stopped before ``---``, out of range, or (certifying) a failed check
    undefined: jax.Array  # stopped before an undefined transition
    err: jax.Array        # check failures (bit flags, see CHECKS)
    fail_step: jax.Array  # the machine step (1-based) at which the first check failed, -1 if none
    steps: jax.Array      # machine steps executed
    tape: jax.Array       # (2R+1,) symbols written so far (cell c at index c + R)
    lo: jax.Array         # smallest / largest head cell so far
    hi: jax.Array
    keys_integral: jax.Array  # every live key so far holds integers
    min_top: jax.Array    # smallest softmax weight on the top key
    min_gap: jax.Array    # smallest top-minus-runner-up score
    max_absdot: jax.Array  # largest sum_e |q_e k_e| of a score (bounds every partial sum)
    min_margin: jax.Array  # smallest categorical read-out margin


def _init(params, fields, st: Static, S: int) -> Carry:
    attn = params["layers"][0]["attn"]
    plan = cast(packed_mod.PackedPlan, st.plan)  # set for the packed layout and the evicting cache (read only there)
    if st.cache == "evict":
        ids = {name: packed_mod.id_dtype(params["embed"][name].shape[-2]) for name in plan.fields}
        cache = evict_mod.init(params["embed"][st.cell_field].shape[-2], st.chunk, attn["wk"].shape[-1],
                               attn["wv"].shape[-1], st.jdtype, st.check_dtype, st.layout, ids)
    elif st.layout == "dense":
        cache = {"keys": jnp.zeros((S, 1, attn["wk"].shape[-1]), st.jdtype),
                 "values": jnp.zeros((S, 1, attn["wv"].shape[-1]), st.jdtype)}
    else:
        vocab = {name: params["embed"][name].shape[-2] for name in plan.fields}
        cache = {name: jnp.zeros((S,), packed_mod.id_dtype(vocab[name])) for name in plan.fields}
    gen = {name: jnp.int32(0) for name in TOKEN_FIELDS}
    f32 = jnp.float32
    return Carry(cache, gen, jnp.bool_(False), jnp.bool_(False), jnp.int32(0), jnp.int32(-1), jnp.int32(0),
                 fields["tape"], jnp.int32(0), jnp.int32(0), jnp.bool_(True), f32(1), f32(jnp.inf),
                 jnp.zeros((), st.check_dtype), f32(jnp.inf))


def grow(carry: Carry, S: int) -> Carry:
    """The same carry with caches of length S (>= the current length); new slots are never read."""
    def pad(a):
        return jnp.concatenate([a, jnp.zeros((a.shape[0], S - a.shape[1]) + a.shape[2:], a.dtype)], axis=1)
    return carry._replace(cache=jax.tree.map(pad, carry.cache))


def _recency_at(fields, j, P):
    """The recency field of the token at positions j: the prompt's, or j - P + 1 for generated tokens
    (the value :func:`_position` feeds in)."""
    return jnp.where(j < P, fields["recency"][jnp.minimum(j, P - 1)], j - P + 1)


def _chunk_kv(params, tabs, fields, cache, c, st: Static):
    """Keys (C, 1, D+1) and values (C, 1, k) of chunk c of the cache."""
    C = st.chunk
    if st.layout == "dense":
        return (jax.lax.dynamic_slice_in_dim(cache["keys"], c * C, C),
                jax.lax.dynamic_slice_in_dim(cache["values"], c * C, C))
    ids = {name: jax.lax.dynamic_slice_in_dim(cache[name], c * C, C).astype(jnp.int32) for name in cache}
    rec = _recency_at(fields, c * C + jnp.arange(C), st.P)
    return (packed_mod.rebuild(tabs["keys"], ids, rec)[:, None, :],
            packed_mod.rebuild(tabs["values"], ids, rec)[:, None, :])


def packed_tables(params, st: Static):
    """The packed layout's per-id key and value rows, computed from the weights (see :mod:`.packed`)."""
    if st.layout != "packed":
        return None
    attn = params["layers"][0]["attn"]
    plan = cast(packed_mod.PackedPlan, st.plan)  # set for the packed layout
    return {"keys": packed_mod.tables(params, plan.key_sources, attn["wk"]),
            "values": packed_mod.tables(params, plan.value_sources, attn["wv"])}


def _store(cache, i, token, key, value, st: Static):
    if st.layout == "dense":
        return {"keys": cache["keys"].at[i].set(key), "values": cache["values"].at[i].set(value)}
    return {name: cache[name].at[i].set(token[name].astype(cache[name].dtype)) for name in cache}


def _attend(params, tabs, fields, cache, i, q, st: Static) -> model.AttnState:
    def body(c, state):
        keys, values = _chunk_kv(params, tabs, fields, cache, c, st)
        valid = c * st.chunk + jnp.arange(st.chunk) <= i
        return model.attend_chunk(state, q, keys, values, valid, st.beta, c * st.chunk)

    empty = model.empty_attn_state(1, params["layers"][0]["attn"]["wv"].shape[-1], st.jdtype, st.check_dtype)
    # live prefix: i // chunk + 1 chunks (a data-dependent trip count); fixed_shape: every chunk of the
    # segment's cache, masked -- a static trip count (what accelerators want), at most 2x the live
    # prefix because segments double
    S = next(iter(cache.values())).shape[0]
    n_chunks = S // st.chunk if st.fixed_shape else i // st.chunk + 1
    return jax.lax.fori_loop(0, n_chunks, body, empty)


def _margin(logits):
    """Top minus runner-up of a (vocab,) logit vector, in float32 (inf for a vocabulary of one)."""
    if logits.shape[-1] < 2:
        return jnp.float32(jnp.inf)
    x = logits.astype(jnp.float32)
    top = jnp.argmax(x)
    return x[top] - jnp.max(jnp.where(jnp.arange(x.shape[-1]) == top, -jnp.inf, x))


def _integral(a):
    return jnp.all(a == jnp.round(a))


def _position(params, tabs, fields, carry: Carry, i, st: Static):
    """Process the token at position i of one machine's sequence; returns (carry, per-position outputs)."""
    P, R, n = st.P, st.R, st.n
    layer = params["layers"][0]
    token = {name: jnp.where(i < P, fields[name][jnp.minimum(i, P - 1)], carry.gen[name]) for name in TOKEN_FIELDS}
    token["recency"] = _recency_at(fields, i, P)  # a generated token's recency is its step number
    live = ~carry.done
    x = model.embed(params, token)
    q, key, value = model.qkv(layer, x)
    if st.cache == "evict":
        cache = evict_mod.store(carry.cache, token, st.cell_field, token["recency"], key[0], value[0], st.layout,
                                live)
        att, _ = evict_mod.attend(cache, tabs, q[0], st.layout, st.dtype, st.coef, st.skip)
    else:
        cache = _store(carry.cache, i, token, key, value, st)
        att = _attend(params, tabs, fields, cache, i, q, st)
    heads, top = model.finish_attention(att, st.beta)
    x = x + model.attn_out(layer, heads)
    x = model.feed_forward(layer, x)
    logits = model.readout_logits(params, x)
    out = {name: jnp.argmax(logits[name]).astype(jnp.int32) for name in params["readout"]}

    stepping = (i >= P - 1) & live  # this position's output is a machine step
    undefined_val = logits["undefined"].astype(jnp.float32)
    undefined = undefined_val > 0.5
    # the next head: +-1 bits (offset binary, id = cell + R) from the incrementer; id > 2R is out of range
    head_bits = logits["head_bits"].astype(jnp.float32)  # (D,)
    bit = head_bits > 0
    new_id = jnp.sum(jnp.where(bit, jnp.left_shift(1, jnp.arange(head_bits.shape[-1], dtype=jnp.int32)), 0))
    bits_ok = jnp.all(jnp.abs(head_bits - jnp.where(bit, 1.0, -1.0)) <= 0.25)
    new_head = new_id.astype(jnp.int32) - R
    executes = stepping & ~undefined
    out_of_range = new_head > R  # new_id >= 0, so new_head >= -R: leaving at -R - 1 wraps to id 2^D - 1 > 2R

    # the certificate, from the model's own numbers
    exact_int = 2.0 ** st.p
    keys_integral = carry.keys_integral & (_integral(key) | ~live)
    rec = token["recency"]
    embed_ok = rec.astype(st.jdtype).astype(jnp.int32) == rec
    scores_ok = _integral(q) & keys_integral & (att.absdot[0] <= exact_int * (1 - 2.0 ** -16))
    margin = jnp.minimum(jnp.minimum(_margin(logits["state"]), _margin(logits["symbol"])), _margin(logits["read"]))
    readout_ok = (jnp.abs(undefined_val - jnp.round(undefined_val)) <= 0.25) & (
        undefined | (bits_ok & (margin >= 0.5)))
    gap = (att.best[0] - att.second[0]).astype(jnp.float32)
    err = (jnp.where(stepping & ~readout_ok, ERR_READOUT, 0) | jnp.where(executes & out_of_range, ERR_RANGE, 0))
    if st.cache == "evict":  # scores need not be integers: the gap must beat the rounding bound
        err = err | jnp.where(stepping & ~evict_mod.certified_gap(att, st.coef, st.check_dtype), ERR_GAP, 0)
    else:
        err = err | jnp.where(live & ~embed_ok, ERR_EMBED, 0) | jnp.where(stepping & ~scores_ok, ERR_SCORES, 0)
    if st.cache == "evict":
        pass
    elif st.beta is None:
        err = err | jnp.where(stepping & ~(gap > 0), ERR_GAP, 0)
    else:
        err = err | jnp.where(stepping & (top[0] < 0.75), ERR_SOFTMAX, 0)
    fail_step = jnp.where((carry.fail_step < 0) & (err != 0), carry.steps + jnp.where(i >= P - 1, 1, 0), carry.fail_step)

    new_state = out["state"]
    nxt = {"state": new_state, "head": jnp.clip(new_head, -R, R) + R, "write_pos": token["head"],
           "symbol": out["symbol"], "recency": i - P + 2}
    gen = jax.tree.map(lambda a, b: jnp.where(executes, a, b), nxt, carry.gen)
    cell = token["head"]  # one element updated in place (not a select over the whole tape)
    tape = carry.tape.at[cell].set(jnp.where(executes, out["symbol"].astype(carry.tape.dtype), carry.tape[cell]))
    moved = jnp.clip(new_head, -R, R)
    lo = jnp.where(executes, jnp.minimum(carry.lo, moved), carry.lo)
    hi = jnp.where(executes, jnp.maximum(carry.hi, moved), carry.hi)
    done = carry.done | (stepping & (undefined | (new_state == n) | out_of_range))
    if st.certify:  # a failed check ends the run (it will raise)
        done = done | (live & (err != 0))
    f32 = jnp.float32
    new = Carry(cache, gen, done, carry.undefined | (stepping & undefined), carry.err | err, fail_step,
                carry.steps + executes, tape, lo, hi, keys_integral,
                jnp.where(stepping, jnp.minimum(carry.min_top, top[0].astype(f32)), carry.min_top),
                jnp.where(stepping, jnp.minimum(carry.min_gap, gap), carry.min_gap),
                jnp.where(stepping, jnp.maximum(carry.max_absdot, att.absdot[0]), carry.max_absdot),
                jnp.where(executes, jnp.minimum(carry.min_margin, margin), carry.min_margin))
    outputs = {}
    if st.trace:
        outputs["row"] = tuple(jnp.where(executes, v, -1) for v in
                               (token["state"], token["head"] - R, out["read"], nxt["symbol"]))
    if st.record:
        outputs.update(residual=x, attended=att.arg[0], top_score=att.best[0], runner_up=att.second[0])
    return new, outputs


@partial(jax.jit, static_argnames=("axes", "st", "S"))
def _start(params, fields, axes, st: Static, S: int):
    tree_axes = jax.tree.unflatten(jax.tree.structure(params), axes)
    return jax.vmap(lambda p, f: _init(p, f, st, S), in_axes=(tree_axes, 0))(params, fields)


@partial(jax.jit, static_argnames=("axes", "st", "length", "until_halt"))
def _segment(params, fields, carry, start, stop, axes, st: Static, length: int, until_halt: bool):
    """Decode positions start .. stop-1 (stop - start <= ``length``) of a batch (a ``while_loop`` that
    stops early once every machine is done when ``until_halt``); per-position outputs land in (B, length)
    buffers. ``length`` is bucketed by the caller so that nearby run lengths share one compilation."""
    tree_axes = jax.tree.unflatten(jax.tree.structure(params), axes)
    # one machine with the evicting cache: no vmap -- XLA then updates the slot arrays in place (under vmap
    # the per-machine slot write is a scatter that copies the cache every step)
    single = st.cache == "evict" and carry.steps.shape[0] == 1 and all(a is None for a in axes)
    if single:
        carry, fields = jax.tree.map(lambda a: a[0], (carry, fields))
        step = partial(_position, st=st)
    else:
        step = jax.vmap(partial(_position, st=st), in_axes=(tree_axes, None, 0, 0, None))
    with jax.default_matmul_precision("highest"):  # TF32 on GPUs is not exact
        tabs = packed_tables(params, st)  # from the weights (shared by the batch), once per segment
        _, probe = jax.eval_shape(step, params, tabs, fields, carry, jnp.int32(0))
        fill = lambda a: -1 if jnp.issubdtype(a.dtype, jnp.integer) else 0  # noqa: E731  (-1: no step)
        if single:
            probe = jax.tree.map(lambda a: jax.ShapeDtypeStruct((1,) + a.shape, a.dtype), probe)
        bufs = jax.tree.map(lambda a: jnp.full((a.shape[0], length) + a.shape[1:], fill(a), a.dtype), probe)

        def cond(state):
            j, carry, _ = state
            return (start + j < stop) & ~(until_halt & jnp.all(carry.done))

        def body(state):
            j, carry, bufs = state
            carry, out = step(params, tabs, fields, carry, start + j)
            bufs = jax.tree.map(lambda b, o: b.at[:, j].set(o[None] if single else o), bufs, out)
            return j + 1, carry, bufs

        j, carry, bufs = jax.lax.while_loop(cond, body, (jnp.int32(0), carry, bufs))
    if single:
        carry = jax.tree.map(lambda a: a[None], carry)
    return carry, bufs, j


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
    """The outcome of a transformer run, as batch arrays (no per-machine Python work needed), with one
    :class:`RunResult` per machine built on demand (``results``).

    Every run returned with ``certified`` true had every step certified (see the module docstring);
    ``max_partial_sum`` is the largest ``sum_e |q_e k_e|`` of any score (exact while <= ``2 ** p``),
    ``min_gap`` the smallest top-minus-runner-up score, ``min_top_weight`` the smallest softmax weight on
    the top key, ``min_readout_margin`` the smallest categorical read-out margin.
    """

    steps: np.ndarray            # (B,)
    sigma: np.ndarray            # (B,)
    halted: np.ndarray           # (B,) a halt transition was taken
    undefined: np.ndarray        # (B,) stopped before an undefined transition
    final_state: np.ndarray      # (B,) -1 for halt
    final_head: np.ndarray       # (B,)
    dtype: str
    beta: float | None
    layout: str
    certified: bool
    max_partial_sum: np.ndarray
    min_gap: np.ndarray
    min_top_weight: np.ndarray
    min_readout_margin: np.ndarray
    M: int
    head_range: int
    limit: int                   # steps the run was allowed
    prompt_length: int = 0
    residual: np.ndarray | None = None   # (B, P+T-1, d_model) when recorded
    attended: np.ndarray | None = None   # (B, P+T-1) position of the top key at each position
    scores: np.ndarray | None = None     # (B, P+T-1, 2) top and runner-up attention score, run's dtype
    errors: np.ndarray | None = None     # (B,) check flags (uncertified runs)
    fail_step: np.ndarray | None = None  # (B,) first step a check failed, -1 if none
    slots: np.ndarray | None = None      # (B,) evicting cache: keys in use at the end
    devices: int = 1                     # devices the batch was split over (its rows, see _batch_mesh)
    _tapes: np.ndarray | None = dc_field(default=None, repr=False)
    _bounds: np.ndarray | None = dc_field(default=None, repr=False)
    _traces: tuple | None = dc_field(default=None, repr=False)
    _inits: tuple = dc_field(default=(), repr=False)

    @property
    def results(self) -> list[RunResult]:
        return [self.result(b) for b in range(len(self.steps))]

    def result(self, b: int) -> RunResult:
        R, s = self.head_range, int(self.steps[b])
        if self._bounds is None or self._tapes is None:  # (a TypeError, as indexing None was)
            raise TypeError("no final tapes: a TransformerRun made by run() holds them")
        lo, hi = int(self._bounds[b, 0]), int(self._bounds[b, 1])
        lo_t, hi_t = min(lo, 0), max(hi, len(self._inits[b]) - 1)
        tape = self._tapes[b, lo_t + R: hi_t + R + 1].astype(np.int32)
        trace = None
        if self._traces is not None:
            trace = Trace(*(np.asarray(r[b][:s], np.int64) for r in self._traces))
        reason = "halted" if self.halted[b] else "undefined" if self.undefined[b] else "step_limit"
        state = HALT if self.halted[b] else int(self.final_state[b]) if s else 0
        return RunResult(s, state, int(self.final_head[b]) if s else 0, tape, lo_t, reason, lo, hi, None, trace)


def _cast(tree, dtype):
    return jax.tree.map(lambda a: jnp.asarray(a, dtype), tree)


MACHINES = "machines"


def _batch_mesh(B: int):
    """The 1-D mesh (axis ``"machines"``) a batch of B > 1 machines is split over: every local device.
    Machines never read each other's weights, cache or tape, so each device decodes its own rows and the
    result does not depend on the device count (tested). None on one device or for a single machine."""
    devices = jax.local_devices()
    if B < 2 or len(devices) < 2:
        return None
    return jax.sharding.Mesh(np.asarray(devices), (MACHINES,))


def _split(tree, mesh, axes=None):
    """Place a batch tree on ``mesh``: leaves with a leading machine axis (``axes`` entry 0, or every leaf
    when ``axes`` is None) split along it, shared leaves (None) replicated."""
    if mesh is None:
        return tree
    from jax.sharding import NamedSharding, PartitionSpec as P

    rows, shared = NamedSharding(mesh, P(MACHINES)), NamedSharding(mesh, P())
    leaves, struct = jax.tree.flatten(tree)
    axes = (0,) * len(leaves) if axes is None else axes
    return jax.tree.unflatten(struct, [jax.device_put(a, rows if ax == 0 else shared) for a, ax in zip(leaves, axes)])


def run(machines: TuringMachine | Sequence[TuringMachine], steps: int | None = None, tapes=None, *,
        dtype: str = "float32", beta: float | None = None, head_range: int | None = None,
        layout: str = "packed", chunk: int | None = None, check_envelope: bool = True, certify: bool = True,
        record: bool = False, until_halt: bool = True, trace: bool = True, weights=None,
        progress: Callable[[int], None] | None = None, fixed_shape: bool = False,
        cache: str = "full", skip: bool = True) -> TransformerRun:
    """Run one machine or a batch on the compiled transformer for ``steps`` steps, or to the halt.

    ``steps=None`` runs until every machine halts, growing the cache in segments, up to the dtype's
    certified limit (``TransformerRun.limit``). ``weights`` (a :class:`.weights.Weights`, e.g. read from
    a safetensors file) replaces the compiled weights of a single machine. ``trace=False`` keeps only
    summaries (steps, sigma, final configuration), not the (B, T) trace buffers.

    Raises :class:`PrecisionError` before the run when it is hopeless (the scale M cannot be held
    exactly even for one step, or a softmax beta below the a-priori bound), and at the first step whose
    certificate fails (unless ``certify=False``). ``check_envelope=False`` skips the first check only.
    ``fixed_shape=True`` decodes in doubling segments whose attention covers the segment's whole cache
    (masked): static trip counts for accelerators, the same numbers (tested).

    ``cache="evict"`` (hardmax only) keeps one key per cell written, in the slot of its cell id
    (:mod:`.evict`): the weights are checked for dominance first (refused with the reason otherwise),
    compiled weights use the scale M >= 2(T+1), attention visits blocks of ``chunk`` slots (default
    :func:`.evict.block_size`; 128 keys a chunk for the full cache) in the order of their score bound and
    skips every block that cannot win (``skip=False``: visits every block in use, the exhaustive pass), and
    each step is certified by its score gap against the rounding bound of the score arithmetic in the
    dtype; to the halt it runs up to :func:`.evict.evict_limit` steps. ``attended`` then holds slot numbers
    (cell ids), not positions.
    """
    single = isinstance(machines, TuringMachine)
    batch = [machines] if single else list(machines)
    if not batch:
        raise ToolkitError("the batch is empty: expected at least one machine")
    if layout not in LAYOUTS:
        raise ToolkitError(f"layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    if beta is not None and not (isinstance(beta, (int, float)) and beta > 0 and np.isfinite(beta)):
        raise ToolkitError(f"softmax beta must be a positive number, got {beta!r}")
    if cache not in evict_mod.CACHES:
        raise ToolkitError(f"cache {cache!r}: expected one of {', '.join(evict_mod.CACHES)}")
    evict = cache == "evict"
    if evict and beta is not None:
        raise ToolkitError("--cache evict is exact for hardmax attention only (softmax still weighs the older "
                           "keys); use --cache full with --softmax")
    if chunk is not None and (not isinstance(chunk, (int, np.integer)) or chunk < 1):
        raise ToolkitError(f"chunk must be a positive integer, got {chunk!r}")
    _dtype(dtype)
    if tapes is None:
        tapes = [()] * len(batch)
    elif single:
        tapes = [tapes]
    if len(tapes) != len(batch):
        raise ToolkitError(f"{len(tapes)} initial tapes for {len(batch)} machines: expected one per machine")
    # a batch is split over every local device: padded with copies of machine 0 to a multiple of the
    # device count, the copies dropped from every result below
    B = len(batch)
    mesh = _batch_mesh(B) if weights is None else None
    if mesh is not None:
        extra = -B % mesh.size
        batch, tapes = batch + [batch[0]] * extra, list(tapes) + [tapes[0]] * extra
    p = MANTISSA_BITS[dtype]
    if weights is not None:
        if len(batch) != 1:
            raise ToolkitError("weights from a file run one machine at a time")
        R, M = weights.head_range, weights.M
        if head_range is not None and head_range != R:
            raise ToolkitError(f"head_range {head_range} differs from the weights' head range {R}")
        limit = M - 1
    else:
        R = 1000 if head_range is None else head_range
        if not isinstance(R, (int, np.integer)) or R < 1:
            raise PrecisionError(f"head_range must be a positive integer, got {R!r}")
        if steps is not None:
            limit = steps
        else:
            limit = evict_mod.evict_limit(dtype, int(R)) if evict else steps_exact(p, int(R))
    to_halt = steps is None
    T = int(limit if steps is None else steps)
    inits = [check_run_args(m, T, t) for m, t in zip(batch, tapes)]
    if weights is not None and T > limit:
        raise PrecisionError(f"{T} steps exceed the {limit} steps the weights were compiled for")
    longest = max(len(t) for t in inits)
    if longest > R + 1:
        raise PrecisionError(f"the initial tape spans cells 0..{longest - 1}, beyond the head range +-{R}")
    if weights is None:
        M = evict_mod.scale_for(T, position_bits(int(R))) if evict else T + 1
    env = envelope(dtype, T, int(R), beta, longest, M=M)
    if check_envelope:
        if evict:
            evict_mod.check_not_hopeless(dtype, T, int(R), int(M))
        else:
            env.check()
    n = max(m.n_states for m in batch)
    k = max(m.n_symbols for m in batch)
    if weights is not None:
        weights.check_machine(batch[0])
        if not all(np.all(np.isfinite(np.asarray(a))) for a in jax.tree.leaves(weights.params)):
            raise ToolkitError("the weights hold non-finite values")
        params, axes = weights.params, tuple(None for _ in jax.tree.leaves(weights.params))
        n, k = weights.n_states, weights.n_symbols
        L = Layout(n, k, int(R))
        if certify:  # weights the toolkit did not compile (edited, or from anywhere): every value but the
            # scores proved exact before the run, or refused; compiled ones (recompiled and compared, not
            # trusted from a flag) are exact by construction (see .compile)
            from .exactness import check_step, is_compiled

            if not is_compiled(weights):
                check_step(params, dtype, max(int(M) * (L.D - 1), T), softmax=beta is not None,
                           names=L.dim_names())
    else:
        compiled = [compile_machine(m, M - 1, int(R), n, k) for m in batch]
        L = compiled[0].layout
        params, axes = _stack_params([c.params for c in compiled])
    plan = None
    if layout == "packed" or evict:
        if any(a is not None for a, path in zip(axes, _leaf_paths(params)) if "w2" not in path):
            raise ToolkitError(f"the {'evicting cache' if evict else 'packed layout'} needs the embedding and "
                               f"attention weights shared by the batch")
    if layout == "packed":
        plan = packed_mod.plan(params)
    cell_field, coef = "", 0.0
    if evict:
        eplan = evict_mod.dominance(params, dtype)
        cell_field, coef = eplan.cell_field, evict_mod.error_coefficient(dtype, eplan.d_head)
        if plan is None:
            plan = packed_mod.PackedPlan((), (), ())
        if chunk is None:  # slots per block: one slot per id of the cell field
            chunk = evict_mod.block_size(int(np.shape(params["embed"][cell_field])[-2]))
    elif chunk is None:
        chunk = 128
    P = longest + 1
    st = Static(n, k, L.R, P, None if beta is None else float(beta), int(chunk), layout, dtype, plan,
                bool(record), bool(trace), bool(certify), bool(fixed_shape), cache, cell_field, coef, bool(skip))
    prompts = [prompt(L, M, t, P) for t in inits]
    fields = {key: np.stack([pr[key] for pr in prompts]) for key in TOKEN_FIELDS}
    tape_dtype = packed_mod.id_dtype(k)
    fields["tape"] = np.zeros((len(batch), 2 * L.R + 1), tape_dtype)
    for b, t in enumerate(inits):
        fields["tape"][b, L.R: L.R + len(t)] = t
    end = P + T - 1  # positions to process
    with x64_if(dtype == "float64"):
        jparams = _split(_cast(params, st.jdtype), mesh, axes)
        fields = _split(fields, mesh)
        first = end if not (to_halt or fixed_shape or evict) else min(end, _FIRST_SEGMENT)
        carry = _start(jparams, fields, axes, st, 0 if evict else _bucket(first, chunk))
        pos, segments = 0, []
        while pos < end:
            length = first if pos == 0 else min(end - pos, pos, _MAX_SEGMENT if evict else end)
            if not evict:  # the evicting cache has a slot per cell id from the start
                need = -(-(pos + length) // chunk) * chunk
                if need > carry.cache[next(iter(carry.cache))].shape[1]:
                    carry = grow(carry, _bucket(pos + length, chunk))
            carry = _split(carry, mesh)
            carry, bufs, done_j = _segment(jparams, fields, carry, jnp.int32(pos), jnp.int32(pos + length), axes,
                                           st, _bucket(length, 64) if trace or record else 64, until_halt)
            all_done = until_halt and bool(np.all(jax.device_get(carry.done)))
            taken = length if all_done else int(done_j)
            segments.append(jax.tree.map(lambda a: a[:B, :taken], jax.device_get(bufs)))
            pos += taken
            if progress is not None:
                progress(int(np.max(jax.device_get(carry.steps))))
            if all_done:
                break
        devices = len(carry.steps.sharding.device_set)
        c = jax.tree.map(lambda a: a[:B], jax.device_get(carry))
        batch, inits = batch[:B], inits[:B]
    if certify and np.any(c.err):
        b = int(np.nonzero(c.err)[0][0])
        raise PrecisionError(_failure_message(b, batch[b], int(c.err[b]), int(c.fail_step[b]), c, st, env))
    if not certify and np.any(c.err & ERR_RANGE):
        b = int(np.nonzero(c.err & ERR_RANGE)[0][0])
        raise PrecisionError(f"transformer run of machine {b} ({batch[b]}): the head left the range +-{R} "
                             f"(pass a larger head_range)")
    traces = None
    if trace:
        rows = [np.concatenate([s["row"][r] for s in segments], axis=1)[:, P - 1:] for r in range(4)]
        traces = tuple(rows)
    residual = attended = scores = None
    if record:
        residual, attended, top, second = (np.concatenate([s[key] for s in segments], axis=1) for key in
                                           ("residual", "attended", "top_score", "runner_up"))
        scores = np.stack([top, second], axis=-1)
    halted = (c.gen["state"] == n) & (c.steps > 0) & ~c.undefined
    final_state = np.where(halted, -1, c.gen["state"])
    return TransformerRun(
        steps=c.steps.astype(np.int64), sigma=np.count_nonzero(c.tape, axis=1), halted=halted,
        undefined=c.undefined, final_state=final_state, final_head=c.gen["head"] - L.R, dtype=dtype,
        beta=st.beta, layout=layout, certified=bool(certify), max_partial_sum=np.asarray(c.max_absdot),
        min_gap=np.asarray(c.min_gap), min_top_weight=np.asarray(c.min_top), min_readout_margin=np.asarray(c.min_margin),
        M=M, head_range=L.R, limit=T, prompt_length=P, residual=residual, attended=attended, scores=scores,
        errors=c.err,
        fail_step=c.fail_step, slots=np.asarray(evict_mod.slots_in_use(c.cache)) if evict else None, _tapes=c.tape,
        _bounds=np.stack([c.lo, c.hi], axis=1), _traces=traces,
        _inits=tuple(inits), devices=devices)


def _bucket(length: int, unit: int) -> int:
    """``unit`` times the next power of two >= length / unit: nearby lengths share one compiled shape."""
    blocks = -(-max(int(length), 1) // unit)
    return unit * (1 << (blocks - 1).bit_length())


def _leaf_paths(tree):
    return [jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def _failure_message(b, machine, flags, step, c, st: Static, env) -> str:
    why = []
    if flags & ERR_RANGE:
        why.append(f"the head left the range +-{st.R} (pass a larger head_range)")
    if flags & ERR_SCORES:
        why.append(f"a score's absolute products sum to {float(c.max_absdot[b]):.6g} > 2^{st.p} = {2 ** st.p:,} "
                   f"(or are not integers): {st.dtype} cannot hold it exactly")
    if flags & ERR_GAP and st.cache == "evict":
        why.append(f"the top attention score does not beat the runner-up by more than twice the rounding bound "
                   f"{st.coef:.3g} * sum|q_e k_e| of the {st.dtype} score arithmetic (smallest gap "
                   f"{float(c.min_gap[b]):.6g}, largest sum {float(c.max_absdot[b]):.6g})")
    elif flags & ERR_GAP:
        why.append("the top attention score is not above the runner-up (a tie)")
    if flags & ERR_SOFTMAX:
        why.append(f"softmax attention kept only {float(c.min_top[b]):.3g} < 3/4 of its weight on the top key "
                   f"(raise beta; the a-priori bound is {env.beta_needed:.4g})")
    if flags & ERR_READOUT:
        if float(c.min_margin[b]) < 0.5:
            why.append(f"a categorical read-out was not decisive (margin {float(c.min_margin[b]):.3g} < 1/2)")
        else:
            why.append("a head bit was not within 1/4 of +-1, or the undefined flag not within 1/4 of 0 or 1")
    if flags & ERR_EMBED:
        why.append(f"a token's recency is not representable in {st.dtype}")
    where = f"at step {step}" if step > 0 else "in the prompt"
    return f"transformer run of machine {b} ({machine}) is not certified {where}: " + "; ".join(why)
