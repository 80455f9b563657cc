"""The head as +-1 bits: the incrementer block ``mlp2`` of the compiled transformer, exact in every dtype
(weights format tm-transformer-weights/2)."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tm_transformer import ToolkitError, parse_machine
from tm_transformer.cli import main
from tm_transformer.transformer import model
from tm_transformer.transformer.compile import Layout, _shared_weights, cell_bits
from tm_transformer.transformer.decode import _DTYPES, run, x64_if
from tm_transformer.transformer.weights import FORMAT, load

from .data.published import HALTING


def _increment(R: int, dtype: str, ids, moves, extra: bool):
    """Run ``mlp2`` and the ``head_bits`` read-out on residuals holding qbits = bits(id), move and one (and,
    with ``extra``, the other rows at large values, as a real step has them): (N, D) read-out values."""
    L = Layout(2, 2, R)
    s = L.slices
    D = L.D
    q = 2 * ((ids[:, None] >> np.arange(D)[None, :]) & 1) - 1  # ids beyond 2R too: every D-bit pattern
    x = np.zeros((len(ids), L.d_model))
    if extra:  # every row the incrementer must ignore, at the magnitudes a run has (recency up to M (D - 1))
        x[:] = np.random.default_rng(0).integers(-3, 4, size=x.shape)
        x[:, s["recency"].start] = (2 ** 10 if dtype == "float16" else 2 ** 27) * (D - 1)  # float16: finite
    x[:, s["qbits"]] = q
    x[:, s["move"].start] = moves
    x[:, s["one"].start] = 1
    x[:, s["next_qbits"]] = 0  # written by the incrementer only
    params = _shared_weights(L, 2 ** 27)
    with x64_if(dtype == "float64"):
        jd = _DTYPES[dtype]
        layer = {"mlp2": jax.tree.map(lambda a: jnp.asarray(a, jd), params["layers"][0]["mlp2"])}
        xj = jnp.asarray(x, jd)
        xj = xj + model.mlp(layer, xj, "mlp2")
        bits = xj @ jnp.asarray(params["readout_scalar"]["head_bits"], jd)
        return np.asarray(bits.astype(jnp.float32), np.float64), D


@pytest.mark.slow
@pytest.mark.parametrize("D", [3, 8, 11, 16])  # 16: the layout of the CLI's evicting-cache default R = 32,767
@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32", "float64"])
def test_the_incrementer_is_exact_for_every_head_and_move(D, dtype):
    """Every D-bit head id and move -1 / 0 / +1: the read-out bits are exactly +-1 (so decided with the whole
    1/4 margin) and code (id + move) mod 2^D; the one wrap a run can reach (id 0, move -1, i.e. cell -R - 1)
    decodes to 2^D - 1 > 2R, which the decoder reports as out of range."""
    R = 2 ** (D - 1) - 1
    ids = np.repeat(np.arange(2 ** D), 3)
    moves = np.tile([-1, 0, 1], 2 ** D)
    for extra in (False, True):
        bits, d = _increment(R, dtype, ids, moves, extra)
        assert d == D
        assert np.all(np.abs(bits) == 1), "a head bit is not exactly +-1"
        got = ((bits > 0) * (1 << np.arange(D))).sum(axis=1)
        np.testing.assert_array_equal(got, (ids + moves) % 2 ** D)
    assert 2 ** D - 1 > 2 * R  # the wrap from cell -R lands outside the cells, never on one
    assert (2 * R + 1) < 2 ** D  # and cell R + 1 (id 2R + 1) is still a D-bit id: no wrap at the top


def test_the_head_embedding_is_the_offset_binary_code():
    R = 5
    L = Layout(2, 2, R)
    params = _shared_weights(L, 64)
    bits = params["embed"]["head"][:, L.slices["qbits"]]
    np.testing.assert_array_equal(bits, cell_bits(R))
    ids = ((bits > 0) * (1 << np.arange(L.D))).sum(axis=1)
    np.testing.assert_array_equal(ids, np.arange(2 * R + 1))  # id = cell + R
    assert "head" not in L.sizes  # no residual scalar holds the head


def test_the_head_leaving_the_range_is_reported_from_the_bits():
    m = parse_machine("1LA0LA")  # moves left forever
    with pytest.raises(Exception, match=r"left the range \+-3"):
        run(m, 10, dtype="bfloat16", head_range=3, cache="evict")
    m = parse_machine("1RA0RA")
    with pytest.raises(Exception, match=r"left the range \+-3"):
        run(m, 10, dtype="bfloat16", head_range=3)
    assert run(m, 3, dtype="bfloat16", head_range=3).results[0].head == 3


def test_a_format_1_weights_file_is_refused_in_one_line(tmp_path, capsys):
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    path = tmp_path / "w.safetensors"
    assert main(["export", "1RB1LB_1LA1RZ", "-o", str(path), "--steps", "100", "--head-range", "8"]) == 0
    assert load(path).M == 101
    arrays = load_file(str(path))
    with safe_open(str(path), "np") as f:
        cfg = json.loads(f.metadata()["config"])
    assert cfg["format"] == FORMAT == "tm-transformer-weights/2"
    save_file(arrays, str(path), metadata={"config": json.dumps({**cfg, "format": "tm-transformer-weights/1"})})
    with pytest.raises(ToolkitError, match="scalar head read-out.*re-export it with tmt export"):
        load(path)
    capsys.readouterr()
    assert main(["run", "1RB1LB_1LA1RZ", "--engine", "transformer", "--weights", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tm-transformer-weights/1" in err


@pytest.mark.parametrize("name,text,steps,sigma", HALTING[:2])
def test_full_cache_still_exact_in_float32(name, text, steps, sigma):
    r = run(parse_machine(text), None, dtype="float32", cache="full").results[0]
    assert (r.steps, r.sigma, r.reason) == (steps, sigma, "halted")


def test_position_bits_is_exact_integer_arithmetic_and_the_int32_id_is_guarded():
    from tm_transformer.transformer.envelope import position_bits

    for R in [0, 1, 2, 3, 4, 127, 128, 1000, 32767, 32768, 2 ** 46 - 1, 2 ** 46, 2 ** 60 - 1]:
        D = position_bits(R)
        assert 2 ** D >= 2 * R + 1 and (D == 1 or 2 ** (D - 1) < 2 * R + 1)  # the least D with 2R + 1 ids
    assert Layout(2, 2, 2 ** 30 - 1).D == 31  # the largest id sum_j 2^j, j < 31, is an int32
    with pytest.raises(ToolkitError, match="the head id is an int32"):
        Layout(2, 2, 2 ** 30)
