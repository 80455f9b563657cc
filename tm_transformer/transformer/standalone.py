"""Decode an exported weights file with nothing but numpy and safetensors (``tmt export`` writes one).

    python standalone.py FILE.safetensors [--steps T] [--tape 0110] [--json]

One token per machine step. A token has fields state, head (cell + R), write_pos (cell + R, or 2R+1 for
none), symbol (k for none) and a scalar recency. Its embedding is x = bias + E_state[state] +
E_head[head] + E_write_pos[write_pos] + E_symbol[symbol] + recency e_recency. The prompt is one token per
initial-tape cell c (write_pos c, its symbol, recency 0) and the start token (state 0, cell 0, no
written cell, symbol 0, recency M(D-1)). Each position i then computes

    q, k_i, v_i = x W_q, x W_k, x W_v;   a = v_j for j = argmax_{j <= i} q . k_j   (first on ties)
    x1 = x + a W_o;   x2 = x1 + relu(x1 W_1 + b_1) W_2;   x3 = x2 + relu(x2 W2_1 + b2_1) W2_2

(W2: the head incrementer block mlp2) and reads the next token off x3: state = argmax x3 R_state (n = halt),
symbol = argmax x3 R_symbol, head = sum_j [(x3 R_head_bits)_j > 0] 2^j - R (offset binary), write_pos =
the current head, recency = step number; it stops at the halt
state, or before an undefined transition (x3 . r_undefined > 1/2). Arithmetic in float64.

It checks the file (config against the arrays: shapes, position bits, the query's scale M, finite
weights) but certifies nothing: its output says ``certified False``. ``tmt run --weights FILE`` proves the
step exact before the run (every value but the attention scores, :mod:`tm_transformer.transformer.exactness`)
and certifies each step's margins.
"""
import argparse
import json
from typing import NoReturn

import numpy as np
from safetensors import safe_open


FORMAT = "tm-transformer-weights/2"


def load(path):
    """The arrays (float64) and the config of a weights file, checked against each other: one line (exit 2)
    for a file that is not a readable weights file, a config that does not describe its arrays (shapes,
    position bits, the query's scale M), or a non-finite weight."""
    try:
        with safe_open(path, "np") as f:
            meta = f.metadata() or {}
            arrays = {name: f.get_tensor(name).astype(np.float64) for name in f.keys()}
    except Exception as exc:  # safetensors raises its own error types (and OSError) for a bad or truncated file
        _fail(f"weights file {path!r} is not a readable safetensors file: {exc}")
    try:
        cfg = json.loads(meta["config"])
    except (KeyError, ValueError):
        cfg = None
    if not isinstance(cfg, dict):
        _fail(f"weights file {path!r} has no tm-transformer config in its metadata")
    fmt = cfg.get("format")
    if fmt != FORMAT:  # the same one-line refusal as tm_transformer.transformer.weights.load
        why = (" (a scalar head read-out, exact in bfloat16 only below 2^8; re-export it with tmt export)"
               if fmt == "tm-transformer-weights/1" else "")
        what = "has no format field (written before format 2?)" if fmt is None else f"is format {fmt!r}"
        _fail(f"weights file {path!r} {what}, expected {FORMAT!r}{why}")
    if "position_bits" not in cfg and isinstance(cfg.get("head_range"), int):  # as tmt: derived from the range
        cfg = {**cfg, "position_bits": (2 * cfg["head_range"]).bit_length()}
    for key in ("n_states", "n_symbols", "head_range", "M", "position_bits"):
        if not isinstance(cfg.get(key), int) or isinstance(cfg.get(key), bool) or cfg[key] < 1:
            _fail(f"weights file {path!r}: config {key} is {cfg.get(key)!r}, expected a positive integer")
    n, k, R, M, D = (cfg[key] for key in ("n_states", "n_symbols", "head_range", "M", "position_bits"))
    if D != (2 * R).bit_length():
        _fail(f"weights file {path!r}: config position_bits {D} does not match head_range {R} "
              f"(expected {(2 * R).bit_length()})")
    for name, shape in shapes(n, k, R, D).items():
        if name not in arrays:
            _fail(f"weights file {path!r} lacks {name}")
        if arrays[name].shape != shape:
            _fail(f"weights file {path!r}: {name} has shape {arrays[name].shape}, expected {shape} for its config")
        if not np.all(np.isfinite(arrays[name])):
            _fail(f"weights file {path!r}: {name} holds non-finite values")
    scale = float(np.max(np.abs(arrays["layers.0.attn.w_q"][0, :, :D])))
    if scale != M:
        _fail(f"weights file {path!r}: config M {M} differs from the scale {scale:g} in layers.0.attn.w_q "
              "(edit both together)")
    return arrays, cfg


def shapes(n, k, R, D):
    """The shape of every array for n states, k symbols, head range R and D position bits (as tmt's)."""
    d, u, h, cells = 2 * n + 3 * k + 3 * D + 5, 2 * n * k, 6 * D, 2 * R + 1
    return {"embed.state": (n + 2, d), "embed.head": (cells, d), "embed.write_pos": (cells + 1, d),
            "embed.symbol": (k + 1, d), "embed.recency": (d,), "embed.bias": (d,),
            "layers.0.attn.w_q": (1, d, D + 1), "layers.0.attn.w_k": (1, d, D + 1), "layers.0.attn.w_v": (1, d, k),
            "layers.0.attn.w_o": (1, k, d), "layers.0.mlp.w_1": (d, u), "layers.0.mlp.b_1": (u,),
            "layers.0.mlp.w_2": (u, d), "layers.0.mlp2.w_1": (d, h), "layers.0.mlp2.b_1": (h,),
            "layers.0.mlp2.w_2": (h, d), "readout.state": (d, n + 1), "readout.symbol": (d, k),
            "readout.read": (d, k), "readout.head_bits": (d, D), "readout.undefined": (d,)}


def _fail(message) -> NoReturn:
    raise SystemExit(message)


def embed(w, state, head, write_pos, symbol, recency):
    return (w["embed.bias"] + w["embed.state"][state] + w["embed.head"][head] + w["embed.write_pos"][write_pos]
            + w["embed.symbol"][symbol] + recency * w["embed.recency"])


def decode(w, cfg, steps=None, tape=()):
    n, k, R, M, D = cfg["n_states"], cfg["n_symbols"], cfg["head_range"], cfg["M"], cfg["position_bits"]
    steps = M - 1 if steps is None else steps
    if not 0 <= steps <= M - 1:
        raise SystemExit(f"--steps {steps}: the weights were made for at most {M - 1} steps")
    if any(not 0 <= s < k for s in tape) or len(tape) > R + 1:
        raise SystemExit(f"--tape: expected at most {R + 1} symbols in 0..{k - 1}")
    tokens = [(n + 1, R, c + R, s, 0) for c, s in enumerate(tape)] + [(0, R, 2 * R + 1, 0, M * (D - 1))]
    keys, values = [], []
    cells, head, state, t, reason = dict(enumerate(tape)), 0, 0, 0, "step_limit"
    for i in range(len(tokens) - 1 + steps):
        x = embed(w, *tokens[i])
        q, key, value = (x @ w[f"layers.0.attn.w_{c}"][0] for c in "qkv")
        keys.append(key)
        values.append(value)
        if i < len(tokens) - 1:
            continue  # a prompt token's output is not a step
        a = values[int(np.argmax(np.stack(keys) @ q))]
        x = x + a @ w["layers.0.attn.w_o"][0]
        x = x + np.maximum(x @ w["layers.0.mlp.w_1"] + w["layers.0.mlp.b_1"], 0) @ w["layers.0.mlp.w_2"]
        x = x + np.maximum(x @ w["layers.0.mlp2.w_1"] + w["layers.0.mlp2.b_1"], 0) @ w["layers.0.mlp2.w_2"]
        if x @ w["readout.undefined"] > 0.5:
            reason = "undefined"  # stopped before an undefined transition (counted as halted, as tmt does)
            break
        state, symbol = int(np.argmax(x @ w["readout.state"])), int(np.argmax(x @ w["readout.symbol"]))
        cells[head] = symbol
        new_head = int(np.sum((x @ w["readout.head_bits"] > 0) * 2 ** np.arange(D))) - R
        if abs(new_head) > R:
            raise SystemExit(f"the head left the range +-{R} at step {t + 1}")
        t += 1
        tokens.append((state, new_head + R, head + R, symbol, t))
        head = new_head
        if state == n:
            reason = "halted"
            break
    # "certified": this decoder checks no margin and bounds no rounding (tmt run --weights does both)
    return {"steps": t, "sigma": sum(1 for s in cells.values() if s), "halted": reason != "step_limit",
            "reason": reason, "head": head, "state": "Z" if reason == "halted" else chr(ord("A") + state),
            "certified": False}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)  # None under -OO
    p.add_argument("file")
    p.add_argument("--steps", type=int, default=None, help="step limit (default: the steps the weights were made for)")
    p.add_argument("--tape", default="", help="initial tape from cell 0, one digit a cell")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if not args.tape.isdigit() and args.tape:
        _fail(f"--tape {args.tape!r}: expected digits, one symbol a cell (e.g. 0110)")
    weights, cfg = load(args.file)
    out = decode(weights, cfg, args.steps, [int(c) for c in args.tape])
    print(json.dumps(out) if args.json else "\n".join(f"{key:8s} {value}" for key, value in out.items()))


if __name__ == "__main__":
    main()
