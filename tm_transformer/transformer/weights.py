"""Weights as a file: the compiled transformer's named arrays in safetensors, with its configuration.

Names (shapes for n states, k symbols, D position bits, d = d_model, u = 2 n k hidden units, h = 6 D
incrementer units):

=========================  ==============  =============================================
``embed.state``            (n+2, d)        rows 0..n-1 one-hot states; n (halt), n+1 (none)
``embed.head``             (2R+1, d)       cell c: +-1 bits of c + R into ``qbits``
``embed.write_pos``        (2R+2, d)       cell c: bits into ``kbits``; row 2R+1: no cell
``embed.symbol``           (k+1, d)        one-hot written symbol into ``value``; row k: none
``embed.recency``          (d,)            the scalar recency field's direction
``embed.bias``             (d,)            the constant ``one``
``layers.0.attn.w_q``      (1, d, D+1)     query (M qbits, one)
``layers.0.attn.w_k``      (1, d, D+1)     key (kbits, recency)
``layers.0.attn.w_v``      (1, d, k)       value (the written symbol)
``layers.0.attn.w_o``      (1, k, d)       into ``read``
``layers.0.mlp.w_1``       (d, u)          unit pair (i, j) reads state i and symbol j
``layers.0.mlp.b_1``       (u,)            -5/4, -7/4 per pair
``layers.0.mlp.w_2``       (u, d)          the transition table
``layers.0.mlp2.w_1``      (d, h)          head incrementer: copy and carry/borrow AND units
``layers.0.mlp2.b_1``      (h,)            0 (copy), -(j+1) per AND unit of bit j
``layers.0.mlp2.w_2``      (h, d)          into ``next_qbits`` (copy, or flip on a carry)
``readout.state``          (d, n+1)        argmax: next state (n = halt)
``readout.symbol``         (d, k)          argmax: symbol written
``readout.read``           (d, k)          argmax: symbol read (for the trace)
``readout.head_bits``      (d, D)          +-1 bits of the next head cell + R (``next_qbits``)
``readout.undefined``      (d,)            1 before an undefined transition
=========================  ==============  =============================================

The metadata holds ``config`` (JSON: machine, n_states, n_symbols, head_range, M, steps, d_model,
residual dimension names, ``format``). :func:`load` rebuilds the parameter tree the decoder runs, so an
edited weight changes the run. Format 2 reads the head out as bits (format 1's scalar ``readout.head``,
head + move, was exact in bfloat16 only below 2^8); format-1 files are refused with one line.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ToolkitError
from ..machine import TuringMachine
from .compile import CompiledMachine, Layout

FORMAT = "tm-transformer-weights/2"

# (file name, path in the parameter tree)
NAMES = (
    ("embed.state", ("embed", "state")), ("embed.head", ("embed", "head")),
    ("embed.write_pos", ("embed", "write_pos")), ("embed.symbol", ("embed", "symbol")),
    ("embed.recency", ("embed_scalar", "recency")), ("embed.bias", ("bias",)),
    ("layers.0.attn.w_q", ("layers", 0, "attn", "wq")), ("layers.0.attn.w_k", ("layers", 0, "attn", "wk")),
    ("layers.0.attn.w_v", ("layers", 0, "attn", "wv")), ("layers.0.attn.w_o", ("layers", 0, "attn", "wo")),
    ("layers.0.mlp.w_1", ("layers", 0, "mlp", "w1")), ("layers.0.mlp.b_1", ("layers", 0, "mlp", "b1")),
    ("layers.0.mlp.w_2", ("layers", 0, "mlp", "w2")),
    ("layers.0.mlp2.w_1", ("layers", 0, "mlp2", "w1")), ("layers.0.mlp2.b_1", ("layers", 0, "mlp2", "b1")),
    ("layers.0.mlp2.w_2", ("layers", 0, "mlp2", "w2")),
    ("readout.state", ("readout", "state")), ("readout.symbol", ("readout", "symbol")),
    ("readout.read", ("readout", "read")), ("readout.head_bits", ("readout_scalar", "head_bits")),
    ("readout.undefined", ("readout_scalar", "undefined")),
)


def _get(tree, path):
    for key in path:
        tree = tree[key]
    return tree


def named_arrays(params) -> dict[str, np.ndarray]:
    """The parameter tree as {file name: float32 array}."""
    return {name: np.ascontiguousarray(np.asarray(_get(params, path), np.float32)) for name, path in NAMES}


def tree_from_named(arrays: dict[str, np.ndarray]) -> dict:
    """The parameter tree the decoder runs, from {file name: array}."""
    missing = [name for name, _ in NAMES if name not in arrays]
    if missing:
        raise ToolkitError(f"weights file lacks {', '.join(missing)}")
    a = {name: np.asarray(arrays[name], np.float64) for name, _ in NAMES}
    return {"bias": a["embed.bias"],
            "embed": {"state": a["embed.state"], "head": a["embed.head"], "write_pos": a["embed.write_pos"],
                      "symbol": a["embed.symbol"]},
            "embed_scalar": {"recency": a["embed.recency"]},
            "layers": [{"attn": {"wq": a["layers.0.attn.w_q"], "wk": a["layers.0.attn.w_k"],
                                 "wv": a["layers.0.attn.w_v"], "wo": a["layers.0.attn.w_o"]},
                        "mlp": {"w1": a["layers.0.mlp.w_1"], "b1": a["layers.0.mlp.b_1"],
                                "w2": a["layers.0.mlp.w_2"]},
                        "mlp2": {"w1": a["layers.0.mlp2.w_1"], "b1": a["layers.0.mlp2.b_1"],
                                 "w2": a["layers.0.mlp2.w_2"]}}],
            "readout": {"state": a["readout.state"], "symbol": a["readout.symbol"], "read": a["readout.read"]},
            "readout_scalar": {"head_bits": a["readout.head_bits"], "undefined": a["readout.undefined"]}}


@dataclass(frozen=True)
class Weights:
    """A parameter tree with the configuration the decoder needs (from a file or a compiled machine)."""

    params: dict
    n_states: int
    n_symbols: int
    head_range: int
    M: int
    machine: str

    @property
    def steps(self) -> int:
        return self.M - 1

    @classmethod
    def from_compiled(cls, cm: CompiledMachine) -> "Weights":
        return cls(cm.params, cm.layout.n, cm.layout.k, cm.layout.R, cm.M, str(cm.machine))

    def config(self) -> dict:
        L = Layout(self.n_states, self.n_symbols, self.head_range)
        return {"format": FORMAT, "machine": self.machine, "n_states": self.n_states, "n_symbols": self.n_symbols,
                "head_range": self.head_range, "M": self.M, "steps": self.steps, "d_model": L.d_model,
                "position_bits": L.D, "residual": L.dim_names()}

    def check_machine(self, machine: TuringMachine) -> None:
        """The machine a run names must be the one the weights were exported for (an edited weight still
        counts as that machine's file: the point is to watch the edit change its run)."""
        if self.machine and self.machine != str(machine):
            raise ToolkitError(f"the weights were exported for {self.machine}, not {machine}")
        if machine.n_states > self.n_states or machine.n_symbols > self.n_symbols:
            raise ToolkitError(f"the weights are for {self.n_states} states x {self.n_symbols} symbols, the machine "
                               f"has {machine.n_states} x {machine.n_symbols}")


def save(weights: Weights, path) -> Path:
    """Write ``weights`` to ``path`` (safetensors), atomically (a temporary name, then a rename)."""
    from safetensors.numpy import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ToolkitError(f"weights file {str(path)!r}: expected a name ending in .safetensors")
    if not path.absolute().parent.is_dir():  # a typo in a folder name must not create folders
        raise ToolkitError(f"cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist (or is not a "
                           "folder); create it first")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        save_file(named_arrays(weights.params), str(tmp), metadata={"config": json.dumps(weights.config())})
        tmp.replace(path)
    except OSError as exc:
        if tmp.exists():
            tmp.unlink()
        raise ToolkitError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    return path


def load(path) -> Weights:
    """Read a weights file written by :func:`save` (possibly edited since)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(path)
    if not path.is_file():
        raise ToolkitError(f"weights file {str(path)!r} does not exist")
    try:
        arrays = load_file(str(path))
        from safetensors import safe_open

        with safe_open(str(path), "np") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ToolkitError(f"weights file {str(path)!r} is not a readable safetensors file: {exc}") from None
    try:
        cfg = json.loads(meta["config"])
        if not isinstance(cfg, dict):
            raise TypeError
        fmt = cfg.get("format")
        n, k, R, M = (int(cfg[key]) for key in ("n_states", "n_symbols", "head_range", "M"))
    except (KeyError, ValueError, TypeError):
        raise ToolkitError(f"weights file {str(path)!r} has no tm-transformer config in its metadata") from None
    if fmt != FORMAT:
        why = (" (a scalar head read-out, exact in bfloat16 only below 2^8; re-export it with tmt export)"
               if fmt == "tm-transformer-weights/1" else "")
        what = "has no format field (written before format 2?)" if fmt is None else f"is format {fmt!r}"
        raise ToolkitError(f"weights file {str(path)!r} {what}, expected {FORMAT!r}{why}")
    if min(n, k, R, M) < 1:
        raise ToolkitError(f"weights file {str(path)!r}: config needs positive n_states, n_symbols, head_range, M")
    params = tree_from_named(arrays)
    L = Layout(n, k, R)
    if "position_bits" in cfg and cfg["position_bits"] != L.D:
        raise ToolkitError(f"weights file {str(path)!r}: config position_bits {cfg['position_bits']!r} does not match "
                           f"head_range {R} (expected {L.D})")
    for name, shape in shapes(L).items():
        if tuple(arrays[name].shape) != shape:
            raise ToolkitError(f"weights file {str(path)!r}: {name} has shape {tuple(arrays[name].shape)}, "
                               f"expected {shape} for its config")
        if not np.all(np.isfinite(arrays[name])):
            raise ToolkitError(f"weights file {str(path)!r}: {name} holds non-finite values")
    scale = float(np.max(np.abs(arrays["layers.0.attn.w_q"][0, :, :L.D])))
    if scale != M:  # the prompt's start token has recency M (D - 1): it must be the scale the query uses
        raise ToolkitError(f"weights file {str(path)!r}: config M {M} differs from the scale {scale:g} in "
                           "layers.0.attn.w_q (edit both together)")
    return Weights(params, n, k, R, M, str(cfg.get("machine", "")))


def shapes(L: Layout) -> dict[str, tuple[int, ...]]:
    """The shape of every named array for a layout (the table in the module docstring)."""
    n, k, d, D, u, h = L.n, L.k, L.d_model, L.D, 2 * L.n * L.k, 6 * L.D
    return {"embed.state": (n + 2, d), "embed.head": (L.n_cells, d), "embed.write_pos": (L.n_cells + 1, d),
            "embed.symbol": (k + 1, d), "embed.recency": (d,), "embed.bias": (d,),
            "layers.0.attn.w_q": (1, d, D + 1), "layers.0.attn.w_k": (1, d, D + 1), "layers.0.attn.w_v": (1, d, k),
            "layers.0.attn.w_o": (1, k, d), "layers.0.mlp.w_1": (d, u), "layers.0.mlp.b_1": (u,),
            "layers.0.mlp.w_2": (u, d), "layers.0.mlp2.w_1": (d, h), "layers.0.mlp2.b_1": (h,),
            "layers.0.mlp2.w_2": (h, d), "readout.state": (d, n + 1), "readout.symbol": (d, k),
            "readout.read": (d, k), "readout.head_bits": (d, D), "readout.undefined": (d,)}
