"""In-context estimators written as transformers, with the forward pass of :mod:`tm_transformer.transformer.model`.

* :func:`induction_head_params` / :func:`induction_head` -- a prompt of examples (context c_i, next token
  y_i) and a query context c. One attention head, query one-hot(c), keys one-hot(c_i), values
  one-hot(y_i), in *saturated* hardmax mode (uniform over every top-scoring key): it averages the next
  tokens of exactly the examples whose context matches, i.e. it outputs the empirical conditional
  distribution p_hat(. | c). (With no matching example it averages all examples: the marginal.)
* :func:`gd_step_head` -- one step of gradient descent from w = 0 on squared loss, as linear attention
  (von Oswald et al. 2023): query x, keys x_i, values y_i, no normalisation: sum_i y_i <x_i, x>, whose
  sign is the prediction of w_1 = eta sum_i y_i x_i.

Each has a direct computation beside it (:func:`empirical_conditional`, :func:`gd_step_direct`); the
tests check that they agree, and the Monte-Carlo engine samples the direct forms (counts) for speed.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def saturated_attention(q, keys, values):
    """Uniform attention over the keys with the maximal score: (d_k,), (N, d_k), (N, d_v) -> (d_v,)."""
    scores = keys @ q
    top = scores == scores.max()
    return (values * top[:, None]).sum(0) / top.sum()


def linear_attention(q, keys, values):
    """Unnormalised linear attention: sum_i <q, k_i> v_i."""
    return (keys @ q) @ values


def induction_head_params(m: int, V: int) -> dict:
    """Weights on the residual stream [one-hot context (m) | one-hot token (V)]: W_q = W_k select the
    context block, W_v the token block."""
    d = m + V
    wq = np.zeros((d, m))
    wq[np.arange(m), np.arange(m)] = 1
    wv = np.zeros((d, V))
    wv[m + np.arange(V), np.arange(V)] = 1
    return {"wq": wq, "wk": wq.copy(), "wv": wv, "m": m, "V": V}


def induction_head(params: dict, contexts, tokens, query_context):
    """p_hat(. | query_context), shape (V,), from examples (contexts (n,), tokens (n,))."""
    m, V = params["m"], params["V"]
    x = jnp.concatenate([jax.nn.one_hot(contexts, m), jax.nn.one_hot(tokens, V)], axis=1)
    xq = jnp.concatenate([jax.nn.one_hot(query_context, m), jnp.zeros(V)])
    return saturated_attention(xq @ params["wq"], x @ params["wk"], x @ params["wv"])


def empirical_conditional(contexts, tokens, query_context, V: int):
    match = np.asarray(contexts) == query_context
    if not match.any():
        match = np.ones_like(match)
    return np.bincount(np.asarray(tokens)[match], minlength=V) / match.sum()


def gd_step_head(X, y, x_query):
    """Prediction sign(sum_i y_i <x_i, x_query>) as one linear-attention head; returns the score."""
    return linear_attention(x_query, X, y)


def gd_step_direct(X, y, x_query):
    w1 = (np.asarray(y)[:, None] * np.asarray(X)).sum(0)
    return float(w1 @ np.asarray(x_query))
