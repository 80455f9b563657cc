"""Compiling a Turing machine into the weights of the generic transformer of :mod:`.model`.

Residual stream (d_model = 2n + 3k + 3D + 5 for n states, k symbols, D position bits), in order:

=============  ====  ==============================================================
name           size  meaning
=============  ====  ==============================================================
state          n     one-hot current state (token field ``state``)
read           k     symbol under the head, written by attention
value          k     one-hot symbol this token wrote (the attention value)
qbits          D     +-1 bits of the current head cell (token field ``head``)
kbits          D     +-1 bits of the cell this token wrote (token field ``write_pos``)
recency        1     r: step index t for step tokens, 0 for the tape, M(D-1) for the start token
one            1     constant 1
next_state     n+1   transition output: one-hot next state, index n = halt
write          k     transition output: one-hot symbol to write
move           1     transition output: -1 or +1
undefined      1     transition output: 1 if the transition is ``---``
next_qbits     D     head incrementer output: +-1 bits of the next head cell
=============  ====  ==============================================================

Layer 1, one attention head (d_head = D + 1, d_v = k): query (M qbits, 1), key (kbits, recency),
value ``value``, output into ``read``. Scores and why the top key is the right one: see
:mod:`.envelope`. Layer 1 MLP, the transition rule: for each (state i, symbol j) two ReLU units
``relu(state_i + read_j - 5/4)`` and ``relu(state_i + read_j - 7/4)``; twice their difference is
1 exactly when state = i and read = j (also when the read symbol carries up to 1/4 of softmax leakage)
and 0 otherwise, and adds the transition's next state, written symbol and move.

Layer 1 second MLP block (``mlp2``, the head incrementer; the same weights for every machine): the
next head's bits from the current head's bits and the move, with threshold units only. Cell c is coded
in offset binary (id = c + R, bit j of the id as -1 / +1); moving by +1 flips bit j exactly when every
lower bit is +1 (a carry), by -1 when every lower bit is -1 (a borrow). Per bit j, 6 ReLU units:

* copy: ``relu(qbits_j) - relu(-qbits_j)`` = ``qbits_j`` into ``next_qbits_j``;
* for each direction d = +-1 and each value sg = +-1 of bit j, the AND of the j + 2 literals
  ``d qbits_i = 1 (i < j)``, ``sg qbits_j = 1``, ``d move = 1``: each literal is exactly +-1, so their
  sum s is the integer j + 2 when all hold and <= j otherwise, and ``relu(s - (j+1))`` is exactly 1 or 0
  (no clamp ``- relu(s - (j+2))`` is needed: s never exceeds j + 2, since qbits and move are exactly
  +-1 -- a move off +-1 would show in the read-out's 1/4 check, not be clamped away); the unit writes
  -2 sg into ``next_qbits_j`` (flipping the bit).

Every value involved is an integer of magnitude <= 2D + 2 (the pre-activation ``s - (j+1)`` goes down
to -(2j + 3), and a fused ``x W_1 + b_1``'s partial sums are bounded the same way), exact while
2D + 2 <= 2^p for a p-bit significand: D <= 127 in bfloat16, 1023 in float16, and D <= 31 anyway
(the id is an int32). So the head is exact at any distance -- unlike a residual scalar
``head + move``, which bfloat16 holds exactly only below 2^8. No wrap flag is needed: the current id is <= 2R <= 2^D - 2 (2^D is even and
>= 2R + 1), so +1 never wraps, and -1 from id 0 wraps to 2^D - 1 > 2R, which the read-out reports as
out of range like any id > 2R. Under softmax the move is still exactly +-1 (the transition units'
thresholds absorb up to 1/4 of leakage), so the incrementer is exact there too.

Read-out (the next token): ``state = argmax next_state``, ``symbol = argmax write``, the new head cell's
bits ``next_qbits`` (``head_bits``, decided when each is within 1/4 of +-1; the id sum_j [bit_j > 0] 2^j is
the cell + R, the token's head field), the written cell (the current head), and the ``undefined`` flag.

Prompt: one token per initial-tape cell c (``write_pos`` = c, ``value`` = its symbol, recency 0), then
the start token (state A, head 0, no written cell, value blank, recency M(D-1)); then one token per step.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from ..errors import PrecisionError, ToolkitError
from ..machine import HALT, TuringMachine
from .envelope import position_bits

FIELDS = ("state", "read", "value", "qbits", "kbits", "recency", "one", "next_state", "write", "move",
          "undefined", "next_qbits")


@dataclass(frozen=True)
class Layout:
    """Named slices of the residual stream for n states, k symbols, head cells -R..R."""

    n: int
    k: int
    R: int

    def __post_init__(self):
        if self.D > 31:  # the decoders add the head bits up as an int32 id (sum_j bit_j 2^j)
            raise ToolkitError(f"head range {self.R:,}: at most {2 ** 30 - 1:,} cells each side (the head id is an int32)")

    @property
    def D(self) -> int:
        return position_bits(self.R)

    @cached_property
    def sizes(self) -> dict[str, int]:
        n, k, D = self.n, self.k, self.D
        return {"state": n, "read": k, "value": k, "qbits": D, "kbits": D, "recency": 1, "one": 1,
                "next_state": n + 1, "write": k, "move": 1, "undefined": 1, "next_qbits": D}

    @cached_property
    def slices(self) -> dict[str, slice]:
        out, at = {}, 0
        for name in FIELDS:
            out[name] = slice(at, at + self.sizes[name])
            at += self.sizes[name]
        return out

    @property
    def d_model(self) -> int:
        return sum(self.sizes.values())

    def dim_names(self) -> list[str]:
        return [f"{name}[{i}]" if self.sizes[name] > 1 else name for name in FIELDS for i in range(self.sizes[name])]

    def index(self, name: str, i: int = 0) -> int:
        return self.slices[name].start + i

    # token field vocabularies
    @property
    def n_cells(self) -> int:
        return 2 * self.R + 1

    @property
    def state_none(self) -> int:
        return self.n + 1  # row n is halt; both embed to nothing

    @property
    def cell_none(self) -> int:
        return self.n_cells


def _rows(sl: slice) -> np.ndarray:
    """The indices of a residual slice, for diagonal (one-to-one) assignments."""
    return np.arange(sl.start, sl.stop)


def cell_bits(R: int) -> np.ndarray:
    """(2R+1, D) +-1 bit codes of cells -R..R (row c + R)."""
    D = position_bits(R)
    idx = np.arange(2 * R + 1)
    return (2 * ((idx[:, None] >> np.arange(D)[None, :]) & 1) - 1).astype(np.float64)


@dataclass(frozen=True)
class CompiledMachine:
    """Weights (a pytree of numpy float64 arrays, cast at run time) plus the layout and scale M."""

    machine: TuringMachine
    layout: Layout
    M: int
    params: dict

    @property
    def max_steps(self) -> int:
        return self.M - 1


def compile_machine(machine: TuringMachine, max_steps: int, head_range: int = 1000,
                    n_states: int | None = None, n_symbols: int | None = None) -> CompiledMachine:
    """Weights that run ``machine`` for up to ``max_steps`` steps with the head within +-``head_range``.

    ``n_states`` / ``n_symbols`` pad the layout (for batching machines of different sizes).
    """
    if not isinstance(machine, TuringMachine):
        raise ToolkitError(f"expected a TuringMachine, got {type(machine).__name__}")
    if not isinstance(max_steps, (int, np.integer)) or max_steps < 0:
        raise ToolkitError(f"max_steps must be a non-negative integer, got {max_steps!r}")
    if not isinstance(head_range, (int, np.integer)) or head_range < 1:
        raise PrecisionError(f"head_range must be a positive integer, got {head_range!r}")
    n = n_states or machine.n_states
    k = n_symbols or machine.n_symbols
    if n < machine.n_states or k < machine.n_symbols:
        raise ToolkitError(f"padding {n}x{k} is smaller than the machine's {machine.n_states}x{machine.n_symbols}")
    L = Layout(n, k, int(head_range))
    M = int(max_steps) + 1
    params = _shared_weights(L, M)
    shared = params["layers"][0]
    params = {**params, "layers": [{"attn": shared["attn"], "mlp": {**shared["mlp"], "w2": _transition_weights(machine, L)},
                                     "mlp2": shared["mlp2"]}]}
    return CompiledMachine(machine, L, M, params)


@lru_cache(maxsize=16)
def _shared_weights(L: Layout, M: int) -> dict:
    """Every weight except the transition table: the same arrays (read-only) for every machine of a
    layout, so that batches share them."""
    n, k, D, d = L.n, L.k, L.D, L.d_model
    s = L.slices

    state_tab = np.zeros((n + 2, d))
    state_tab[np.arange(n), s["state"].start + np.arange(n)] = 1
    bits = cell_bits(L.R)
    head_tab = np.zeros((L.n_cells, d))
    head_tab[:, s["qbits"]] = bits
    wpos_tab = np.zeros((L.n_cells + 1, d))
    wpos_tab[:L.n_cells, s["kbits"]] = bits
    sym_tab = np.zeros((k + 1, d))
    sym_tab[np.arange(k), s["value"].start + np.arange(k)] = 1
    e_rec = np.zeros(d)
    e_rec[s["recency"].start] = 1
    bias = np.zeros(d)
    bias[s["one"].start] = 1

    wq = np.zeros((1, d, D + 1))
    wq[0, _rows(s["qbits"]), np.arange(D)] = M
    wq[0, s["one"].start, D] = 1
    wk = np.zeros((1, d, D + 1))
    wk[0, _rows(s["kbits"]), np.arange(D)] = 1
    wk[0, s["recency"].start, D] = 1
    wv = np.zeros((1, d, k))
    wv[0, _rows(s["value"]), np.arange(k)] = 1
    wo = np.zeros((1, k, d))
    wo[0, np.arange(k), _rows(s["read"])] = 1

    hidden = 2 * n * k
    w1 = np.zeros((d, hidden))
    b1 = np.zeros(hidden)
    for i in range(n):
        for j in range(k):
            u = 2 * (i * k + j)
            w1[s["state"].start + i, u: u + 2] = 1
            w1[s["read"].start + j, u: u + 2] = 1
            b1[u: u + 2] = (-1.25, -1.75)

    r_state = np.zeros((d, n + 1))
    r_state[_rows(s["next_state"]), np.arange(n + 1)] = 1
    r_write = np.zeros((d, k))
    r_write[_rows(s["write"]), np.arange(k)] = 1
    r_read = np.zeros((d, k))
    r_read[_rows(s["read"]), np.arange(k)] = 1
    r_head_bits = np.zeros((d, D))
    r_head_bits[_rows(s["next_qbits"]), np.arange(D)] = 1
    r_undef = np.zeros(d)
    r_undef[s["undefined"].start] = 1

    params = {
        "bias": bias,
        "embed": {"state": state_tab, "head": head_tab, "write_pos": wpos_tab, "symbol": sym_tab},
        "embed_scalar": {"recency": e_rec},
        "layers": [{"attn": {"wq": wq, "wk": wk, "wv": wv, "wo": wo},
                    "mlp": {"w1": w1, "b1": b1, "w2": None}, "mlp2": incrementer_weights(L)}],
        "readout": {"state": r_state, "symbol": r_write, "read": r_read},
        "readout_scalar": {"head_bits": r_head_bits, "undefined": r_undef},
    }
    for leaf in _numpy_leaves(params):
        leaf.setflags(write=False)
    return params


def incrementer_weights(L: Layout) -> dict:
    """The head incrementer ``mlp2`` (see the module docstring): w1 (d, 6 D), b1 (6 D,), w2 (6 D, d).

    Units of bit j: 6 j + (0, 1) copy; 6 j + 2 + 2 a + b the AND unit of direction d = (+1, -1)[a] and
    bit value sg = (+1, -1)[b]."""
    D, d, s = L.D, L.d_model, L.slices
    q, mv, nq = s["qbits"].start, s["move"].start, s["next_qbits"].start
    w1, b1, w2 = np.zeros((d, 6 * D)), np.zeros(6 * D), np.zeros((6 * D, d))
    for j in range(D):
        u = 6 * j
        w1[q + j, u], w1[q + j, u + 1] = 1, -1
        w2[u, nq + j], w2[u + 1, nq + j] = 1, -1
        for a, dr in enumerate((1, -1)):
            for b, sg in enumerate((1, -1)):
                v = u + 2 + 2 * a + b
                w1[q: q + j, v] = dr
                w1[q + j, v] = sg
                w1[mv, v] = dr
                b1[v] = -(j + 1)
                w2[v, nq + j] = -2 * sg
    return {"w1": w1, "b1": b1, "w2": w2}


def _numpy_leaves(tree):
    if isinstance(tree, dict):
        for v in tree.values():
            yield from _numpy_leaves(v)
    elif isinstance(tree, list):
        for v in tree:
            yield from _numpy_leaves(v)
    elif isinstance(tree, np.ndarray):
        yield tree


def _transition_weights(machine: TuringMachine, L: Layout) -> np.ndarray:
    """W_2 of the transition MLP, (2nk, d_model): unit pair (i, j) adds the transition of (i, j)."""
    n, k, s = L.n, L.k, L.slices
    w2 = np.zeros((2 * n * k, L.d_model))
    for i in range(n):
        for j in range(k):
            u = 2 * (i * k + j)
            tr = machine.table[i][j] if i < machine.n_states and j < machine.n_symbols else None
            if tr is None:
                w2[u, s["undefined"].start] = 1
            else:
                w2[u, s["next_state"].start + (n if tr.next_state == HALT else tr.next_state)] = 1
                w2[u, s["write"].start + tr.write] = 1
                w2[u, s["move"].start] = tr.move
            w2[u + 1] = -w2[u]
    return 2 * w2
