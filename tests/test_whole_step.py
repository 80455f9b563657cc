"""Issue 24: a certificate over the whole step for weights a user loads (tm_transformer.transformer.exactness),
and decoders that check the file against its config."""
import copy
import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from tm_transformer import parse_machine, simulate
from tm_transformer.cli import main
from tm_transformer.errors import PrecisionError
from tm_transformer.transformer import standalone, weights as W
from tm_transformer.transformer.compile import Layout, compile_machine
from tm_transformer.transformer.decode import run
from tm_transformer.transformer.exactness import check_step, lowest_bit

from .conftest import machines

BB4 = "1RB1LB_1LA0LC_1RZ1LD_1RD0RA"


def _offset_file(tmp_path, offset: float, bias=2.0, symbol=2.0):
    """BB(4)'s exported weights (60 steps, head range 16) with offsets in the residual dimension write[0] that
    cancel in real arithmetic: bias + ``bias``, head rows + offset, state rows - offset, symbol rows - ``symbol``
    (here 2 - 2: the same model). Every entry is an exact float32."""
    m = parse_machine(BB4)
    cm = compile_machine(m, 60, 16)
    L, p = cm.layout, copy.deepcopy(cm.params)
    j = L.index("write", 0)
    p["bias"][j] += bias
    p["embed"]["head"][:, j] += offset
    p["embed"]["state"][:, j] -= offset
    p["embed"]["symbol"][:, j] -= symbol
    path = tmp_path / "w.safetensors"
    W.save(W.Weights(p, L.n, L.k, L.R, cm.M, str(m)), path)
    assert all(np.all(np.asarray(a, np.float32) == a) for a in W.load(path).params["embed"].values())
    return m, path


def test_lowest_bit_is_the_grid_of_a_number():
    assert lowest_bit([1.0, 0.75, -1.25, 3.0, 2.0 ** 25, 2.0 ** -30, 6.0]).tolist() == [0, -2, -2, 0, 25, -30, 1]
    assert lowest_bit([0.0])[0] > 10 ** 6  # zero: no constraint


def test_cancelling_offsets_that_fooled_the_step_certificate_are_refused_before_the_run(tmp_path, capsys,
                                                                                        monkeypatch):
    """The issue's attack: real arithmetic (float64, the standalone decoder) gives sigma 8, head -6; float32
    rounds 2 - 2^25 and, with only the per-step margins, certified sigma 15, head -12. Now refused, one line."""
    m, path = _offset_file(tmp_path, 2.0 ** 25)
    w = W.load(path)
    r64 = run(m, 60, weights=w, dtype="float64").results[0]  # proved exact: 2^26 is far below 2^53
    alone = standalone.decode(*standalone.load(str(path)), 60)
    assert (r64.sigma, r64.head) == (alone["sigma"], alone["head"]) == (8, -6)
    assert r64.trace == simulate(m, 60).trace  # the offsets cancel: it is BB(4)'s run
    # the power of the new check: without it the margins alone pass a wrong float32 run
    from tm_transformer.transformer import exactness

    with monkeypatch.context() as mp:
        mp.setattr(exactness, "is_compiled", lambda weights: True)
        fooled = run(m, 60, weights=w, dtype="float32").results[0]
    assert (fooled.sigma, fooled.head) == (15, -12) and fooled.trace != r64.trace
    with pytest.raises(PrecisionError, match=r"cannot be certified in float32: the embedding \[write\[0\]\] can "
                                             r"reach 6\.71089e\+07 on a grid of 2\^1.*only up to 2\^25"):
        run(m, 60, weights=w, dtype="float32")
    capsys.readouterr()
    assert main(["run", BB4, "--engine", "transformer", "--weights", str(path), "--steps", "60"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be certified in float32" in err
    # uncertified, float32 still decodes (the user asked for no certificate) -- and is wrong, as expected
    assert run(m, 60, weights=w, dtype="float32", certify=False).results[0].trace != r64.trace


def test_the_refusal_sits_where_float32_starts_rounding(tmp_path):
    """Offsets of 2^21 keep every bound within what float32 holds on its grid (proved exact: the certified run
    is the reference); offsets of 2^23 do not (the residual after the MLP, on a grid of 1/2, may reach 2^24)."""
    m, path = _offset_file(tmp_path, 2.0 ** 21)
    assert run(m, 60, weights=W.load(path), dtype="float32").results[0].trace == simulate(m, 60).trace
    m, path = _offset_file(tmp_path, 2.0 ** 23)
    with pytest.raises(PrecisionError, match=r"float32: the residual after mlp \[write\[0\]\].*only up to 2\^23"):
        run(m, 60, weights=W.load(path), dtype="float32")


@settings(max_examples=15)
@given(machines(max_states=5, max_symbols=4), st.integers(1, 1000), st.integers(1, 1000))
def test_compiled_weights_pass_with_room_to_spare(machine, steps, head_range):
    """Weights as compiled (and so as exported): every map exact in float32 and float64, the worst partial sum
    far below the limit (the envelope, not this check, is what limits compiled weights)."""
    cm = compile_machine(machine, steps, head_range)
    L = cm.layout
    recency = max(cm.M * (L.D - 1), steps)
    assert check_step(cm.params, "float64", recency, names=L.dim_names()).utilisation < 1e-9
    if recency <= 2 ** 24:
        assert check_step(cm.params, "float32", recency, names=L.dim_names()).utilisation < 0.01


def test_weights_a_dtype_cannot_hold_and_softmax_are_refused(tmp_path):
    m = parse_machine(BB4)
    cm = compile_machine(m, 10, 4)
    p = copy.deepcopy(cm.params)
    p["layers"][0]["mlp"]["w2"][0, 0] = 0.1
    w = W.Weights(p, cm.layout.n, cm.layout.k, cm.layout.R, cm.M, str(m))
    with pytest.raises(PrecisionError, match="layers.0.mlp.w_2 holds 0.1.*cannot represent exactly"):
        run(m, 10, weights=w, dtype="float32")
    # the compiled arrays, but naming no machine: not recognised as compiled, so checked like any file
    plain = W.Weights(cm.params, cm.layout.n, cm.layout.k, cm.layout.R, cm.M, "")
    with pytest.raises(PrecisionError, match="hardmax only"):
        run(m, 10, weights=plain, dtype="float32", beta=8.0)
    assert run(m, 10, weights=plain, dtype="float32").results[0].trace == simulate(m, 10).trace


def _edited(tmp_path, edit):
    path = tmp_path / "w.safetensors"
    assert main(["export", "1RB1LB_1LA1RZ", "-o", str(path), "--steps", "50", "--head-range", "8"]) == 0
    arrays = load_file(str(path))
    with safe_open(str(path), "np") as f:
        cfg = json.loads(f.metadata()["config"])
    arrays, cfg = edit(arrays, cfg)
    save_file(arrays, str(path), metadata={"config": json.dumps(cfg)})
    return path


@pytest.mark.parametrize("edit,why", [
    (lambda a, c: (a, {**c, "n_states": 3}), "has shape"),
    (lambda a, c: (a, {**c, "head_range": 20}), "does not match head_range 20"),
    (lambda a, c: (a, {**c, "position_bits": 9}), "position_bits 9 does not match"),
    (lambda a, c: (a, {**c, "M": 10 ** 6}), "config M 1000000 differs from the scale 51"),
    (lambda a, c: ({**a, "layers.0.mlp.w_1": a["layers.0.mlp.w_1"] * np.nan}, c), "non-finite"),
    (lambda a, c: ({k: v for k, v in a.items() if k != "readout.read"}, c), "readout.read"),
])
def test_both_decoders_check_the_config_against_the_arrays(tmp_path, capsys, edit, why):
    path = _edited(tmp_path, edit)
    capsys.readouterr()
    assert main(["run", "1RB1LB_1LA1RZ", "--engine", "transformer", "--weights", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    with pytest.raises(SystemExit) as exc:
        standalone.main([str(path), "--json"])
    assert isinstance(exc.value.code, str) and "\n" not in exc.value.code and why in exc.value.code


def test_a_truncated_file_is_one_line_in_the_standalone_decoder(tmp_path, capsys):
    path = _edited(tmp_path, lambda a, c: (a, c))
    capsys.readouterr()
    standalone.main([str(path), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["certified"] is False and (out["steps"], out["sigma"]) == (6, 4)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(SystemExit) as exc:
        standalone.main([str(path)])
    assert isinstance(exc.value.code, str) and "not a readable safetensors file" in exc.value.code


def test_subnormal_weights_are_refused(tmp_path):
    """A referee's file: 2^-127 in the bias times 2^127 in the undefined read-out. Real arithmetic (float64,
    numpy) stops before an undefined transition at step 0; XLA on CPU flushes the float32/bfloat16 subnormal
    to zero and would run on. Grids below the smallest normal number are refused."""
    m = parse_machine(BB4)
    cm = compile_machine(m, 60, 16)
    L, p = cm.layout, copy.deepcopy(cm.params)
    j = L.index("undefined", 0)
    p["bias"][j] = 2.0 ** -127
    p["readout_scalar"]["undefined"][j] = 2.0 ** 127
    path = tmp_path / "sub.safetensors"
    W.save(W.Weights(p, L.n, L.k, L.R, cm.M, str(m)), path)
    w = W.load(path)
    alone = standalone.decode(*standalone.load(str(path)), 60)
    assert (alone["steps"], alone["reason"]) == (0, "undefined")
    with pytest.raises(PrecisionError, match=r"float32: embed.bias holds 5.87747\d*e-39, which has bits below "
                                             "float32's smallest normal number"):
        run(m, 60, weights=w, dtype="float32")
    with pytest.raises(PrecisionError):  # bfloat16: refused too (here already by the envelope of 60 steps)
        run(m, 60, weights=w, dtype="bfloat16")
    with pytest.raises(PrecisionError, match="bfloat16's smallest normal number"):
        run(m, 10, weights=w, dtype="bfloat16", check_envelope=False)


def test_edited_weights_cannot_pass_as_compiled(tmp_path):
    """Whether weights are the compiled ones is decided from their arrays (recompiled and compared): an edit
    carried inside ``Weights.from_compiled(...)`` is checked like a file's."""
    m, path = _offset_file(tmp_path, 2.0 ** 25)
    edited = W.load(path).params
    stock = W.Weights.from_compiled(compile_machine(m, 60, 16))
    with pytest.raises(PrecisionError, match="cannot be certified in float32"):
        run(m, 60, weights=dataclasses.replace(stock, params=edited), dtype="float32")
    assert run(m, 60, weights=stock, dtype="float32").results[0].trace == simulate(m, 60).trace


def test_an_unedited_export_still_runs_in_bfloat16(tmp_path):
    """The a-priori bound is loose for the incrementer in bfloat16 (it refuses edited files there); an unedited
    export is recognised as compiled weights and certifies as before."""
    m = parse_machine(BB4)
    path = tmp_path / "bb4.safetensors"
    W.save(W.Weights.from_compiled(compile_machine(m, 20, 4)), path)
    for cache in ("full", "evict"):
        r = run(m, 20, weights=W.load(path), dtype="bfloat16", cache=cache).results[0]
        assert r.trace == simulate(m, 20).trace


@settings(max_examples=30)
@given(st.integers(1, 8), st.integers(2, 6), st.integers(1, 5000))
def test_the_standalone_shape_table_is_tmts(n, k, head_range):
    """standalone.py keeps its own copy of the array shapes (it imports numpy and safetensors only): it must
    be the table tmt checks files against, and its position bits the envelope's."""
    from tm_transformer.transformer.envelope import position_bits

    L = Layout(n, k, head_range)
    assert L.D == position_bits(head_range) == (2 * head_range).bit_length()
    assert standalone.shapes(n, k, head_range, L.D) == W.shapes(L)
