"""A generic decoder-only transformer, written for hand-set weights (nothing here knows Turing machines).

Shapes (one example; batches are ``vmap``-ed over examples *and* weights, so machines of different
sizes run together once padded to common shapes):

* a token is a dict of integer fields ``{name: int}``, embedded as ``x = sum_f E_f[token_f] +
  sum_s token_s * e_s`` -- lookup tables ``E_f`` of shape (vocab_f, d_model) for categorical fields,
  vectors ``e_s`` of shape (d_model,) for scalar fields; ``x`` has shape (d_model,);
* each layer is ``x += W_o attn(x W_q, K, V)`` then ``x += relu(x W_1 + b_1) W_2 + b_2`` (and, when the
  layer has a second MLP block ``mlp2``, ``x += relu(x W_1' + b_1') W_2'`` after it) with
  ``W_q, W_k`` of shape (H, d_model, d_head), ``W_v`` (H, d_model, d_v), ``W_o`` (H, d_v, d_model);
* the read-out gives, per categorical output field, ``argmax(x R_f)`` with ``R_f`` of shape
  (d_model, vocab_f), and per scalar output field ``x . r_s``.

Attention is causal over a key/value cache. ``beta=None`` is hardmax (the value of the highest-scoring
key; ties go to the earliest key -- the full cache, whose certificate never lets a tie decide a step),
otherwise softmax with inverse temperature ``beta``, computed as
``softmax(beta * (s - max s))`` so that exact integer scores stay exact before the scaling.

Alongside the output, the attention keeps what a certificate of exactness needs: the runner-up score
(so the top key's margin is known) and ``max_s sum_e |q_e| |k_se|``, the largest sum of absolute
products of any score -- a bound on every partial sum of every dot product, in whatever order it was
accumulated. It is computed in ``check_dtype`` (float32, or float64 for float64 runs).

Under the evicting cache (:mod:`.evict`) the rule is "hardmax; ties among *identical* keys resolved to
the newest token". Two keys of one cell written at recencies r < r' are different vectors in real
arithmetic (the newer scores strictly more), but in a low precision (bfloat16 beyond r = 256) they can
round to the same vector -- while their values differ (a value is the symbol written, and the cell may
have been rewritten with another symbol). The newest is the right one (the last write, what the
real-arithmetic hardmax picks). The full cache can never certify such a step (it demands a strict gap
between the top two rounded scores, and two identical keys tie exactly), so it stops there; the evicting
cache holds only the newest of the two (it replaces the older key when the new one is not worse), so no
tie between them ever reaches its hardmax, and its certificate covers the remaining, distinct keys.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

Params = dict[str, Any]


class AttnState(NamedTuple):
    """Running reduction over key chunks for one query: the top score, the softmax normaliser (relative
    to the top score, so the top key's final weight is 1 / norm), the weighted values, the top key's
    position, the runner-up score and the largest absolute-product sum of a score."""

    best: jax.Array      # (H,)
    norm: jax.Array      # (H,)
    acc: jax.Array       # (H, d_v)
    arg: jax.Array       # (H,) position of the top key (int32)
    second: jax.Array    # (H,) runner-up score (-inf with one key)
    absdot: jax.Array    # (H,) max over keys of sum_e |q_e k_e|, in check_dtype


def embed(params: Params, token: dict[str, jax.Array]) -> jax.Array:
    """(d_model,) embedding of one token (dict of integer scalars)."""
    x = params["bias"]
    for name, table in params["embed"].items():
        x = x + table[token[name]]
    for name, vec in params["embed_scalar"].items():
        x = x + token[name].astype(vec.dtype) * vec
    return x


def qkv(layer: Params, x: jax.Array):
    """Query, key, value of one token: (H, d_head), (H, d_head), (H, d_v)."""
    a = layer["attn"]
    return (jnp.einsum("d,hde->he", x, a["wq"]), jnp.einsum("d,hde->he", x, a["wk"]),
            jnp.einsum("d,hde->he", x, a["wv"]))


def attend_chunk(state: AttnState, q, keys, values, valid, beta, offset=0) -> AttnState:
    """Fold one chunk of C keys (C, H, d_head) / values (C, H, d_v), mask ``valid`` (C,), into ``state``;
    ``offset`` is the position of the chunk's first key."""
    scores = jnp.einsum("he,che->ch", q, keys)
    scores = jnp.where(valid[:, None], scores, -jnp.inf)
    chunk_best = scores.max(axis=0)  # (H,)
    pick = jnp.argmax(scores, axis=0)  # first maximum within the chunk
    rest = jnp.where(jnp.arange(scores.shape[0])[:, None] == pick[None, :], -jnp.inf, scores)
    chunk_second = rest.max(axis=0)
    second = jnp.maximum(jnp.maximum(state.second, chunk_second), jnp.minimum(state.best, chunk_best))
    cdt = state.absdot.dtype
    absdot = jnp.einsum("he,che->ch", jnp.abs(q).astype(cdt), jnp.abs(keys).astype(cdt))
    absdot = jnp.maximum(state.absdot, jnp.where(valid[:, None], absdot, 0).max(axis=0))
    better = chunk_best > state.best  # strict: earlier chunks win ties
    arg = jnp.where(better, offset + pick, state.arg).astype(jnp.int32)
    if beta is None:
        chunk_val = jnp.take_along_axis(values, pick[None, :, None], axis=0)[0]
        return AttnState(jnp.where(better, chunk_best, state.best), state.norm,
                         jnp.where(better[:, None], chunk_val, state.acc), arg, second, absdot)
    new_best = jnp.maximum(state.best, chunk_best)
    safe_best = jnp.where(jnp.isfinite(new_best), new_best, 0)
    scale = jnp.exp(beta * (state.best - safe_best))
    scale = jnp.where(jnp.isfinite(state.best), scale, 0)
    w = jnp.exp(beta * (scores - safe_best[None, :]))
    w = jnp.where(valid[:, None], w, 0)
    return AttnState(new_best, state.norm * scale + w.sum(0),
                     state.acc * scale[:, None] + jnp.einsum("ch,chv->hv", w, values), arg, second, absdot)


def empty_attn_state(H: int, d_v: int, dtype, check_dtype=jnp.float32) -> AttnState:
    return AttnState(jnp.full((H,), -jnp.inf, dtype), jnp.zeros((H,), dtype), jnp.zeros((H, d_v), dtype),
                     jnp.zeros((H,), jnp.int32), jnp.full((H,), -jnp.inf, dtype), jnp.zeros((H,), check_dtype))


def finish_attention(state: AttnState, beta):
    """(H, d_v) attention output and (H,) weight of the top key (1 for hardmax)."""
    if beta is None:
        return state.acc, jnp.ones_like(state.norm)
    return state.acc / state.norm[:, None], 1 / state.norm


def mlp(layer: Params, x: jax.Array, block: str = "mlp") -> jax.Array:
    """``relu(x W_1 + b_1) W_2`` (+ ``b_2`` when the block has one) of the layer's MLP block ``block``."""
    m = layer[block]
    out = jax.nn.relu(x @ m["w1"] + m["b1"]) @ m["w2"]
    return out + m["b2"] if "b2" in m else out


def feed_forward(layer: Params, x: jax.Array) -> jax.Array:
    """The residual after the layer's MLP blocks: ``x + mlp(x)``, then ``+ mlp2(.)`` when present."""
    x = x + mlp(layer, x)
    return x + mlp(layer, x, "mlp2") if "mlp2" in layer else x


def attn_out(layer: Params, heads: jax.Array) -> jax.Array:
    return jnp.einsum("hv,hvd->d", heads, layer["attn"]["wo"])


def readout_logits(params: Params, x: jax.Array) -> dict[str, jax.Array]:
    """Per categorical field its logits ``x R_f`` (vocab_f,), per scalar field ``x . r_s``."""
    out = {name: x @ w for name, w in params["readout"].items()}
    out.update({name: x @ w for name, w in params["readout_scalar"].items()})
    return out


def readout(params: Params, x: jax.Array) -> dict[str, jax.Array]:
    """Categorical fields by argmax, scalar fields as numbers."""
    logits = readout_logits(params, x)
    return {name: jnp.argmax(v) if name in params["readout"] else v for name, v in logits.items()}
