"""Looking inside the compiled transformer: dimensions, named weights, and a picture of a run.

The picture has two panels: which earlier token each step's attention picks (the last write to the
cell under the head, an initial-tape token, or the start token for a blank cell), and the residual
stream (one column per named dimension) over the run.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ToolkitError
from .compile import FIELDS, CompiledMachine


def _named_matrix(name, w, rows, cols, limit=8) -> str:
    lines = [f"  {name}  shape {tuple(w.shape)}  nonzeros {int(np.count_nonzero(w))}"]
    nz = np.argwhere(w != 0)
    for r, c in nz[:limit]:
        lines.append(f"    {rows[r] if rows else r:>16s} -> {cols[c] if cols else c:<16s} {w[r, c]:+g}")
    if len(nz) > limit:
        lines.append(f"    ... {len(nz) - limit} more")
    return "\n".join(lines)


def transition_table(cm: CompiledMachine) -> str:
    """The whole transition table as the weights hold it: unit pair (i, j) of W_2, read back into
    (next state, symbol written, move), or ``---`` for an undefined transition."""
    L, s = cm.layout, cm.layout.slices
    w2 = np.asarray(cm.params["layers"][0]["mlp"]["w2"])
    names = [chr(ord("A") + i) for i in range(L.n)] + ["Z"]
    lines = ["transition table (read from W_2, rows = states, columns = symbols read)",
             "  state  " + "  ".join(f"{j:>5d}" for j in range(L.k))]
    for i in range(L.n):
        cells = []
        for j in range(L.k):
            row = w2[2 * (i * L.k + j)] / 2
            if row[s["undefined"]].max() > 0.5:
                cells.append("  ---")
                continue
            nxt = names[int(np.argmax(row[s["next_state"]]))]
            move = "R" if row[s["move"].start] > 0 else "L"
            cells.append(f"  {int(np.argmax(row[s['write']]))}{move}{nxt}")
        lines.append(f"  {names[i]:>5s}  " + "  ".join(cells))
    return "\n".join(lines)


def describe(cm: CompiledMachine, show_weights: bool = True) -> str:
    L = cm.layout
    p = cm.params
    layer = p["layers"][0]
    out = [f"machine      {cm.machine}",
           f"d_model      {L.d_model}   ({', '.join(f'{n}:{L.sizes[n]}' for n in FIELDS)})",
           f"layers       1 (attention: 1 head, d_head {L.D + 1}, d_v {L.k}; MLP: {layer['mlp']['w1'].shape[1]} ReLU units; "
           f"head incrementer MLP: {layer['mlp2']['w1'].shape[1]} ReLU units)",
           f"positions    cells -{L.R}..{L.R} in D = {L.D} bits; scale M = {cm.M} (runs up to {cm.max_steps} steps)",
           "token fields state, head, write_pos, symbol (categorical), recency (scalar)",
           "read-out     state = argmax next_state, symbol = argmax write, head = bits of next_qbits (offset binary, "
           "cell + R; exact in every dtype), undefined"]
    out.append(transition_table(cm))
    if show_weights:
        dims = L.dim_names()
        a = layer["attn"]
        qk_cols = [f"bit{j}" for j in range(L.D)] + ["recency"]
        out.append("attention")
        out.append(_named_matrix("W_q", a["wq"][0], dims, qk_cols))
        out.append(_named_matrix("W_k", a["wk"][0], dims, qk_cols))
        out.append(_named_matrix("W_v", a["wv"][0], dims, [f"sym{j}" for j in range(L.k)]))
        out.append(_named_matrix("W_o", a["wo"][0], [f"sym{j}" for j in range(L.k)], dims))
        out.append("MLP (the transition rule: units (state i, symbol j) in pairs)")
        units = [f"u({i},{j}){'ab'[t]}" for i in range(L.n) for j in range(L.k) for t in range(2)]
        out.append(_named_matrix("W_1", layer["mlp"]["w1"], dims, units, limit=6))
        out.append(_named_matrix("W_2", layer["mlp"]["w2"], units, dims, limit=4 * L.n * L.k))
        out.append("MLP2 (the head incrementer: per bit j, 2 copy units and 4 AND units (direction, bit value))")
        inc = [f"b{j}{name}" for j in range(L.D) for name in ("c+", "c-", "R1", "R0", "L1", "L0")]
        out.append(_named_matrix("W_1", layer["mlp2"]["w1"], dims, inc, limit=6))
        out.append(_named_matrix("W_2", layer["mlp2"]["w2"], inc, dims, limit=6))
    return "\n".join(out)


def draw_run(machine, steps: int, path, tape=(), head_range: int = 16):
    """Attention targets and residual stream of a run, as a figure (.png or .pdf)."""
    path = Path(path)
    if path.suffix.lower() not in (".png", ".pdf"):
        raise ToolkitError(f"figure file {str(path)!r}: expected a .png or .pdf name")
    if not path.absolute().parent.is_dir():  # a typo in a folder name must not create folders
        raise ToolkitError(f"figure file {str(path)!r}: folder {str(path.parent)!r} does not exist; create it first")
    from ..plots import save, transformer_run
    from .compile import compile_machine
    from .decode import run

    r = run(machine, steps, tape, head_range=head_range, layout="dense", record=True)
    L = compile_machine(machine, steps, head_range).layout
    fig = transformer_run(r, L.dim_names(), title=f"{machine}  ({int(r.steps[0])} steps)")
    save(fig, path.with_suffix(""), formats=[path.suffix.lower().lstrip(".")])
    return path
