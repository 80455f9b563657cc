"""The whole-step rounding-error bound: a certificate that the step computed in a low precision makes the
same decisions as exact (real) arithmetic on the same weights, for *any* weights.

Every quantity x^ the step computes carries a bound e (same shape) with |x^ - x| <= e element-wise, x the
value of exact arithmetic on the reference weights (the weights as float32 numbers -- a file's own values
-- or as float64 numbers for float64 runs) and on the exact token fields. The bounds are propagated
through the step with the standard forward error analysis:

* an affine map y = x W (+ b), n = nnz_c nonzero weights in column c: the input's error gives
  ``e_x |W|``, the weights' rounding to the run's dtype ``|x^| |W_dt - W|``, and the new rounding is
  ``gamma_n |x^| |W|`` (+ |b|), gamma_n = n u / (1 - n u) (Higham, Thm 3.5), in any summation order,
  fused or not, with u the unit roundoff of the run's dtype;
* **exact operations cost nothing**: when every product is a multiple of 2^-G (the input on the grid
  2^-F, F in {0, 2}, the weights on 2^-f_W) and the sum of |products| is <= 2^(p - G), every partial sum is
  representable, so the result is exact (the compiled weights: small integers and quarters);
* in bfloat16 and float16 (*a posteriori*): products of two such numbers are exact in float32, so the same
  map is evaluated once more in float32 and the rounding is ``|y^ - y32|`` (known exactly) plus
  float32's own ``gamma_n |x^| |W|`` (0 when float32 is exact by the grid rule);
* sums of two vectors (the residual additions): ``u (|a| + |b|)``, 0 on the grid rule;
* the embedding sum: the same rules over its terms (table rows and recency * e_recency), the recency's
  own rounding to the dtype (u |r|, 0 when representable);
* ReLU is 1-Lipschitz: the bound passes through unchanged, and is 0 where z^ <= -e (then z <= 0 too);
* hardmax attention returns a cached value: its bound is the largest bound of a value cached so far;
  a score's input error is <= e_q . kmax + (|q^| + e_q) . ekmax (kmax, ekmax: element-wise largest |key|
  and key bound so far), added to the score rounding the existing certificate already bounds.

Decisions are certified when their margin beats the bound: an argmax when ``l^_top - l^_j > e_top + e_j``
for every other j, a head bit when ``|b^| > e``, the undefined flag when ``|f^ - 1/2| > e``, the top key
when its gap beats twice the score bound. Every bound is padded for its own float32 evaluation.
An infinite or NaN bound certifies nothing. Softmax attention's leakage is not bounded here (the
compiled weights' structure absorbs it, see :mod:`.compile`): softmax runs are certified for the compiled
weights only (:func:`.decode.run` refuses an edited file with softmax).
"""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .envelope import MANTISSA_BITS

_GRIDS = (0, 2)          # input grids tried: integers, quarters
_MAX_WGRID = 6           # weights on 2^-f for f <= 6 (else no exactness by the grid rule)
_NO_GRID = 200.0


@dataclass(frozen=True)
class Arith:
    """The arithmetic of a run: its dtype, and how its rounding is bounded."""

    dtype: str

    @property
    def p(self) -> int:
        return MANTISSA_BITS[self.dtype]

    @property
    def u(self) -> float:
        return 2.0 ** -self.p

    @property
    def posteriori(self) -> bool:
        return self.dtype in ("float16", "bfloat16")

    @property
    def cdt(self):
        return jnp.float64 if self.dtype == "float64" else jnp.float32

    @property
    def pc(self) -> int:
        """Significand bits of the arithmetic whose rounding the a-priori part bounds."""
        return 24 if self.posteriori else self.p

    @property
    def uc(self) -> float:
        return 2.0 ** -self.pc

    @property
    def eta(self) -> float:
        """Absolute rounding of an underflowing operation (half the smallest subnormal), per operation."""
        return {"float64": 2.0 ** -1075, "float16": 2.0 ** -25}.get(self.dtype, 2.0 ** -150)

    @property
    def pad(self) -> float:
        """Relative padding of a bound for its own evaluation in the check dtype."""
        return 1 + 2.0 ** -10


def gamma(n, u: float):
    """gamma_n = n u / (1 - n u) element-wise (inf when n u >= 1)."""
    nu = n * u
    return jnp.where(nu < 1, nu / (1 - jnp.minimum(nu, 0.5)), jnp.inf)


def _offgrid(x, F: int):
    y = x * (2.0 ** F)
    return (y != jnp.round(y)).astype(x.dtype)


def _wgrid(w):
    """Smallest f <= 6 with every entry of w a multiple of 2^-f (as a float), else a large number."""
    fs = []
    for f in range(_MAX_WGRID + 1):
        y = w * (2.0 ** f)
        fs.append(jnp.where(jnp.all(y == jnp.round(y)), float(f), _NO_GRID))
    return jnp.min(jnp.stack(fs))


def _np_wgrid(w) -> float:
    for f in range(_MAX_WGRID + 1):
        y = w * (2.0 ** f)
        if np.all(y == np.round(y)):
            return float(f)
    return _NO_GRID


def _meta(w, batched, flat=None):
    """(f_W, nnz): the weights' grid exponent and the non-zero count of each column (the largest over a
    batch), of the matrix ``flat(w)`` (n, m) as the step uses it (numpy, once a run)."""
    w = np.asarray(w, np.float64)
    nz = (np.abs(w) > 0).astype(np.float64)
    one = (lambda a: flat(a) if flat else a)
    counts = [one(a) for a in (nz if batched else [nz])]
    nnz = np.max([c.sum(0) if c.ndim > 1 else c.sum(keepdims=True) for c in counts], axis=0)
    return {"fw": _np_wgrid(w), "nnz": nnz}


def affine(x, ex, w, y, ar: Arith, b=None, w_ref=None, b_ref=None, meta=None, bmeta=None):
    """The bound on y^ = x^ W (+ b) (already computed, shape (m,)), from x^ (n,) with bound ex (n,), W (n, m)
    in the run's dtype, and the reference weights (``w_ref``: float32 copies for bfloat16 / float16 runs);
    ``meta``: the weights' grid and column counts (:func:`_meta`)."""
    cdt = ar.cdt
    xc = x.astype(cdt)
    wc = w.astype(cdt)
    absw = jnp.abs(wc)
    rows = jnp.stack([jnp.abs(xc), ex.astype(cdt)] + [_offgrid(xc, F) for F in _GRIDS])
    sums = rows @ absw
    s, prop = sums[0], sums[1]
    nnz = jnp.asarray(meta["nnz"], cdt) if meta is not None else jnp.sum(absw > 0, axis=0).astype(cdt)
    fw = meta["fw"] if meta is not None else _wgrid(wc)
    fb = jnp.asarray(0.0, cdt)
    if b is not None:
        bc = b.astype(cdt)
        s = s + jnp.abs(bc)
        nnz = nnz + 1
        fb = bmeta["fw"] if bmeta is not None else _wgrid(bc)
    exact = jnp.zeros(s.shape, bool)
    for k, F in enumerate(_GRIDS):
        G = jnp.maximum(F + fw, fb)
        exact = exact | ((sums[2 + k] == 0) & (s * 2.0 ** G <= 2.0 ** ar.pc))
    rnd = jnp.where(exact, 0, gamma(nnz, ar.uc) * s + (nnz + 1) * ar.eta)
    if ar.posteriori:
        y32 = xc @ wc + (0 if b is None else b.astype(cdt))
        rnd = rnd + jnp.abs(y.astype(cdt) - y32)
    cast = 0
    if w_ref is not None:  # the dtype's weights against the reference weights
        cast = jnp.abs(xc) @ jnp.abs(wc - w_ref.astype(cdt))
        absw = jnp.maximum(absw, jnp.abs(w_ref.astype(cdt)))
        prop = ex.astype(cdt) @ absw
        if b is not None:
            cast = cast + jnp.abs(b.astype(cdt) - b_ref.astype(cdt))
    return (prop + cast + rnd) * ar.pad


def add(a, ea, b, eb, ar: Arith):
    """The bound on fl(a + b) (element-wise) from the bounds on a and b."""
    cdt = ar.cdt
    ac, bc = a.astype(cdt), b.astype(cdt)
    s = jnp.abs(ac) + jnp.abs(bc)
    exact = jnp.zeros(s.shape, bool)
    for F in _GRIDS:
        exact = exact | ((_offgrid(ac, F) == 0) & (_offgrid(bc, F) == 0) & (s * 2.0 ** F <= 2.0 ** ar.p))
    rnd = jnp.where(exact, 0, ar.u * s + ar.eta)
    return (ea + eb + rnd) * ar.pad


def relu(z, ez):
    """The bound on relu(z^): 0 where z^ <= -e (both sides are 0), else e (ReLU is 1-Lipschitz)."""
    return jnp.where((z <= -ez) & jnp.isfinite(ez), 0, ez)


def embed(params, token, ar: Arith, meta, ref=None):
    """x^ (d_model,) as :func:`.model.embed` computes it (the same operations in the same order), and its
    bound against exact arithmetic on the reference weights and the exact token fields."""
    cdt = ar.cdt
    x = params["bias"]
    terms = [x]
    refs = [None if ref is None else ref["bias"]]
    for name, table in params["embed"].items():
        row = table[token[name]]
        x = x + row
        terms.append(row)
        refs.append(None if ref is None else ref["embed"][name][token[name]])
    scalar = []
    for name, vec in params["embed_scalar"].items():
        r = token[name]
        rf = r.astype(vec.dtype)
        t = rf * vec
        x = x + t
        terms.append(t)
        refs.append(None if ref is None else ref["embed_scalar"][name])
        scalar.append((name, r, rf, vec, t, refs[-1]))
    T = jnp.stack([t.astype(cdt) for t in terms])  # (m, d)
    S = jnp.abs(T).sum(0)
    cnt = jnp.sum(T != 0, axis=0).astype(cdt)
    exact = cnt <= 1  # one non-zero term: the sum adds zeros only
    for F in _GRIDS:
        exact = exact | ((jnp.sum(_offgrid(T, F), axis=0) == 0) & (S * 2.0 ** F <= 2.0 ** ar.pc))
    err = jnp.where(exact, 0, gamma(jnp.maximum(cnt - 1, 0), ar.uc) * S + cnt * ar.eta)
    if ar.posteriori:
        x32 = T[0]
        for k in range(1, T.shape[0]):
            x32 = x32 + T[k]
        err = err + jnp.abs(x.astype(cdt) - x32)
    if ref is not None:  # table rows rounded to the dtype
        for t, tr in zip(terms[:len(terms) - len(scalar)], refs):
            err = err + jnp.abs(t.astype(cdt) - tr.astype(cdt))
    for name, r, rf, vec, t, vr in scalar:
        vc = vec.astype(cdt)
        rexact = rf.astype(jnp.int32) == r
        absr = jnp.abs(r.astype(cdt))
        prod = jnp.abs(rf.astype(cdt) * vc)  # |fl(r) v|
        # the recency rounded to the dtype, then the product's own rounding
        err = err + jnp.where(rexact, 0, ar.u * absr * (1 + ar.u)) * jnp.abs(vc)
        if ar.posteriori:
            err = err + jnp.abs(t.astype(cdt) - rf.astype(cdt) * vc) + ar.uc * prod
        else:
            fv = meta[f"embed_scalar.{name}"]["fw"]
            pexact = (jnp.round(rf.astype(cdt)) == rf.astype(cdt)) & (prod * 2.0 ** fv <= 2.0 ** ar.p)
            err = err + jnp.where(pexact, 0, ar.u * prod + ar.eta)
        if vr is not None:
            err = err + absr * jnp.abs(vc - vr.astype(cdt))
    return x, err * ar.pad


def argmax_certified(logits, e, ar: Arith):
    """True when the argmax of logits (vocab,) is the argmax of every vector within e of it."""
    cdt = ar.cdt
    l = logits.astype(cdt)
    top = jnp.argmax(l)
    others = jnp.arange(l.shape[-1]) != top
    ok = (l[top] - l) > (e[top] + e) * ar.pad
    return jnp.all(ok | ~others)


def sign_certified(v, e, ar: Arith, at=0.0):
    """True where v - at has the sign of every value within e of v (element-wise)."""
    return jnp.abs(v.astype(ar.cdt) - at) > e * ar.pad


def score_input_error(q, eq, kmax, ekmax):
    """Bound on |q^ . k^_j - q . k_j| for every cached key j: e_q . kmax + (|q^| + e_q) . ekmax."""
    cdt = eq.dtype
    return jnp.sum(eq * kmax) + jnp.sum((jnp.abs(q.astype(cdt)) + eq) * ekmax)


def reference(params, dtype: str):
    """The weights whose exact arithmetic a run of ``dtype`` is certified against, in the check dtype
    (float32 numbers, float64 for float64 runs); None where they are the run's own weights."""
    if dtype in ("float32", "float64"):
        return None
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)


def _flat_in(w):
    """(H, d, e) -> (d, H e), columns head-major (as q.reshape(-1) of an (H, e) query)."""
    return w.transpose(1, 0, 2).reshape(w.shape[1], -1)


def _flat_out(w):
    """(H, d_v, d) -> (H d_v, d)."""
    return w.reshape(-1, w.shape[-1])


def _col(w):
    return w[..., :, None] if w.ndim == 1 else w


def metas(params, axes=None, dtype: str = "float32") -> dict:
    """Per map of the step, the weights' (rounded to ``dtype``) grid and column counts (:func:`_meta`),
    once a run; ``axes``: per parameter leaf, 0 when it is stacked over a batch (its largest counts)."""
    params = jax.tree.map(lambda a: np.asarray(np.asarray(a).astype(jnp.dtype(dtype)), np.float64), params)
    leaves, struct = jax.tree.flatten(params)
    batched = jax.tree.unflatten(struct, [a == 0 for a in (axes or (None,) * len(leaves))])
    layer, bl = params["layers"][0], batched["layers"][0]
    out = {f"attn.{n}": _meta(layer["attn"][n], bl["attn"][n], _flat_in) for n in ("wq", "wk", "wv")}
    out["attn.wo"] = _meta(layer["attn"]["wo"], bl["attn"]["wo"], _flat_out)
    for block in ("mlp", "mlp2"):
        for n, w in layer.get(block, {}).items():
            out[f"{block}.{n}"] = _meta(w, bl[block][n], None if n.startswith("w") else (lambda a: a[None]))
    for group in ("readout", "readout_scalar"):
        for n, w in params[group].items():
            out[f"{group}.{n}"] = _meta(w, batched[group][n], _col)
    for n, w in params["embed_scalar"].items():
        out[f"embed_scalar.{n}"] = _meta(w, batched["embed_scalar"][n], lambda a: a[None])
    # maps that read the same input run as one (the columns side by side): the grid is the coarsest
    out["qkv"] = _join([out.pop(f"attn.{n}") for n in ("wq", "wk", "wv")])
    out["readout"] = _join([out.pop(f"{g}.{n}") for g in ("readout", "readout_scalar") for n in params[g]])
    return out


def _join(ms):
    return {"fw": max(m["fw"] for m in ms), "nnz": np.concatenate([m["nnz"] for m in ms])}


def qkv(layer, x, ex, q, k, v, ar: Arith, meta, ref=None):
    """Bounds (H e,) on the query, key and value of :func:`.model.qkv` (flattened head-major)."""
    a = layer["attn"]
    names = ("wq", "wk", "wv")
    w = jnp.concatenate([_flat_in(a[n]) for n in names], axis=1)
    wr = None if ref is None else jnp.concatenate([_flat_in(ref["attn"][n]) for n in names], axis=1)
    e = affine(x, ex, w, jnp.concatenate([q.reshape(-1), k.reshape(-1), v.reshape(-1)]), ar, w_ref=wr,
               meta=meta["qkv"])
    return tuple(jnp.split(e, np.cumsum([q.size, k.size])))


def attn_out(layer, heads, eh, out, ar: Arith, meta, ref=None):
    """Bound (d_model,) on :func:`.model.attn_out` of heads (H, d_v) with bound eh (H d_v,)."""
    wo = layer["attn"]["wo"]
    return affine(heads.reshape(-1), eh, _flat_out(wo), out, ar,
                  w_ref=None if ref is None else _flat_out(ref["attn"]["wo"]), meta=meta["attn.wo"])


def mlp(layer, x, ex, ar: Arith, meta, block: str = "mlp", ref=None):
    """``relu(x W_1 + b_1) W_2`` (+ b_2) as :func:`.model.mlp` computes it, and its bound."""
    m = layer[block]
    r = None if ref is None else ref[block]
    z = x @ m["w1"] + m["b1"]
    ez = affine(x, ex, m["w1"], z, ar, b=m["b1"], w_ref=None if r is None else r["w1"],
                b_ref=None if r is None else r["b1"], meta=meta[f"{block}.w1"], bmeta=meta[f"{block}.b1"])
    h = jax.nn.relu(z)
    eh = relu(z, ez)
    if "b2" in m:
        out = h @ m["w2"] + m["b2"]
        eo = affine(h, eh, m["w2"], out, ar, b=m["b2"], w_ref=None if r is None else r["w2"],
                    b_ref=None if r is None else r["b2"], meta=meta[f"{block}.w2"], bmeta=meta[f"{block}.b2"])
    else:
        out = h @ m["w2"]
        eo = affine(h, eh, m["w2"], out, ar, w_ref=None if r is None else r["w2"], meta=meta[f"{block}.w2"])
    return out, eo


def feed_forward(layer, x, ex, ar: Arith, meta, ref=None):
    """:func:`.model.feed_forward` (the same operations) with its bound."""
    out, eo = mlp(layer, x, ex, ar, meta, "mlp", ref)
    x, ex = x + out, add(x, ex, out, eo, ar)
    if "mlp2" in layer:
        out, eo = mlp(layer, x, ex, ar, meta, "mlp2", ref)
        x, ex = x + out, add(x, ex, out, eo, ar)
    return x, ex


def readout(params, x, ex, logits, ar: Arith, meta, ref=None):
    """Bounds on every read-out of :func:`.model.readout_logits` (same keys and shapes)."""
    keys = [(g, n) for g in ("readout", "readout_scalar") for n in params[g]]
    w = jnp.concatenate([_col(params[g][n]) for g, n in keys], axis=1)
    wr = None if ref is None else jnp.concatenate([_col(ref[g][n]) for g, n in keys], axis=1)
    e = affine(x, ex, w, jnp.concatenate([logits[n].reshape(-1) for _, n in keys]), ar, w_ref=wr,
               meta=meta["readout"])
    parts = jnp.split(e, np.cumsum([logits[n].size for _, n in keys])[:-1])
    return {n: part.reshape(logits[n].shape) for (_, n), part in zip(keys, parts)}
