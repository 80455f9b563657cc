"""Multinomial counts by conditional binomial inversion down a binary tree of outcomes: one random word
per tree node, whatever the number of examples.

Outcomes 0..Q-1 are padded with zero-probability outcomes to 2^L and arranged as the leaves of a
complete binary tree; node i of level l covers outcomes [i 2^(L-l), (i + 1) 2^(L-l)). Given its count
r, a node's left child gets k ~ Binomial(r, q), q = P(left half) / P(node), and the right one r - k;
the children's counts are then split in turn. This is exactly the multinomial (the chain rule of the
multinomial over a nested partition); the counts of a context's leaves are its outcome counts.

Each binomial is drawn by inversion from one uint32 word u, with the thresholds of
:func:`experiments.reduced.binomial_thresholds`: T_j = round(2^32 F(j)), F the Binomial(r, q) CDF in
float64, and k = #{j < r : u >= T_j}, so P(k <= j) = T_j / 2^32 -- within 2^-32 of F(j) (the coin's
convention; a node's probability of any set of counts is exact to 2^-32 times the set's size, and the
joint distribution of the counts to the sum of that over the nodes). Only the thresholds strictly
inside (0, 2^32) matter: below them u >= 0 always holds, above them never; a table keeps, per split
probability q and count r, that window (about 13 standard deviations wide), and a fixed number of
bisection steps finds k in it.

Tables are per distinct q, rounded to 2^-44. That moves a CDF value by at most about
2^-45 / sqrt(2 pi q (1 - q) / r), below the 2^-32 rounding of the thresholds only while q (1 - q) is above
about r 2^-26 / (2 pi) (and a q under 2^-45 rounds to 0: an outcome never drawn). Every grid family is inside
that range (smallest q (1 - q): 3.9e-4 for the context families, whose counts stay <= 2^14 (bound 3.9e-5);
9.7e-4 for the sequence sources, bound 3.1e-4 even at r = 2^17).

A table holds only the counts its nodes can reach (:func:`count_limits`): a node of probability P never
holds much more than P rmax, and the limits are computed exactly from the windows themselves, so the rows
left out are never read. With that, the tables of 16 contexts of Dirichlet rows (240 distinct split
probabilities) fit in memory and are built in seconds (:func:`_rows`: one vectorised CDF call per chunk of
rows); a trial then costs one word and a bisection per node instead of a rejection sampler per outcome.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from collections import OrderedDict

import jax.numpy as jnp
import numpy as np
from scipy import stats
try:  # what stats.binom.cdf evaluates, without its per-call checks (scipy >= 1.14; the same values)
    from scipy.special._ufuncs import _binom_cdf  # pyright: ignore[reportAttributeAccessIssue]  (not in its stub)
except ImportError:  # older scipy: the public function, vectorised all the same
    _binom_cdf = stats.binom.cdf

TWO32 = 2 ** 32
MAX_TABLES = 256         # distinct split probabilities served by tables (more: the direct sampler)
MAX_ENTRIES = 64_000_000  # table entries in all (uint32): about 256 MB


def _round_q(q: float) -> float:
    return float(np.round(q * 2.0 ** 44) / 2.0 ** 44)


def levels(Q: int) -> int:
    return max(1, (Q - 1).bit_length())


def split_probabilities(probs: np.ndarray) -> np.ndarray:
    """probs (R, Q) -> (R, 2^L - 1) float64: the left-split probability q of every node, level by level
    (node (l, i) at column 2^l - 1 + i). A node of probability 0 gets q = 0 (its count is 0)."""
    probs = np.asarray(probs, dtype=np.float64)
    R, Q = probs.shape
    L = levels(Q)
    p = np.concatenate([probs, np.zeros((R, (1 << L) - Q))], 1)
    out = []
    for lev in range(L):
        blocks = p.reshape(R, 1 << lev, -1)  # (R, nodes, leaves per node)
        half = blocks.shape[-1] // 2
        left, total = blocks[..., :half].sum(-1), blocks.sum(-1)
        q = np.where(total > 0, left / np.where(total > 0, total, 1.0), 0.0)
        out.append(np.clip(q, 0.0, 1.0))
    return np.concatenate(out, 1)


TABLE_CACHE_ENTRIES = 100_000_000  # thresholds kept across counts (uint32: about 400 MB)
_tables: OrderedDict = OrderedDict()  # q -> (R, a, width, thr), least recently used first


def table(q: float, R: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inversion windows of Binomial(r, q) for every r in 0..R: (a (R + 1,), width (R + 1,), thresholds)
    with row r's thresholds T_a .. T_(a + width - 1) (the ones in (0, 2^32)) at offset sum(width[:r]);
    T_j = 0 for j < a.

    Rows do not depend on R, so one table per q is kept (the largest R asked for so far): a smaller R reads
    its prefix, a larger one computes only the new rows (a search's counts ask for several R)."""
    kept = _tables.get(q)
    if kept is not None and kept[0] >= R:
        _tables.move_to_end(q)
        _, a, width, thr = kept
        return a[:R + 1], width[:R + 1], thr[:int(width[:R + 1].sum())]
    r0 = 1 if kept is None else kept[0] + 1
    a = np.zeros(R + 1, np.int64)
    width = np.zeros(R + 1, np.int64)
    rows = [] if kept is None else [kept[3]]
    if kept is not None:
        a[:r0], width[:r0] = kept[1], kept[2]
    if R >= r0:
        a[r0:], width[r0:], t = _rows(q, r0, R)
        rows.append(t)
    thr = np.concatenate(rows).astype(np.uint32) if rows else np.zeros(0, np.uint32)
    for x in (a, width, thr):  # shared by every later caller: read-only
        x.flags.writeable = False
    _tables[q] = (R, a, width, thr)
    _tables.move_to_end(q)
    while len(_tables) > 1 and sum(t[3].size for t in _tables.values()) > TABLE_CACHE_ENTRIES:
        _tables.popitem(last=False)
    return a, width, thr


def _row(q: float, r: int) -> tuple[int, int, np.ndarray]:
    """Row r >= 1 of :func:`table`: (a, width, the thresholds strictly inside (0, 2^32), ascending)."""
    mu, sd = r * q, math.sqrt(r * q * (1 - q))
    lo, hi = max(0, int(mu - 12 * sd) - 12), min(r - 1, int(mu + 12 * sd) + 12)
    while True:
        j = np.arange(lo, hi + 1)
        T = np.floor(stats.binom.cdf(j, r, q) * float(TWO32) + 0.5)
        if (lo == 0 or T[0] == 0) and (hi == r - 1 or T[-1] >= TWO32):
            break
        lo, hi = max(0, lo - 64), min(r - 1, hi + 64)  # never seen: the window was too narrow
    inside = (T > 0) & (T < TWO32)
    return lo + int((T == 0).sum()), int(inside.sum()), T[inside]


ROWS_CHUNK = 1 << 22  # CDF values per vectorised call (32 MB of float64)
FIRST_WINDOW_SD = 8  # the first window: mean +- this many standard deviations (+- 12); wider where needed


def _rows(q: float, r0: int, R: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows r0..R of :func:`table` at once: (a, width, thresholds of the rows in order). The same CDF
    values as :func:`_row` (scipy's binomial CDF, one vectorised call per chunk of rows, so the per-call
    overhead is paid once, not per row) in a narrower first window (FIRST_WINDOW_SD); a chunk where some
    row's window turns out too narrow is redone row by row by :func:`_row`."""
    r = np.arange(r0, R + 1, dtype=np.int64)
    mu, sd = r * q, np.sqrt(r * q * (1 - q))
    lo = np.maximum(0, (mu - FIRST_WINDOW_SD * sd).astype(np.int64) - 12)
    hi = np.minimum(r - 1, (mu + FIRST_WINDOW_SD * sd).astype(np.int64) + 12)
    n = hi - lo + 1
    a, width, out = np.zeros(r.size, np.int64), np.zeros(r.size, np.int64), []
    start = 0
    while start < r.size:  # chunks of whole rows, about ROWS_CHUNK values each
        stop = start + max(1, int(np.searchsorted(np.cumsum(n[start:]), ROWS_CHUNK)))
        stop = min(stop, r.size)
        cn = n[start:stop]
        rid = np.repeat(np.arange(stop - start), cn)
        first = np.concatenate([[0], np.cumsum(cn)[:-1]])
        j = lo[start:stop][rid] + (np.arange(rid.size) - first[rid])
        T = np.floor(_binom_cdf(j.astype(np.float64), r[start:stop][rid].astype(np.float64), q) * float(TWO32) + 0.5)
        last = first + cn - 1
        ok = (((lo[start:stop] == 0) | (T[first] == 0)) & ((hi[start:stop] == r[start:stop] - 1) | (T[last] >= TWO32)))
        inside = (T > 0) & (T < TWO32)
        if ok.all():
            a[start:stop] = lo[start:stop] + np.bincount(rid, weights=T == 0, minlength=stop - start).astype(np.int64)
            width[start:stop] = np.bincount(rid, weights=inside, minlength=stop - start).astype(np.int64)
            out.append(T[inside])
        else:  # rare: some window was too narrow; redo this chunk row by row with the wide windows
            for i in range(start, stop):
                a[i], width[i], t = _row(q, int(r[i]))
                out.append(t)
        start = stop
    return a, width, (np.concatenate(out) if out else np.zeros(0))


@dataclass(frozen=True)
class Plan:
    """What a jitted batch needs: ``arrays`` = (qi (rows, nodes) int32, the table index per node of each row
    of the plan's probabilities (one row -- the hybrid's uniform top levels -- serves every root); a, off, width
    (tables * (rmax + 1),) int32, per table and count r the window's first k, its offset in thr and its
    width (zero past the table's count limit); thr (entries,) uint32), as device arrays, zero-padded."""
    arrays: tuple
    rmax: int
    steps: int          # bisection steps: 2^steps - 1 >= every width
    L: int


def entries_estimate(qs, R) -> float:
    """About how many thresholds the tables of split probabilities ``qs`` hold up to count R (one R, or
    one per q): a row's thresholds strictly inside (0, 2^32) span about 13 standard deviations (measured on
    the Dirichlet rows of the C1 grid with :func:`count_limits`: 0.9-0.95 of this)."""
    Rs = np.broadcast_to(np.asarray(R, dtype=np.float64), (len(qs),))
    return sum(13 * math.sqrt(max(q * (1 - q), 1e-4)) * (2 / 3) * r ** 1.5 + r for q, r in zip(qs, Rs))


def node_masses(probs: np.ndarray) -> np.ndarray:
    """probs (R, Q) -> (R, 2^L - 1): the probability of every node's outcomes, laid out as
    :func:`split_probabilities`."""
    probs = np.asarray(probs, dtype=np.float64)
    R, Q = probs.shape
    L = levels(Q)
    p = np.concatenate([probs, np.zeros((R, (1 << L) - Q))], 1)
    return np.concatenate([p.reshape(R, 1 << lev, -1).sum(-1) for lev in range(L)], 1)


def count_limits(q: np.ndarray, rmax: int) -> dict:
    """q (R, 2^L - 1) rounded split probabilities, roots <= rmax -> {q: the largest count a node split
    by q can hold}, exactly, from the tables themselves (which it builds): a root holds at most rmax; a
    node that holds at most U gives its left child at most max_(c <= U) (a_c + width_c) -- inversion never
    returns more than a + width -- and its right child at most max_(c <= U) (c - a_c). A table needs no
    row above its limit: those counts never occur."""
    rows, nodes = q.shape
    U = np.full((rows, 1), int(rmax), np.int64)
    need: dict = {}
    for lev in range(int(math.log2(nodes + 1))):
        ql = q[:, (1 << lev) - 1:(1 << (lev + 1)) - 1]
        left, right = np.zeros_like(U), np.zeros_like(U)
        for v in np.unique(ql).tolist():
            sel = ql == v
            need[v] = max(need.get(v, 0), int(U[sel].max()))
            a, width, _ = table(v, need[v])
            left[sel] = np.maximum.accumulate(a + width)[U[sel]]
            right[sel] = np.maximum.accumulate(np.arange(a.size) - a)[U[sel]]
        U = np.stack([left, right], -1).reshape(rows, -1)
    return need


def _limit_estimate(mass: float, rmax: int) -> float:
    """About the largest count of a node of probability ``mass`` (for sizing before any table is built)."""
    return min(rmax, mass * rmax + 8 * math.sqrt(mass * rmax) + 16)


PLANS_KEPT = 16  # a plan's arrays are copies of its tables on the device
_plans: dict = {}


def plan(probs: np.ndarray, rmax: int) -> Plan | None:
    """A plan for rows ``probs`` (R, Q) with counts up to ``rmax``, or None when the tables would be too
    many or too large (the caller then draws directly). Each table holds only the counts its nodes can
    reach (:func:`count_limits`): a node of probability P holds about P rmax at most. Cached (the last few)."""
    probs = np.asarray(probs, dtype=np.float64)
    key = (probs.shape, probs.tobytes(), int(rmax))
    if key in _plans:
        return _plans[key]
    q = np.vectorize(_round_q)(split_probabilities(probs))
    mass = node_masses(probs)
    distinct = sorted(set(q.ravel().tolist()))
    largest = {v: _limit_estimate(float(mass[q == v].max()), rmax) for v in distinct}
    if len(distinct) > MAX_TABLES or entries_estimate(distinct, [largest[v] for v in distinct]) > MAX_ENTRIES:
        out = None
    else:
        out = _plan(tuple(distinct), int(rmax), q)
    if len(_plans) >= PLANS_KEPT:
        _plans.pop(next(iter(_plans)))
    _plans[key] = out
    return out


def _pad(x: np.ndarray, at_least: int = 0) -> np.ndarray:
    """x padded with zeros to a power of two, at least ``at_least`` long."""
    size = 1 << max(0, (max(x.size, at_least) - 1).bit_length())
    return np.concatenate([x, np.zeros(size - x.size, x.dtype)])


# plans of one rmax share compiled shapes up to this many tables (index arrays) and this many q = 1/2 tables'
# worth of thresholds, at most SHARED_CAP thresholds (16 MB): padding is zeros, never read
SHARED_TABLES, SHARED_THRESHOLDS, SHARED_CAP = 64, 4, 1 << 22


def _plan(distinct: tuple, rmax: int, q: np.ndarray) -> Plan:
    index = {v: i for i, v in enumerate(distinct)}
    qi = np.vectorize(index.__getitem__)(q).astype(np.int32)
    limits = count_limits(q, rmax)
    a, width, thr, off = [], [], [], []
    base = 0
    for v in distinct:
        ta, tw, tt = table(v, limits[v])
        # rows past the limit are never read (count_limits); they are padding so that every table has rmax + 1
        pad = np.zeros(rmax - limits[v], np.int64)
        a.append(np.concatenate([ta, pad]))
        width.append(np.concatenate([tw, pad]))
        off.append(base + np.concatenate([[0], np.cumsum(tw)[:-1], pad]))
        thr.append(tt)
        base += tt.size
    width_all = np.concatenate(width)
    # enough bisection steps for any q at this rmax (the widest windows are q = 1/2's), so that plans of
    # one rmax share their compiled shape
    steps = max(1, int(width_all.max(initial=0)).bit_length(), int(table(0.5, rmax)[1].max(initial=0)).bit_length())
    L = int(math.log2(q.shape[1] + 1))
    # array lengths padded (never read there) to powers of two, and at least to SHARED_TABLES tables' worth,
    # so that the grid points of one rmax share compiled shapes whatever their tables
    rows = SHARED_TABLES * (rmax + 1)
    index = [_pad(np.concatenate(x).astype(np.int32), rows) for x in (a, off)] + [_pad(width_all.astype(np.int32), rows)]
    thr = _pad(np.concatenate(thr + [np.zeros(1, np.uint32)]), min(SHARED_CAP, SHARED_THRESHOLDS * table(0.5, rmax)[2].size))
    arrays = tuple(jnp.asarray(x) for x in (qi, *index, thr))
    return Plan(arrays, rmax, steps, L)


def _take(table, index):
    """table[index] for indices known to be in bounds (no clamping code in the gather)."""
    return table.at[index].get(mode="promise_in_bounds")


def counts(words: jnp.ndarray, roots: jnp.ndarray, qi, a, off, width, thr, rmax: int, steps: int,
           L: int) -> jnp.ndarray:
    """words (R * (2^L - 1),) uint32, roots (R,) int32 (each <= rmax) -> (R, 2^L) int32 counts, row r
    Multinomial(roots[r], the row's probabilities) (padded outcomes get 0). Node (l, i) of row r reads
    word r (2^L - 1) + 2^l - 1 + i; qi (R or 1, 2^L - 1) picks its table."""
    R = roots.shape[0]
    nodes = (1 << L) - 1
    u_all = words.reshape(R, nodes)
    c = roots.astype(jnp.int32)[:, None]
    last = thr.shape[0] - 1
    for lev in range(L):
        lo, hi = (1 << lev) - 1, (1 << (lev + 1)) - 1
        u = u_all[:, lo:hi]
        row = qi[:, lo:hi] * (rmax + 1) + c  # (R, nodes at this level)
        o, w = _take(off, row), _take(width, row)
        pos = jnp.zeros_like(row)
        for s in reversed(range(steps)):  # pos = #{window thresholds <= u}, by bisection
            cand = pos + (1 << s)
            t = _take(thr, jnp.minimum(o + cand - 1, last))
            pos = jnp.where((cand <= w) & (t <= u), cand, pos)
        k = _take(a, row) + pos
        c = jnp.stack([k, c - k], -1).reshape(R, -1)
    return c
