"""The packed cache: token ids instead of key/value vectors, with keys and values rebuilt *from the weights*.

A cached token's key is ``k = x W_k`` with ``x = bias + sum_f E_f[id_f] + r e_r`` (:func:`.model.embed`).
When every key column ``c`` reads at most one *live* residual row ``i(c)`` (a row some embedding can make
non-zero) -- true of the compiled machines, where key column j reads the ``kbits[j]`` row and the last
column the ``recency`` row -- the dot product has a single non-zero term, so in any float dtype

    k_c = x_{i(c)} * W_k[i(c), c]        (one rounding, the same one the dense dot product makes)

and ``x_{i(c)}`` is the same element-wise sum :func:`.model.embed` computes, restricted to the rows
``i(c)``. Values likewise with ``W_v``. So the cache stores, per token, only the ids of the categorical
fields that feed those rows (``write_pos`` and ``symbol`` for compiled machines: 3 bytes a token), the
recency is the token's own field (read from the prompt, or ``j - P + 1`` for the token generated at
position j, exactly what the decoder fed in), and each chunk of keys is rebuilt from the run's weight
arrays in the run's dtype: bit for bit the keys and values of the dense layout (tested). Weights that
do not factor this way (a user's edited W_k reading two live rows into one column) are refused for
this layout, with the column named; the dense layout runs any weights.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ToolkitError


@dataclass(frozen=True)
class PackedPlan:
    """Per key and value column: the one live residual row it reads and that row's one source (a
    categorical token field, a scalar field, or the bias); the fields the cache must hold."""

    fields: tuple[str, ...]                       # categorical token fields stored per token
    key_sources: tuple[tuple[str, str, int], ...]    # per key column: (kind, name, row); kind "none" for 0
    value_sources: tuple[tuple[str, str, int], ...]


def _live_rows(params) -> np.ndarray:
    """(d_model,) bool: rows some token's embedding can make non-zero."""
    live = np.asarray(params["bias"]) != 0
    for table in params["embed"].values():
        live |= np.any(np.asarray(table) != 0, axis=0)
    for vec in params["embed_scalar"].values():
        live |= np.asarray(vec) != 0
    return live


def _row_sources(params, row: int) -> list[tuple[str, str]]:
    out = [("field", f) for f, t in params["embed"].items() if np.any(np.asarray(t)[:, row] != 0)]
    out += [("scalar", f) for f, v in params["embed_scalar"].items() if np.asarray(v)[row] != 0]
    if np.asarray(params["bias"])[row] != 0:
        out.append(("bias", "bias"))
    return out


def _sources(params, w: np.ndarray, live: np.ndarray, what: str) -> tuple:
    out = []
    for c in range(w.shape[1]):
        rows = np.nonzero((w[:, c] != 0) & live)[0]
        if len(rows) > 1:
            raise ToolkitError(f"the packed layout needs each {what} column to read one residual row, but column "
                               f"{c} reads rows {rows.tolist()}: these weights do not factor through token ids "
                               f"(use layout 'dense')")
        if not len(rows):
            out.append(("none", "", 0))
            continue
        src = _row_sources(params, int(rows[0]))
        if len(src) != 1:
            raise ToolkitError(f"the packed layout needs residual row {int(rows[0])} (read by {what} column {c}) to "
                               f"come from one embedding, not {[name for _, name in src]} (use layout 'dense')")
        if src[0][0] == "scalar" and src[0][1] != "recency":
            raise ToolkitError(f"the packed layout rebuilds only the recency scalar, not {src[0][1]!r}")
        out.append((src[0][0], src[0][1], int(rows[0])))
    return tuple(out)


def plan(params) -> PackedPlan:
    """The packed plan of one model's weights (numpy arrays); raises :class:`ToolkitError` when the
    weights admit none."""
    attn = params["layers"][0]["attn"]
    wk, wv = np.asarray(attn["wk"]), np.asarray(attn["wv"])
    if wk.ndim != 3 or wk.shape[0] != 1 or len(params["layers"]) != 1:
        raise ToolkitError("the packed layout supports one layer with one attention head; use layout 'dense'")
    live = _live_rows(params)
    ks, vs = _sources(params, wk[0], live, "key"), _sources(params, wv[0], live, "value")
    fields = tuple(f for f in params["embed"] if any(kind == "field" and name == f for kind, name, _ in ks + vs))
    return PackedPlan(fields, ks, vs)


def tables(params, sources, w):
    """The per-id rows of one projection (keys or values), from the run's weight arrays in its dtype:
    ``{field: (vocab_f, d_out)}`` with ``E_f[:, row(c)] * W[row(c), c]`` in the columns field f feeds (0
    elsewhere), plus ``scale`` / ``weight`` (d_out,) for the recency column (``(r * scale) * weight``,
    the two roundings of the dense path) and ``const`` (d_out,) for bias-fed columns."""
    import jax.numpy as jnp

    d_out = len(sources)
    cols = np.arange(d_out)
    rows = np.asarray([row for _, _, row in sources], np.int32)
    wcol = w[0][rows, cols]  # (d_out,) the one weight each column reads
    out = {}
    for kind, name, _ in sources:
        if kind == "field" and name not in out:
            mask = jnp.asarray([k == "field" and n == name for k, n, _ in sources])
            out[name] = jnp.where(mask[None, :], params["embed"][name][:, rows] * wcol[None, :], 0).astype(w.dtype)
    rec = jnp.asarray([k == "scalar" for k, _, _ in sources])
    vec = params["embed_scalar"]["recency"] if "recency" in params["embed_scalar"] else jnp.zeros_like(params["bias"])
    out["scale"] = jnp.where(rec, vec[rows], 0).astype(w.dtype)
    out["weight"] = jnp.where(rec, wcol, 0).astype(w.dtype)
    bias = jnp.asarray([k == "bias" for k, _, _ in sources])
    out["const"] = jnp.where(bias, params["bias"][rows] * wcol, 0).astype(w.dtype)
    return out


def rebuild(tabs, ids: dict, rec):
    """(C, d_out) rows for C cached tokens: the sum of the per-field rows (each column has one non-zero
    source, so the sum is exact), the recency column, and the bias-fed constant."""
    out = tabs["const"][None, :] + (rec.astype(tabs["scale"].dtype)[:, None] * tabs["scale"][None, :]) * tabs["weight"][None, :]
    for name, table in tabs.items():
        if name not in ("scale", "weight", "const"):
            out = out + table[ids[name]]
    return out


def id_dtype(vocab: int):
    """The smallest signed integer type holding ids 0..vocab-1."""
    for dt in (np.int8, np.int16, np.int32):
        if vocab <= np.iinfo(dt).max:
            return dt
    return np.int64
