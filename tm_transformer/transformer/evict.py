"""The evicting cache: keep only the keys hard attention can still pick.

**Dominance.** With key columns that read either the token's *cell* field or the recency scalar (or a
constant), two tokens that wrote the same cell have keys that agree outside the recency columns; if the
query's weight on every recency column times the key's recency slope is positive, the newer key scores
strictly more than the older one for *every* query. The older key can never be the hardmax top again, so
dropping it is an exact rewrite of the attention. :func:`dominance` decides this from the weights
(through the packed plan of :mod:`.packed`, i.e. from W_q, W_k and the embeddings) and refuses weights for
which it does not hold, naming why.

**At run time** (:func:`store`, per machine, inside the jitted step): the new token's key replaces the key
in the slot that the previous position attended to when that key is dominated by it (equal outside the
recency columns, recency contribution not smaller: the cell the head now writes is the cell it just
read), otherwise it takes the next free slot. Attention (:func:`attend`) covers only the slots in use,
in chunks of ``C`` (a data-dependent trip count), so a step costs O(cells visited), not O(steps).
"Not worse" is decided with the sign of the query's recency weight as computed in the run's dtype:
q_c (key_c - old_c) >= 0 on each recency column (:func:`store`).

**Tie rule.** Two keys of one cell whose recencies round to the same value in a low precision (bfloat16
beyond recency 256) are identical vectors, but they may carry *different values*: a value is the symbol
written, and the cell may have been rewritten with another symbol in between. The evicting cache keeps
the newer one (it replaces on ``>=``), i.e. ties between *identical* keys go to the latest token. That
is exact: the newest key is the last write of the cell, the one the real-arithmetic hardmax picks (there
r' > r gives a strict win); the older key never enters the cache's attention, so the certificate's gap is
over distinct keys only. The full cache's rule (earliest first) never decides a certified step: such a
tie is a zero gap, which its certificate refuses -- so the full cache stops there, the evicting cache
goes on, and both are exact rewrites of the real-arithmetic attention where they run.

**Arithmetic and certificate.** q, k, v are computed from W_q, W_k, W_v in the run's dtype (as in the
full cache). A score is the dot product of the dtype's q and k with products and sums in the accumulator
dtype ``acc`` (float32 for float16/bfloat16/float32, float64 for float64) in any order, then rounded
once to the run's dtype -- the arithmetic of a bf16 matmul unit with an f32 accumulator. (The dense cache
*holds* each key in ``acc``: the dtype's computed key widened exactly, so the numbers are the same and the
score pass converts nothing.) Products of two bf16 (or f16) numbers are exact in f32; for any summation
order the computed score s^ of n = d_head terms satisfies

    |s^ - q.k| <= (u + gamma_n(u_acc) (1 + u)) sum_e |q_e k_e|,    gamma_n(v) = n v / (1 - n v)

with u the unit roundoff of the run's dtype. ``sum_e |q_e k_e| <= sum_e |q_e| kmax_e``, kmax the
element-wise largest |key| ever stored, so one bound e covers every live key; the step is certified when
the top score beats the runner-up by more than 2 e (then the exact top is the computed one). With the
scale M >= 2 (T + 1) the match term decides: the latest key of the head's cell scores >= M D, the default
(start) key M (D - 1), any other cell <= M (D - 2) + T, so every gap is >= M / 2 and the certificate
needs only ``(u + gamma_n) (2 D - 1) < 1 / 4`` -- not integers below 2^p (:func:`evict_limit`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import PrecisionError, ToolkitError
from . import model
from . import packed as packed_mod
from .envelope import MANTISSA_BITS, position_bits

CACHES = ("evict", "full")
_INT32_MAX = 2 ** 31 - 1
_MAX_FINITE = {"float16": 65504.0, "bfloat16": 3.39e38, "float32": 3.4e38, "float64": 1.79e308}


@dataclass(frozen=True)
class EvictPlan:
    """What the run-time eviction needs, decided from the weights: per key column, 1 on the recency
    columns and 0 outside them (the run weighs a recency column's key difference by the query's weight
    there, as computed in the run's dtype, so the sign of the query's recency weight is respected); the
    cell field."""

    rec_mask: tuple[float, ...]
    cell_field: str
    d_head: int


def _in_dtype(a, dtype):
    """a (float64) rounded to the run's dtype and back: the weights the run actually uses."""
    a = np.asarray(a, np.float64)
    return a if dtype is None else np.asarray(a.astype(jnp.dtype(dtype)), np.float64)


def dominance(params, dtype: str | None = None) -> EvictPlan:
    """Check from the weights (rounded to the run's ``dtype`` when given) that a newer key for the same
    cell dominates the older one for every query; raise :class:`ToolkitError` naming why not.

    On each recency column c the query's weight q_c (a constant) times the key's recency slope must be
    positive, and both normal numbers in the dtype (not rounded to 0): then for two keys of one cell
    with recencies r' > r the score difference q_c (k_c(r') - k_c(r)) is >= 0 for every query (rounding
    of the key is monotone in r), > 0 in real arithmetic."""
    attn = params["layers"][0]["attn"]
    wq = _in_dtype(attn["wq"], dtype)
    wk = _in_dtype(attn["wk"], dtype)
    if wq.ndim != 3 or wq.shape[0] != 1 or len(params["layers"]) != 1:
        raise ToolkitError("--cache evict needs one layer with one attention head; use --cache full")
    try:
        plan = packed_mod.plan(params)
    except ToolkitError as exc:
        raise ToolkitError(f"--cache evict cannot check dominance: {exc}; use --cache full") from None
    cells = {name for kind, name, _ in plan.key_sources if kind == "field"}
    if len(cells) != 1:
        raise ToolkitError(f"--cache evict needs the keys to read one token field (the cell written) outside "
                           f"the recency, not {sorted(cells)}: keys of one cell would differ; use --cache full")
    rec_cols = [c for c, (kind, _, _) in enumerate(plan.key_sources) if kind == "scalar"]
    if not rec_cols:
        raise ToolkitError("--cache evict needs a recency column in the keys (none reads the recency scalar); "
                           "use --cache full")
    live = packed_mod._live_rows(params)
    bias = _in_dtype(params["bias"], dtype)
    scale = _in_dtype(params["embed_scalar"]["recency"], dtype)
    tiny = float(jnp.finfo(jnp.dtype(dtype or "float64")).tiny)
    sign = [0.0] * wk.shape[-1]
    for c in rec_cols:
        rows = np.nonzero((wq[0][:, c] != 0) & live)[0]
        for r in rows:
            if packed_mod._row_sources(params, int(r)) != [("bias", "bias")]:
                raise ToolkitError(f"--cache evict needs the query's recency weight (column {c}) to be a constant, "
                                   f"but it reads residual row {int(r)}, which varies by token; use --cache full")
        q_c = float(_in_dtype(bias[rows] @ wq[0][rows, c], dtype)) if len(rows) else 0.0
        _, _, row = plan.key_sources[c]
        k_slope = float(_in_dtype(scale[row] * wk[0][row, c], dtype))
        if min(abs(q_c), abs(k_slope)) < tiny:
            raise ToolkitError(f"--cache evict refused: on key column {c} the query's recency weight ({q_c:g}) or "
                               f"the key's recency slope ({k_slope:g}) is zero or subnormal in "
                               f"{dtype or 'float64'}, so newer keys of a cell would not score strictly more; "
                               f"use --cache full")
        slope = q_c * k_slope
        if not slope > 0:
            raise ToolkitError(f"--cache evict refused: the query's recency weight times the key's recency slope "
                               f"is {slope:g} <= 0 on key column {c}, so a newer key for a cell does not dominate "
                               f"the older one (attention could still pick the older key); use --cache full")
        sign[c] = 1.0
    return EvictPlan(tuple(sign), next(iter(cells)), int(wk.shape[-1]))


def unit_roundoff(dtype: str) -> float:
    return 2.0 ** -MANTISSA_BITS[dtype]


def acc_dtype(dtype: str):
    return jnp.float64 if dtype == "float64" else jnp.float32


def error_coefficient(dtype: str, n: int) -> float:
    """c with |s^ - q.k| <= c sum_e |q_e k_e| for the score arithmetic of the module docstring, rounded up
    (and padded by 2^-16 relative for the float32 evaluation of the bound and of the gap)."""
    u = unit_roundoff(dtype)
    ua = 2.0 ** -(53 if dtype == "float64" else 24)
    gamma = n * ua / (1 - n * ua)
    return (u + gamma * (1 + u)) * (1 + 2.0 ** -16)


def scale_for(T: int, D: int) -> int:
    """The scale M the evicting cache compiles with for T steps: the power of two >= 2 (T + 1) (gaps >= M/2)."""
    return 1 << max(1, math.ceil(math.log2(2 * (int(T) + 1))))


def evict_limit(dtype: str, R: int) -> int:
    """The longest run the evicting cache compiles for at head range R: the scale M(T) must keep the start
    token's recency M (D - 1) an int32 and the largest score M (2 D - 1) finite in the dtype, and the
    certificate must hold a priori at every length (a condition on D and the dtype only, see the module
    docstring); 0 when it does not."""
    D = position_bits(R)
    if error_coefficient(dtype, D + 1) * (2 * D - 1) >= 0.25:
        return 0
    M = 1 << int(math.floor(math.log2(_INT32_MAX / max(D - 1, 1))))
    while M > 2 and M * (2 * D - 1) >= _MAX_FINITE[dtype] / 2:
        M //= 2
    return max(0, M // 2 - 1)


def a_priori(dtype: str, T: int, R: int, M: int) -> dict:
    """The a-priori picture of an evicted-cache run: the smallest score gap (M - T, the default key
    against the worst other cell), the certificate's error 2 e at the largest sum of |products|, whether
    the attention certifies at every step, and whether the head cells stay exact in the dtype -- always:
    the head is carried and read out as +-1 bits (the incrementer block of :mod:`.compile`), never as an
    integer in the residual, so no dtype limits it (format 1's scalar head + move needed |head| + 1 < 2^p)."""
    D = position_bits(R)
    err = 2 * error_coefficient(dtype, D + 1) * M * (2 * D - 1)
    gap = M - T
    return {"min_gap": gap, "error_bound": err, "attention_ok": gap > err and M * (2 * D - 1) < _MAX_FINITE[dtype],
            "head_exact": True}


# ---------------------------------------------------------------- run time (one machine; vmap for batches)

def init(S: int, d_head: int, d_v: int, jdtype, cdtype, layout: str, id_dtypes: dict) -> dict:
    """An empty evicting cache of S slots: keys (S, d_head) and values (S, d_v) (dense), or ids + recency
    per slot (packed); the live-slot count, the slot attended at the previous position, and the
    element-wise largest |key|."""
    if layout == "dense":
        # the keys as computed in the run's dtype, *held* in the accumulator dtype cdtype (every float16,
        # bfloat16 or float32 number is a float32 exactly, so these are the same numbers): the per-step
        # score pass then reads them as they are instead of converting all S keys at every step
        cache = {"keys": jnp.zeros((S, d_head), cdtype), "values": jnp.zeros((S, d_v), jdtype)}
    else:
        cache = {name: jnp.zeros((S,), dt) for name, dt in id_dtypes.items()}
        cache["rec"] = jnp.zeros((S,), jnp.int32)
    key_dtype = cdtype if layout == "dense" else jdtype
    cache.update(live=jnp.int32(0), last=jnp.int32(-1), last_key=jnp.zeros((d_head,), key_dtype),
                 kmax=jnp.zeros((d_head,), cdtype))
    return cache


_META = ("live", "last", "last_key", "kmax")


def capacity(cache: dict) -> int:
    """Slots of a (single or batched) cache."""
    return cache["rec"].shape[-1] if "rec" in cache else cache["values"].shape[-2]


def grow(cache: dict, S: int) -> dict:
    """The batched cache with S slots; the new slots are free."""
    def pad(name, a):
        if name in _META:
            return a
        return jnp.concatenate([a, jnp.zeros((a.shape[0], S - a.shape[1]) + a.shape[2:], a.dtype)], axis=1)
    return {name: pad(name, a) for name, a in cache.items()}


def _ids(cache, idx):
    return {name: cache[name][idx].astype(jnp.int32) for name in cache if name not in _META + ("rec",)}


def _slot_kv(tabs, cache, idx, layout):
    """Keys (C, d_head) and values (C, d_v) of slots idx (C,)."""
    if layout == "dense":
        return cache["keys"][idx], cache["values"][idx]
    rec = cache["rec"][idx]
    ids = _ids(cache, idx)
    return packed_mod.rebuild(tabs["keys"], ids, rec), packed_mod.rebuild(tabs["values"], ids, rec)


def store(cache: dict, tabs, token: dict, rec, key, value, q, rec_mask, layout: str, live_token) -> dict:
    """Put one token's key (d_head,) / value (d_v,) in the cache: over the slot attended at the previous
    position when the new key dominates the key there, else in the next free slot.

    New dominates old when they agree outside the recency columns and q_c (key_c - old_c) >= 0 on every
    recency column c, with q (d_head,) the query as computed in the run's dtype (its recency weights are
    constants, see :func:`dominance`). The sign of each product is exact (compared, not subtracted), and
    each product >= 0 gives q_rec . (key_rec - old_rec) >= 0 exactly; since :func:`dominance` makes q_c times the recency slope positive on every recency column, keys of one cell
    move the same way on all of them, so this is the same as the dot-product test. Identical keys
    (q_rec . 0 = 0) replace: the newest wins (see the module docstring)."""
    # the key attended at the previous position, kept from then: reading the slot arrays here, before
    # the in-place update, would make XLA copy them every step
    a, old = cache["last"], cache["last_key"]
    mask = jnp.asarray(rec_mask, bool)
    # signs by comparison (exact; a subtraction could flush a tiny difference to 0)
    qs = jnp.sign(q.astype(key.dtype))
    ds = (key > old).astype(key.dtype) - (key < old).astype(key.dtype)
    same = jnp.all(jnp.where(mask, qs * ds >= 0, key == old))
    replace = (a >= 0) & same
    # a finished machine stores nothing (out of range: dropped), so its slots never run out
    slot = jnp.where(live_token, jnp.where(replace, a, cache["live"]), capacity(cache))
    if layout == "dense":
        new = {"keys": cache["keys"].at[slot].set(key.astype(cache["keys"].dtype), mode="drop"),  # exact widening
               "values": cache["values"].at[slot].set(value, mode="drop")}
    else:
        new = {name: cache[name].at[slot].set(token[name].astype(cache[name].dtype), mode="drop")
               for name in cache if name not in _META + ("rec",)}
        new["rec"] = cache["rec"].at[slot].set(rec, mode="drop")
    kmax = jnp.where(live_token, jnp.maximum(cache["kmax"], jnp.abs(key).astype(cache["kmax"].dtype)), cache["kmax"])
    return {**cache, **new, "live": cache["live"] + jnp.where(live_token & ~replace, 1, 0), "kmax": kmax}


def top2(s, L: int = 128):
    """(best, runner-up, first slot of the best) of scores s (S,), in two levels (rows of L, then the
    winning row): a few passes over S instead of XLA's slow variadic argmax reduction. The runner-up
    equals the best when the best is tied."""
    S = s.shape[0]
    L = L if S % L == 0 else S
    s2 = s.reshape(S // L, L)
    rows = s2.max(axis=1)
    r = jnp.argmax(rows)  # the first row holding the maximum
    row = jax.lax.dynamic_index_in_dim(s2, r, 0, keepdims=False)
    c = jnp.argmax(row)
    in_row = jnp.where(jnp.arange(L) == c, -jnp.inf, row).max()
    others = jnp.where(jnp.arange(S // L) == r, -jnp.inf, rows).max()
    return row[c], jnp.maximum(in_row, others), (r * L + c).astype(jnp.int32)


def attend(cache: dict, tabs, q, layout: str, dtype: str) -> tuple[model.AttnState, jax.Array]:
    """Hardmax over the live slots of the cache (its capacity is the live count rounded up to the
    bucket, the rest masked): the scores (products and sums in the accumulator dtype, any order), the top
    slot (the first maximum), the runner-up; the top and runner-up scores rounded to the run's dtype
    (rounding is monotone, so these are the largest two rounded scores; where the rounded top is not
    strictly above the rounded runner-up the step is not certified, so the tie rule never decides a
    certified step), and the top slot's value; and the top slot's key. ``absdot`` holds sum_e |q_e| kmax_e, which bounds
    sum_e |q_e k_e| of every live key."""
    jdt = q.dtype
    acc = acc_dtype(dtype)
    S = capacity(cache)
    if layout == "dense":
        keys = cache["keys"]
    else:
        keys, _ = _slot_kv(tabs, cache, jnp.arange(S), layout)
    s = keys.astype(acc) @ q.astype(acc)
    s = jnp.where(jnp.arange(S) < cache["live"], s, -jnp.inf)
    best, second, arg = top2(s)
    top_key, val = _slot_kv(tabs, cache, arg[None], layout)
    cdt = cache["kmax"].dtype
    absdot = jnp.sum(jnp.abs(q).astype(cdt) * cache["kmax"])
    return model.AttnState(best.astype(jdt)[None], jnp.ones((1,), jdt), val[0][None, :].astype(jdt), arg[None],
                           second.astype(jdt)[None], absdot[None]), top_key[0]


def certified_gap(att: model.AttnState, coef: float, cdt):
    """True when the top score beats the runner-up by more than twice the rounding bound."""
    best, second = att.best[0].astype(cdt), att.second[0].astype(cdt)
    bound = 2 * coef * att.absdot[0].astype(cdt)
    return jnp.isfinite(best) & jnp.isfinite(bound) & (best - second > bound)


def describe_arithmetic(dtype: str) -> str:
    acc = "float64" if dtype == "float64" else "float32"
    return (f"q, k, v, residual, MLP and read-out in {dtype}; scores: {dtype} operands, products and sums in "
            f"{acc}, rounded to {dtype}; certified against (u + gamma_n) sum|q_e k_e|")


def check_not_hopeless(dtype: str, T: int, R: int, M: int) -> None:
    """Refuse before the run what cannot work: scores beyond the dtype's range, recencies beyond int32."""
    D = position_bits(R)
    if M * (2 * D - 1) >= _MAX_FINITE[dtype]:
        raise PrecisionError(f"--cache evict: the scores reach M (2D - 1) = {M * (2 * D - 1):,} beyond the largest "
                             f"{dtype} ({_MAX_FINITE[dtype]:g}); fewer steps or another dtype")
    if M * (D - 1) > _INT32_MAX:
        raise PrecisionError(f"--cache evict: {T:,} steps need the start token's recency M (D - 1) = "
                             f"{M * (D - 1):,} beyond int32")


def evict_envelope(dtype: str, R: int) -> int:
    """Steps every run at head range R certifies a priori with the evicting cache: the attention at any
    length up to :func:`evict_limit`; the head (+-1 bits from the incrementer block) is exact in every
    dtype, so it adds no limit (format 1's residual-scalar head capped bfloat16 at 2^8 - 2 steps)."""
    return evict_limit(dtype, R)
