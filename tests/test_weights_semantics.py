"""Every step is computed from the weights: layouts agree bit for bit, every weight matters, weights
travel as a file and decode the same without JAX, and runs go to the halt."""
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tm_transformer import PrecisionError, parse_machine, simulate
from tm_transformer.cli import main
from tm_transformer.errors import ToolkitError
from tm_transformer.transformer import decode
from tm_transformer.transformer.compile import compile_machine
from tm_transformer.transformer.decode import run
from tm_transformer.transformer.envelope import steps_exact
from tm_transformer.transformer.weights import NAMES, Weights, _get, load, save

from .conftest import machines

STANDALONE = Path(__file__).resolve().parents[1] / "tm_transformer" / "transformer" / "standalone.py"
# BB(4) with its halt replaced by '---': reads 1s, revisits cells, stops before an undefined transition
PROBE = "1RB1LB_1LA0LC_---1LD_1RD0RA"


def _bits(a):
    a = np.asarray(a)
    return a.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


def _outcome(machine_or_batch, steps, **kw):
    """(error message or None, run) -- so raising and non-raising runs can be compared."""
    try:
        return None, run(machine_or_batch, steps, record=True, check_envelope=False, **kw)
    except PrecisionError as exc:
        return str(exc), None


@pytest.mark.slow
@settings(max_examples=20)
@given(st.lists(machines(max_states=4, max_symbols=3), min_size=1, max_size=3), st.integers(1, 120),
       st.sampled_from(["float16", "bfloat16", "float32"]), st.sampled_from([None, 0.7, 1.5, 8.0]),
       st.booleans(), st.integers(0, 2 ** 16))
def test_packed_layout_equals_dense_bit_for_bit(batch, steps, dtype, beta, certify, seed):
    """Scores (top and runner-up), attended positions, the whole residual stream and the outputs, bit for
    bit, on random machines, dtypes and softmax settings -- also where precision fails (uncertified)."""
    rng = np.random.default_rng(seed)
    tapes = [rng.integers(0, m.n_symbols, size=rng.integers(0, 5)).tolist() for m in batch]
    kw = dict(dtype=dtype, beta=beta, head_range=steps + 6, certify=certify, chunk=32)
    err_d, dense = _outcome(batch, steps, tapes=tapes, layout="dense", **kw)
    err_p, packed = _outcome(batch, steps, tapes=tapes, layout="packed", **kw)
    assert err_d == err_p
    if dense is None:
        return
    np.testing.assert_array_equal(_bits(dense.residual), _bits(packed.residual))
    np.testing.assert_array_equal(_bits(dense.scores), _bits(packed.scores))
    np.testing.assert_array_equal(dense.attended, packed.attended)
    for a, b in zip(dense.results, packed.results):
        assert a.trace == b.trace and a.summary() == b.summary()


def _weights(machine, steps=200, R=200):
    return Weights.from_compiled(compile_machine(machine, steps, R))


def _set(w: Weights, name: str, fn) -> Weights:
    """A copy of ``w`` with the array called ``name`` replaced by fn(array)."""
    import copy

    params = copy.deepcopy(w.params)
    path = dict(NAMES)[name]
    parent = _get(params, path[:-1])
    parent[path[-1]] = fn(np.array(parent[path[-1]]))
    return replace(w, params=params)


def _signature(machine, w, layout):
    try:
        r = run(machine, 200, weights=w, layout=layout).results[0]
        return ("ran", r.trace, r.summary())
    except (PrecisionError, ToolkitError) as exc:
        return ("raised", str(exc))


@pytest.mark.parametrize("layout", ["dense", "packed"])
@pytest.mark.parametrize("name", [name for name, _ in NAMES])
def test_zeroing_any_named_weight_changes_the_run_or_raises(name, layout):
    m = parse_machine(PROBE)
    w = _weights(m)
    base = _signature(m, w, layout)
    assert base[0] == "ran" and base[2]["steps"] == 106 and base[2]["reason"] == "undefined"
    assert _signature(m, _set(w, name, np.zeros_like), layout) != base


@pytest.mark.parametrize("layout", ["dense", "packed"])
def test_changing_one_transition_changes_the_run(layout):
    m = parse_machine(PROBE)
    w = _weights(m)
    base = _signature(m, w, layout)
    L = compile_machine(m, 200, 200).layout
    move = L.slices["move"].start

    def flip(w2):  # state B reading 0: move left instead of right
        u = 2 * (1 * L.k + 0)
        w2[u, move], w2[u + 1, move] = -w2[u, move], -w2[u + 1, move]
        return w2

    changed = _signature(m, _set(w, "layers.0.mlp.w_2", flip), layout)
    assert changed != base
    # the edited weights run the edited machine (B reading 0 now moves right), exactly
    edited = simulate(parse_machine("1RB1LB_1RA0LC_---1LD_1RD0RA"), 200)
    assert changed[0] == "ran" and changed[1] == edited.trace


def test_zeroing_w_q_raises_instead_of_returning_a_wrong_run():
    m = parse_machine(PROBE)
    with pytest.raises(PrecisionError, match="not above the runner-up"):
        run(m, 200, weights=_set(_weights(m), "layers.0.attn.w_q", np.zeros_like), layout="dense")


def test_packed_layout_refuses_weights_that_do_not_factor():
    m = parse_machine(PROBE)
    w = _weights(m)
    L = compile_machine(m, 200, 200).layout

    def mix(wk):  # key column 0 now also reads the recency row
        wk[0, L.slices["recency"].start, 0] = 1
        return wk

    mixed = _set(w, "layers.0.attn.w_k", mix)
    with pytest.raises(ToolkitError, match="column 0 reads rows"):
        run(m, 200, weights=mixed, layout="packed")
    run(m, 200, weights=mixed, layout="dense", certify=False)  # dense runs any weights


def test_export_load_round_trip_and_the_standalone_decoder(tmp_path):
    m = parse_machine("1RB1LB_1LA0LC_1RZ1LD_1RD0RA")
    path = save(_weights(m, 300, 40), tmp_path / "bb4.safetensors")
    w = load(path)
    assert (w.n_states, w.n_symbols, w.head_range, w.M) == (4, 2, 40, 301)
    for name, p in NAMES:
        np.testing.assert_array_equal(_get(w.params, p), _get(_weights(m, 300, 40).params, p))
    out = subprocess.run([sys.executable, str(STANDALONE), str(path), "--json"], capture_output=True, text=True,
                         check=True)
    alone = json.loads(out.stdout)
    jax_run = run(m, 300, weights=w).results[0]
    assert (alone["steps"], alone["sigma"], alone["halted"]) == (jax_run.steps, jax_run.sigma, True) == (107, 13, True)


@pytest.mark.slow
@settings(max_examples=8)
@given(machines(max_states=4, max_symbols=3), st.integers(1, 150))
def test_standalone_decoder_equals_jax_on_random_machines(machine, steps):
    from tm_transformer.transformer import standalone

    w = _weights(machine, steps, steps + 2)
    arrays = {name: np.asarray(_get(w.params, p), np.float64) for name, p in NAMES}
    alone = standalone.decode(arrays, w.config(), steps)
    r = run(machine, steps, weights=w).results[0]
    assert (alone["steps"], alone["sigma"], alone["head"]) == (r.steps, r.sigma, r.head)


def test_cli_export_then_run_from_the_file_and_an_edit_changes_it(tmp_path, capsys):
    path = tmp_path / "w.safetensors"
    assert main(["export", "1RB1LB_1LA0LC_1RZ1LD_1RD0RA", "-o", str(path), "--steps", "300", "--head-range", "40"]) == 0
    capsys.readouterr()
    assert main(["run", "1RB1LB_1LA0LC_1RZ1LD_1RD0RA", "--engine", "transformer", "--weights", str(path), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["steps"], first["sigma"], first["halted"], first["weights"]) == (107, 13, True, str(path))
    from safetensors.numpy import load_file, save_file
    from safetensors import safe_open

    arrays = load_file(str(path))
    with safe_open(str(path), "np") as f:
        meta = f.metadata()
    arrays["layers.0.mlp.w_2"][2 * (2 * 2 + 0)] *= 0  # state C reading 0 (the halt) does nothing now
    save_file(arrays, str(path), metadata=meta)
    code = main(["run", "1RB1LB_1LA0LC_1RZ1LD_1RD0RA", "--engine", "transformer", "--weights", str(path), "--json"])
    out, err = capsys.readouterr()
    assert code == 2 and "not certified" in err or json.loads(out) != first


def test_cli_bad_weights_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "w.safetensors"
    bad.write_text("not a tensor file")
    assert main(["run", "1RB1LB_1LA1RZ", "--engine", "transformer", "--weights", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a readable safetensors file" in err
    assert main(["export", "1RB1LB_1LA1RZ", "-o", str(tmp_path / "w.bin")]) == 2
    assert "safetensors" in capsys.readouterr().err


@pytest.mark.parametrize("config,why", [("[1, 2]", "no tm-transformer config"), ('"text"', "no tm-transformer config"),
                                        ("{not json", "no tm-transformer config"), (None, "no tm-transformer config"),
                                        ("drop-format", "has no format field"),
                                        ("format-1", "is format 'tm-transformer-weights/1'")])
def test_a_weights_file_with_a_malformed_config_is_one_line(tmp_path, capsys, config, why):
    """tmt run --weights and the standalone decoder both refuse a config that is not a JSON object (valid JSON
    or not), is missing, has no format field or is format 1, in one line."""
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    from tm_transformer.transformer import standalone

    path = tmp_path / "w.safetensors"
    assert main(["export", "1RB1LB_1LA1RZ", "-o", str(path), "--steps", "100", "--head-range", "8"]) == 0
    arrays = load_file(str(path))
    with safe_open(str(path), "np") as f:
        cfg = json.loads(f.metadata()["config"])
    meta = {"config": config}
    if config is None:
        meta = {"other": "x"}
    elif config == "drop-format":
        meta = {"config": json.dumps({key: v for key, v in cfg.items() if key != "format"})}
    elif config == "format-1":
        meta = {"config": json.dumps({**cfg, "format": "tm-transformer-weights/1"})}
    save_file(arrays, str(path), metadata=meta)
    capsys.readouterr()
    assert main(["run", "1RB1LB_1LA1RZ", "--engine", "transformer", "--weights", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and why in err
    with pytest.raises(SystemExit) as exc:
        standalone.main([str(path), "--json"])
    assert isinstance(exc.value.code, str) and "\n" not in exc.value.code and why in exc.value.code


def test_run_to_the_halt_grows_the_cache(monkeypatch):
    monkeypatch.setattr(decode, "_FIRST_SEGMENT", 16)  # several segments for a 107-step machine
    m = parse_machine("1RB1LB_1LA0LC_1RZ1LD_1RD0RA")
    for layout in ("dense", "packed"):
        out = run(m, None, head_range=64, layout=layout, chunk=8)
        assert out.limit == steps_exact(24, 64)
        r = out.results[0]
        ref = simulate(m, 1000)
        assert r.trace == ref.trace and r.summary() == ref.summary()


def test_run_to_the_halt_stops_short_at_the_certified_limit(capsys):
    assert main(["run", "1RB1RB_1LA1LA", "--engine", "transformer", "--dtype", "bfloat16", "--head-range", "8",
                 "--cache", "full", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["stopped_short"] and out["steps"] == out["limit"] == steps_exact(8, 8) and not out["halted"]
    assert main(["run", "1RB1RB_1LA1LA", "--engine", "transformer", "--dtype", "bfloat16", "--head-range", "8",
                 "--cache", "full"]) == 0
    assert "certified limit" in capsys.readouterr().out


def test_cli_runs_to_the_halt_without_steps(capsys):
    assert main(["run", "1RB1LB_1LA0LC_1RZ1LD_1RD0RA", "--engine", "transformer", "--json", "--layout", "dense",
                 "--cache", "full"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["steps"], out["sigma"], out["halted"], out["layout"], out["exact_by"]) == (107, 13, True, "dense",
                                                                                         "envelope")


def test_summaries_only_equal_the_traced_run():
    ms = [parse_machine(t) for t in ("1RB1LB_1LA0LC_1RZ1LD_1RD0RA", "1RB0LA_1LA1RB", "1RB2LB1RZ_2LA2RB1LB")]
    a = run(ms, 300, head_range=301, trace=False)
    b = run(ms, 300, head_range=301)
    assert a._traces is None
    for x, y in zip(a.results, b.results):
        assert x.summary() == y.summary()
    np.testing.assert_array_equal(a.sigma, b.sigma)


def test_inspect_prints_the_whole_transition_table(capsys):
    assert main(["inspect", "1RB1LB_1LA0LC_1RZ1LD_1RD0RA", "--brief"]) == 0
    out = capsys.readouterr().out
    assert "transition table (read from W_2" in out
    for row in ("A    1RB    1LB", "B    1LA    0LC", "C    1RZ    1LD", "D    1RD    0RA"):
        assert row in out


@pytest.mark.parametrize("name", [name for name, _ in NAMES])
def test_a_weights_file_with_any_array_misshapen_or_non_finite_is_refused(tmp_path, name, capsys):
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    path = tmp_path / "w.safetensors"
    assert main(["export", "1RB1LB_1LA1RZ", "-o", str(path), "--steps", "100", "--head-range", "8"]) == 0
    arrays = load_file(str(path))
    with safe_open(str(path), "np") as f:
        meta = f.metadata()
    good = arrays[name]
    nan = good.copy()
    nan.flat[0] = np.nan
    for bad, why in ((good[..., :-1], "has shape"), (nan, "non-finite")):
        save_file({**arrays, name: np.ascontiguousarray(bad)}, str(path), metadata=meta)
        capsys.readouterr()
        assert main(["run", "1RB1LB_1LA1RZ", "--engine", "transformer", "--weights", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and why in err and name in err


def test_weights_cli_inputs_that_do_not_fit_are_one_line(tmp_path, capsys):
    path = tmp_path / "w.safetensors"
    assert main(["export", "1RB1LB_1LA1RZ", "-o", str(path), "--steps", "100", "--head-range", "8"]) == 0
    cases = [(["run", "1RB0LB_1LA0RZ", "--engine", "transformer", "--weights", str(path)], "exported for 1RB1LB_1LA1RZ"),
             (["run", "1RB1LB_1LA1RZ", "--engine", "transformer", "--weights", str(path), "--head-range", "5"], "cover +-8"),
             (["export", "1RB1LB_1LA1RZ", "-o", str(tmp_path / "x.safetensors"), "--head-range", "0"], "positive"),
             (["export", "1RB1LB_1LA1RZ", "-o", str(path / "sub" / "x.safetensors")], "cannot write"),
             (["bench", "transformer", "--steps", "10", "--batch", "2", "--repeat", "0"], "--repeat"),
             (["inspect", "1RB1LB_1LA1RZ", "--figure", str(tmp_path / "f.txt")], ".png or .pdf")]
    for argv, needle in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        out, err = capsys.readouterr()
        assert err.count("\n") == 1 and needle in err and out == "", (argv, err)


@pytest.mark.parametrize("layout", ["dense", "packed"])
def test_fixed_shape_blocks_compute_the_same_run(layout, monkeypatch):
    monkeypatch.setattr(decode, "_FIRST_SEGMENT", 32)  # several doubling segments
    ms = [parse_machine(t) for t in ("1RB1LB_1LA0LC_1RZ1LD_1RD0RA", "1RB0LA_1LA1RB", "1RB2LB1RZ_2LA2RB1LB")]
    a = run(ms, 300, head_range=301, layout=layout, chunk=16, record=True)
    b = run(ms, 300, head_range=301, layout=layout, chunk=16, record=True, fixed_shape=True)
    np.testing.assert_array_equal(_bits(a.residual), _bits(b.residual))
    np.testing.assert_array_equal(a.attended, b.attended)
    for x, y in zip(a.results, b.results):
        assert x.trace == y.trace and x.summary() == y.summary()
