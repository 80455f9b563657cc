"""The evicting cache: keep only the keys hard attention can still pick.

**Dominance.** With key columns that read either the token's *cell* field or the recency scalar (or a
constant), two tokens that wrote the same cell have keys that agree outside the recency columns; if the
query's weight on every recency column times the key's recency slope is positive, the newer key scores
strictly more than the older one for *every* query. The older key can never be the hardmax top again, so
dropping it is an exact rewrite of the attention. :func:`dominance` decides this from the weights
(through the packed plan of :mod:`.packed`, i.e. from W_q, W_k and the embeddings) and refuses weights for
which it does not hold, naming why.

**At run time** (:func:`store`, per machine, inside the jitted step): each token's key goes into the slot
of its cell id (the ``write_pos`` field), over the older key of that cell -- the one hardmax can no longer
pick (the decoder feeds every cell id with a non-decreasing recency). Only writes, so the slot arrays are
updated in place, batched or single. Attention (:func:`attend`) bounds every block of slots by the box of
its keys, visits blocks in the order of their bound and skips the rest once none can reach the best score
found, so a step costs O(slots / L + L) for blocks of L, not O(steps) or O(cells visited).

**Tie rule.** Two keys of one cell whose recencies round to the same value in a low precision (bfloat16
beyond recency 256) are identical vectors, but they may carry *different values*: a value is the symbol
written, and the cell may have been rewritten with another symbol in between. The evicting cache keeps
the newer one (it writes over the older key of the cell), i.e. ties between *identical* keys go to the latest token. That
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
SLOT_FIELD = "write_pos"  # the token field whose id is a key's slot (the cell the token wrote)
_INT32_MAX = 2 ** 31 - 1
_MAX_FINITE = {"float16": 65504.0, "bfloat16": 3.39e38, "float32": 3.4e38, "float64": 1.79e308}


@dataclass(frozen=True)
class EvictPlan:
    """What the run-time eviction needs, decided from the weights: the token field whose id is a key's
    slot (the written cell) and the key width."""

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
    if cells != {SLOT_FIELD}:
        # the slot rule needs every id's recency non-decreasing along the token stream, which the decoder
        # guarantees for the written cell only (the start token holds head 0, state 0 and symbol 0 at the
        # recency M (D - 1), above every later step's)
        raise ToolkitError(f"--cache evict needs the keys to read the written cell ({SLOT_FIELD!r}) outside the "
                           f"recency, not {next(iter(cells))!r}: a newer token of the same id could score less "
                           f"than an older one; use --cache full")
    rec_cols = [c for c, (kind, _, _) in enumerate(plan.key_sources) if kind == "scalar"]
    if not rec_cols:
        raise ToolkitError("--cache evict needs a recency column in the keys (none reads the recency scalar); "
                           "use --cache full")
    live = packed_mod._live_rows(params)
    bias = _in_dtype(params["bias"], dtype)
    scale = _in_dtype(params["embed_scalar"]["recency"], dtype)
    tiny = float(jnp.finfo(jnp.dtype(dtype or "float64")).tiny)
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
    return EvictPlan(next(iter(cells)), int(wk.shape[-1]))


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

def block_size(S: int) -> int:
    """Slots per block for a cache of S slots: the power of two nearest sqrt(2 S) (a step scores every
    block's bound, S / L of them, at about twice the cost of a key's score, and one or two blocks' keys),
    between 16 and 1024."""
    return 1 << min(10, max(4, round(math.log2(max(S, 2) * 2) / 2)))


def init(S: int, L: int, d_head: int, d_v: int, jdtype, cdtype, layout: str, id_dtypes: dict) -> dict:
    """An empty evicting cache of S slots (padded to whole blocks of L): per slot the key (S, d_head) and
    value (S, d_v) (dense), or the token's ids and recency (packed), and whether it is in use; per block
    (S / L of them) the element-wise largest and smallest key ever stored in it (the box that bounds every
    score of the block) and whether it is in use; the element-wise largest |key|."""
    NB = -(-S // L)
    S = NB * L
    if layout == "dense":
        # a slot's key and value in one column, as computed in the run's dtype and *held* in the accumulator
        # dtype cdtype (every float16, bfloat16 or float32 number is a float32 exactly, so these are the
        # same numbers): the score pass reads keys as they are; one array written per step is updated in
        # place (a separate value array was copied by XLA:CPU at every step); column-major, so a block's
        # scores are d_head multiply-adds of L-vectors
        cache = {"kv": jnp.zeros((d_head + d_v, S), cdtype)}
    else:
        cache = {name: jnp.zeros((S,), dt) for name, dt in id_dtypes.items()}
        cache["rec"] = jnp.zeros((S,), jnp.int32)
    big = jnp.finfo(cdtype).max
    # the boxes column-major, (d_head, NB): the bound pass then runs along the blocks (a sum over d_head
    # rows of NB-vectors), not d_head-long reductions per block
    cache.update(used=jnp.zeros((S,), bool), hi=jnp.full((d_head, NB), -big, cdtype),
                 lo=jnp.full((d_head, NB), big, cdtype), block_used=jnp.zeros((NB,), bool),
                 kmax=jnp.zeros((d_head,), cdtype))
    return cache


_META = ("used", "hi", "lo", "block_used", "kmax")


def capacity(cache: dict) -> int:
    """Slots of a (single or batched) cache."""
    return cache["used"].shape[-1]


def slots_in_use(cache: dict):
    """(B,) or (): keys held (one per distinct cell id written)."""
    return jnp.sum(cache["used"], axis=-1)


def _ids(cache, idx):
    return {name: cache[name][idx].astype(jnp.int32) for name in cache if name not in _META + ("rec",)}


def _slot_kv(tabs, cache, idx, layout):
    """Keys (C, d_head) and values (C, d_v) of slots idx (C,)."""
    if layout == "dense":
        d = cache["kmax"].shape[-1]
        cols = cache["kv"][:, idx].T
        return cols[:, :d], cols[:, d:]
    rec = cache["rec"][idx]
    ids = _ids(cache, idx)
    return packed_mod.rebuild(tabs["keys"], ids, rec), packed_mod.rebuild(tabs["values"], ids, rec)


def store(cache: dict, token: dict, cell_field: str, rec, key, value, layout: str, live_token) -> dict:
    """Put one token's key (d_head,) / value (d_v,) in the slot of its cell id ``token[cell_field]``,
    over the key already there: the newest key of each cell, the only one hardmax can pick.

    Why that is exact: the keys read no token field but the cell id outside the recency columns
    (:func:`dominance`, from the weights), so two keys of one cell differ only there; the decoder feeds
    each cell id with a recency at least that of every earlier token of the same id (padding -M, then the
    start token M (D - 1) on the ``none`` id; the initial tape 0, then step t's token t on its cell); and
    :func:`dominance` makes the query's recency weight times the key's recency slope positive, so the
    newer key scores at least as much for every query (identical keys: the newest wins, see the module
    docstring). Only writes, no read of the slot arrays before them (a read there makes XLA copy the
    arrays every step): the block box grows with a scatter-max / scatter-min. A finished machine stores
    nothing (its index is out of range: dropped)."""
    S = capacity(cache)
    L = S // cache["block_used"].shape[-1]
    slot = jnp.where(live_token, token[cell_field].astype(jnp.int32), S)
    block = slot // L
    if layout == "dense":
        row = jnp.concatenate([key, value]).astype(cache["kv"].dtype)  # exact widening
        new = {"kv": cache["kv"].at[:, slot].set(row, mode="drop")}
    else:
        new = {name: cache[name].at[slot].set(token[name].astype(cache[name].dtype), mode="drop")
               for name in cache if name not in _META + ("rec",)}
        new["rec"] = cache["rec"].at[slot].set(rec, mode="drop")
    wide = key.astype(cache["hi"].dtype)
    kmax = jnp.where(live_token, jnp.maximum(cache["kmax"], jnp.abs(wide)), cache["kmax"])
    return {**cache, **new, "used": cache["used"].at[slot].set(True, mode="drop"),
            "hi": cache["hi"].at[:, block].max(wide, mode="drop"), "lo": cache["lo"].at[:, block].min(wide, mode="drop"),
            "block_used": cache["block_used"].at[block].set(True, mode="drop"), "kmax": kmax}


def block_bounds(cache: dict, q_acc):
    """(NB,) an upper bound of every score in each block, in the accumulator dtype: sum_e max(q_e hi_e,
    q_e lo_e) over the block's key box (-inf for an empty block). Computed with the same kind of sum as a
    score, so it is within the score's rounding bound of the real-arithmetic bound."""
    return jnp.where(cache["block_used"], _dot_columns(q_acc, cache["hi"], cache["lo"]), -jnp.inf)


def _dot_columns(q, hi, lo=None):
    """sum_e q_e a_e over the rows a_e of (d, N) arrays, as d multiply-adds of N-vectors (a matrix-vector
    product or a reduction over a short axis is several times slower on XLA:CPU); with ``lo``, the box
    bound sum_e max(q_e hi_e, q_e lo_e) (>= 0 terms on an empty block's sentinels)."""
    def term(e):
        return q[e] * hi[e] if lo is None else jnp.maximum(q[e] * hi[e], q[e] * lo[e])

    out = term(0)
    for e in range(1, q.shape[0]):
        out = out + term(e)
    return out


def attend(cache: dict, tabs, q, layout: str, dtype: str, coef: float,
           skip: bool = True) -> tuple[model.AttnState, jax.Array]:
    """Hardmax over the cache's keys, visiting blocks of slots in the order of their score bound and
    stopping once no unvisited block can reach the best score found (``skip``; otherwise every block in
    use is visited -- the exhaustive pass the tests compare with).

    Scores: products and sums in the accumulator dtype (any order); the top slot is the first maximum (the
    lowest slot); the top rounded to the run's dtype, the runner-up kept as computed. A skipped block's bound U^
    enters the runner-up: with e = coef sum_e |q_e| kmax_e, every skipped key's real score is <= U^ + e,
    so the gap certificate best - runner-up > 2 e (:func:`certified_gap`) stays sound. The stop rule
    (every unvisited bound below best - 2 e) keeps every skipped key's *computed* score below the best
    one (it is within gamma_n sum|q_e k_e| < e of the real score, which is <= U <= U^ + e; e includes the
    run dtype's u >= the accumulator's, which covers evaluating best - 2 e), so the top slot is the
    exhaustive pass's. Returns the attention state (``second`` held in the
    check dtype: it may be a bound, never rounded down) and the number of blocks visited."""
    jdt = q.dtype
    acc = acc_dtype(dtype)
    qa = q.astype(acc)
    S = capacity(cache)
    NB = cache["block_used"].shape[-1]
    L = S // NB
    cdt = cache["kmax"].dtype
    absdot = jnp.sum(jnp.abs(q).astype(cdt) * cache["kmax"])
    margin = (2 * coef * absdot).astype(acc)
    bound = block_bounds(cache, qa)
    lanes = jnp.arange(L)

    def visit(state):
        best, second, arg, seen, visits, _ = state
        b = jnp.argmax(jnp.where(seen, -jnp.inf, bound)).astype(jnp.int32)
        first = b * L
        if layout == "dense":
            keys = jax.lax.dynamic_slice(cache["kv"], (jnp.int32(0), first), (qa.shape[0], L))  # (d_head, L)
        else:
            idx = first + lanes  # the block's keys only (its values are not needed to score it)
            keys = packed_mod.rebuild(tabs["keys"], _ids(cache, idx), cache["rec"][idx]).T
        used = jax.lax.dynamic_slice_in_dim(cache["used"], first, L)
        s = jnp.where(used, _dot_columns(qa, keys.astype(acc)), -jnp.inf)  # products, sums in acc (any order)
        c = jnp.argmax(s).astype(jnp.int32)
        top, slot = s[c], first + c
        rest = jnp.where(lanes == c, -jnp.inf, s).max()
        wins = (top > best) | ((top == best) & (slot < arg))
        second = jnp.where(wins, jnp.maximum(best, rest), jnp.maximum(second, top))
        best, arg = jnp.where(wins, top, best), jnp.where(wins, slot, arg)
        seen = seen.at[b].set(True)
        left = jnp.where(seen, -jnp.inf, bound).max()
        more = (left > -jnp.inf) & ((left >= best - margin) | (not skip))
        return best, second, arg, seen, visits + 1, more

    start = (jnp.array(-jnp.inf, acc), jnp.array(-jnp.inf, acc), jnp.int32(S), jnp.zeros((NB,), bool),
             jnp.int32(0), jnp.any(cache["block_used"]))
    best, second, arg, seen, visits, _ = jax.lax.while_loop(lambda st: st[-1], visit, start)
    left = jnp.where(seen, -jnp.inf, bound).max()
    # the runner-up as computed, *not* rounded to the run's dtype: a real score is within gamma_n
    # sum|q_e k_e| < e of it, so the certificate holds, and no rounding can push it to -inf (a float16
    # runner-up beyond -65504 did, and certified a wrong top)
    second = jnp.maximum(second.astype(cdt), left.astype(cdt))
    arg = jnp.minimum(arg, S - 1)
    _, val = _slot_kv(tabs, cache, arg[None], layout)
    return model.AttnState(best.astype(jdt)[None], jnp.ones((1,), jdt), val[0][None, :].astype(jdt), arg[None],
                           second[None], absdot[None]), visits


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
