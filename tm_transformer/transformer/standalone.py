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
"""
import argparse
import json

import numpy as np
from safetensors import safe_open


FORMAT = "tm-transformer-weights/2"


def load(path):
    with safe_open(path, "np") as f:
        meta = f.metadata() or {}
        try:
            cfg = json.loads(meta["config"])
        except (KeyError, ValueError):
            cfg = None
        if not isinstance(cfg, dict):
            raise SystemExit(f"weights file {path!r} has no tm-transformer config in its metadata")
        fmt = cfg.get("format")
        if fmt != FORMAT:  # the same one-line refusal as tm_transformer.transformer.weights.load
            why = (" (a scalar head read-out, exact in bfloat16 only below 2^8; re-export it with tmt export)"
                   if fmt == "tm-transformer-weights/1" else "")
            what = "has no format field (written before format 2?)" if fmt is None else f"is format {fmt!r}"
            raise SystemExit(f"weights file {path!r} {what}, expected {FORMAT!r}{why}")
        return {name: f.get_tensor(name).astype(np.float64) for name in f.keys()}, cfg


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
    return {"steps": t, "sigma": sum(1 for s in cells.values() if s), "halted": reason != "step_limit",
            "reason": reason, "head": head, "state": "Z" if reason == "halted" else chr(ord("A") + state)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file")
    p.add_argument("--steps", type=int, default=None, help="step limit (default: the steps the weights were made for)")
    p.add_argument("--tape", default="", help="initial tape from cell 0, one digit a cell")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    weights, cfg = load(args.file)
    out = decode(weights, cfg, args.steps, [int(c) for c in args.tape])
    print(json.dumps(out) if args.json else "\n".join(f"{key:8s} {value}" for key, value in out.items()))


if __name__ == "__main__":
    main()
