"""A priori exactness of the whole step, for any weights: what lets a certificate trust a file it did not compile.

The per-step certificate of :mod:`.decode` decides the step's outputs from fixed margins (a read-out
argmax must win by 1/2, the head bits and the ``undefined`` flag must lie within 1/4 of their values) and
bounds the attention scores at run time. Those margins mean something only if the numbers they are read
from are the real-arithmetic ones: the embedding sum, q/k/v, the attention output, the residual
additions, both MLP blocks and the read-outs. For weights the toolkit compiles this holds by construction
(small integers and quarters, see :mod:`.compile`). For weights read from a file it is proved here,
before the run, or the run is refused.

**The argument.** Track, for every coordinate of every intermediate vector, a bound ``B`` on its magnitude
and a grid ``2^G`` it lies on (every value is an integer multiple of ``2^G``). A weight ``w = odd * 2^e``
lies on the grid ``2^e`` (:func:`lowest_bit`); a product of values on grids ``2^a`` and ``2^b`` lies on
``2^(a+b)``, a sum on the finer of its terms' grids. For ``y_j = sum_i x_i W_ij + b_j`` every product and
every partial sum, in any order of summation (XLA's, the packed layout's per-field sums), is bounded by
``B_y = sum_i B_i |W_ij| + |b_j|`` and lies on ``2^G_y``, ``G_y = min(G_i + e(W_ij), e(b_j))``. A
number on the grid ``2^G`` of magnitude at most ``2^(p + G)`` is exactly representable with a p-bit
significand (within the dtype's range), so when ``B_y <= 2^(p + G_y)`` no operation of the map rounds.
ReLU keeps a coordinate's bound and grid; hardmax attention returns one value row (the bound and grid of
``v``). The recency ``r`` (an integer up to ``recency_max``) must itself be exact (``r <= 2^p``). If every
map passes and every weight is representable in the dtype, the computed step *is* the real-arithmetic
step, apart from the attention scores, which the run-time certificate bounds (the full cache: integral
scores below ``2^p``; the evicting cache: the gap against the rounding bound).

A file that fails (an offset of 2^25 that cancels in real arithmetic but not in float32, a weight like 0.1
that bfloat16 cannot hold, a softmax run whose attention output lies on no grid) is refused with one line
naming the map, the dimension and the numbers. Compiled weights pass with room to spare
(:attr:`Report.utilisation` says how much).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import PrecisionError
from .envelope import MANTISSA_BITS

NONE = 1 << 30  # the "grid" of a coordinate that is always 0: no constraint
_SLACK = 1 + 2.0 ** -40  # the bounds are summed in float64: allow for their own rounding


def _range(dtype: str) -> tuple[int, float]:
    """(the smallest *normal* exponent, the largest finite number) of ``dtype``. Normal, because XLA on CPU
    flushes subnormal inputs and results to zero: a nonzero value on a grid 2^G >= 2^emin is normal, and so
    is every product and partial sum on that grid."""
    import jax.numpy as jnp

    info = jnp.finfo(getattr(jnp, dtype))
    return int(info.minexp), float(info.max)


def lowest_bit(a) -> np.ndarray:
    """Per entry the exponent e of its lowest set bit (``a = odd * 2^e``); :data:`NONE` for 0."""
    a = np.asarray(a, np.float64)
    m, e = np.frexp(np.abs(a))  # |a| = m 2^e, m in [0.5, 1): m 2^53 is an integer below 2^53
    mi = (m * 2.0 ** 53).astype(np.int64)
    low = mi & -mi
    tz = np.zeros(mi.shape, np.int64)
    nz = mi != 0
    tz[nz] = np.round(np.log2(low[nz].astype(np.float64))).astype(np.int64)  # low is a power of two
    return np.where(nz, e.astype(np.int64) - 53 + tz, NONE)


@dataclass
class Bounds:
    """Per coordinate a magnitude bound ``B`` and a grid exponent ``G`` (values are multiples of 2^G)."""

    B: np.ndarray
    G: np.ndarray


@dataclass
class Report:
    """The largest ``B / 2^(p + G)`` over every coordinate of every map (exact while <= 1), and where."""

    dtype: str
    utilisation: float
    where: str


class _Checker:
    def __init__(self, dtype: str):
        self.dtype, self.p = dtype, MANTISSA_BITS[dtype]
        self.min_exponent, self.max_finite = _range(dtype)
        self.worst = (0.0, "")

    def require(self, what: str, b: Bounds, names: list[str] | None = None) -> Bounds:
        live = b.B > 0
        if not np.any(live):
            return b
        G = np.where(live, b.G, 0)
        room = np.ldexp(1.0, np.clip(self.p + G, -1100, 1100))
        ratio = np.where(live, b.B * _SLACK / room, 0.0)
        low = live & (G < self.min_exponent)
        big = live & (b.B > self.max_finite)
        j = int(np.argmax(ratio))
        if ratio[j] > self.worst[0]:
            self.worst = (float(ratio[j]), f"{what} [{_label(names, j)}]")
        for bad, why in ((big, "beyond the largest {dtype}"), (low, "on a grid below {dtype}'s smallest normal number "
                                                                 "(subnormals are flushed to zero)")):
            if np.any(bad):
                i = int(np.argmax(bad))
                raise PrecisionError(self._message(what, b, i, names, why.format(dtype=self.dtype)))
        if ratio[j] > 1:
            raise PrecisionError(self._message(what, b, j, names, f"but {self.dtype} holds numbers on that grid "
                                                                  f"exactly only up to 2^{self.p + int(b.G[j])}"))
        return b

    def _message(self, what, b, j, names, why):
        return (f"the weights cannot be certified in {self.dtype}: {what} [{_label(names, j)}] can reach "
                f"{b.B[j]:.6g} on a "
                f"grid of 2^{int(b.G[j])}, {why}, so a step could round differently from real arithmetic; "
                f"run them in float64, or without the certificate")

    def affine(self, what: str, x: Bounds, W, bias=None, names=None) -> Bounds:
        W = np.asarray(W, np.float64)
        B = x.B @ np.abs(W)
        active = (W != 0) & (x.B[:, None] > 0)
        G = np.where(active, x.G[:, None] + lowest_bit(W), NONE).min(axis=0)
        if bias is not None:
            bias = np.asarray(bias, np.float64)
            B = B + np.abs(bias)
            G = np.minimum(G, lowest_bit(bias))
        return self.require(what, Bounds(B, G), names)

    def add(self, what: str, *terms: Bounds, names=None) -> Bounds:
        B = sum(t.B for t in terms)
        G = np.minimum.reduce([np.where(t.B > 0, t.G, NONE) for t in terms])
        return self.require(what, Bounds(np.asarray(B), G), names)


def _label(names: list[str] | None, j: int) -> str:
    """Coordinate ``j``'s name (a residual dimension), or ``unit j`` (a hidden unit, a head's column)."""
    return names[j] if names is not None and j < len(names) else f"unit {j}"


def _representable(name: str, a, dtype: str) -> None:
    """Refuse a weight the dtype cannot hold exactly (the run casts every weight to it)."""
    a = np.asarray(a, np.float64)
    nz = a != 0
    if not np.any(nz):
        return
    low = lowest_bit(a)
    top = np.frexp(np.abs(a))[1].astype(np.int64) - 1  # floor(log2 |a|)
    min_exponent, max_finite = _range(dtype)
    for bad, why in ((nz & (low < min_exponent), f"has bits below {dtype}'s smallest normal number "
                                                 "(XLA on CPU flushes subnormals to zero)"),
                     (nz & ((top - low + 1 > MANTISSA_BITS[dtype]) | (np.abs(a) > max_finite)),
                      f"{dtype} cannot represent exactly")):
        if np.any(bad):
            value = float(a[np.unravel_index(int(np.argmax(bad)), a.shape)])
            raise PrecisionError(f"the weights cannot be certified in {dtype}: {name} holds {value!r}, which {why}; "
                                 "run them in float64, or without the certificate")


def is_compiled(weights) -> bool:
    """Whether ``weights`` (a :class:`.weights.Weights`) hold exactly the arrays :func:`.compile.compile_machine`
    makes for the machine, step count and head range they name -- exact by construction (see :mod:`.compile`),
    so :func:`check_step` is not needed. Decided from the arrays themselves (recompiled and compared), never from
    a flag an edit could carry along."""
    from ..formats import parse_machine
    from .compile import compile_machine
    from .weights import NAMES, _get

    try:
        machine = parse_machine(weights.machine)
        cm = compile_machine(machine, weights.M - 1, weights.head_range, weights.n_states, weights.n_symbols)
    except Exception:  # no machine named, or one these weights cannot be compiled for: not compiled weights
        return False
    if cm.M != weights.M:
        return False
    return all(np.array_equal(np.asarray(_get(cm.params, path), np.float64), np.asarray(_get(weights.params, path)))
               for _, path in NAMES)


def check_step(params: dict, dtype: str, recency_max: int, softmax: bool = False,
               names: list[str] | None = None) -> Report:
    """Prove that one decoding step with ``params`` in ``dtype`` computes every value but the attention
    scores exactly, for every token the run can see (any table row, recencies 0..``recency_max``), or raise
    :class:`~tm_transformer.errors.PrecisionError` with one line saying where it fails. ``names``: the
    residual dimensions' names (for the message). Returns the largest utilisation ``B / 2^(p+G)``."""
    from .weights import NAMES, _get

    if softmax:
        raise PrecisionError("weights from a file are certified under hardmax only (softmax mixes the values, so "
                             "the attention output lies on no grid); drop the softmax, or the certificate")
    for name, path in NAMES:
        _representable(name, _get(params, path), dtype)
    c = _Checker(dtype)
    p = MANTISSA_BITS[dtype]
    rec = np.asarray(params["embed_scalar"]["recency"], np.float64)
    if np.any(rec != 0) and recency_max > 2 ** p:
        raise PrecisionError(f"the weights cannot be certified in {dtype}: the recency reaches {recency_max:,}, "
                             f"beyond the integers {dtype} holds exactly (2^{p}); fewer steps, or float32/float64")
    bias = np.asarray(params["bias"], np.float64)
    terms = [Bounds(np.abs(bias), np.where(bias != 0, lowest_bit(bias), NONE))]
    for table in params["embed"].values():
        t = np.asarray(table, np.float64)
        terms.append(Bounds(np.abs(t).max(axis=0), np.where(t != 0, lowest_bit(t), NONE).min(axis=0)))
    for vec in params["embed_scalar"].values():
        v = np.asarray(vec, np.float64)
        terms.append(Bounds(np.abs(v) * recency_max, np.where(v != 0, lowest_bit(v), NONE)))
    x = c.add("the embedding", *terms, names=names)
    layer = params["layers"][0]
    attn = layer["attn"]
    for h in range(np.shape(attn["wq"])[0]):
        c.affine("the query", x, np.asarray(attn["wq"])[h])
        c.affine("the key", x, np.asarray(attn["wk"])[h])
    out = []
    for h in range(np.shape(attn["wv"])[0]):
        v = c.affine("the value", x, np.asarray(attn["wv"])[h])  # hardmax: the output is one value row
        out.append(c.affine("the attention output", v, np.asarray(attn["wo"])[h], names=names))
    x = c.add("the residual after attention", x, *out, names=names)
    for block in ("mlp", "mlp2"):
        if block not in layer:
            continue
        m = layer[block]
        hidden = c.affine(f"the {block} hidden layer", x, m["w1"], m["b1"])  # relu keeps bound and grid
        y = c.affine(f"the {block} output", hidden, m["w2"], m.get("b2"), names=names)
        x = c.add(f"the residual after {block}", x, y, names=names)
    for group in ("readout", "readout_scalar"):
        for name, w in params[group].items():
            w = np.asarray(w, np.float64)
            c.affine(f"the read-out {name}", x, w if w.ndim == 2 else w[:, None])
    return Report(dtype, c.worst[0], c.worst[1])

