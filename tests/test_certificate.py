"""Issue 24: every decoder validates its input, and a certified run equals exact arithmetic on the same
weights, for any weights a user loads (the whole-step rounding-error bound of :mod:`.decode`)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tm_transformer.cli import main

STANDALONE = Path(__file__).resolve().parents[1] / "tm_transformer" / "transformer" / "standalone.py"
BB4 = "1RB1LB_1LA0LC_1RZ1LD_1RD0RA"


def _export(tmp_path, machine=BB4, steps=100, R=8):
    path = tmp_path / "w.safetensors"
    assert main(["export", machine, "-o", str(path), "--steps", str(steps), "--head-range", str(R)]) == 0
    return path


def _read(path):
    from safetensors import safe_open
    from safetensors.numpy import load_file

    with safe_open(str(path), "np") as f:
        cfg = json.loads(f.metadata()["config"])
    return load_file(str(path)), cfg


def _write(path, arrays, cfg):
    from safetensors.numpy import save_file

    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path), metadata={"config": json.dumps(cfg)})


def _nan(arrays, name, value=np.nan):
    a = arrays[name].copy()
    a.flat[a.size // 2] = value
    return {**arrays, name: a}


TAMPER = {  # name: (edit of (arrays, cfg), text the one-line refusal holds)
    "n_states": (lambda a, c: (a, {**c, "n_states": c["n_states"] + 1}), "has shape"),
    "n_states_fewer": (lambda a, c: (a, {**c, "n_states": c["n_states"] - 1}), "has shape"),
    "head_range": (lambda a, c: (a, {**c, "head_range": c["head_range"] + 5}), "has shape"),
    "head_range_same_bits": (lambda a, c: (a, {**c, "head_range": c["head_range"] + 1}), "has shape"),
    "position_bits": (lambda a, c: (a, {**c, "position_bits": c["position_bits"] + 1}), "position_bits"),
    "position_bits_text": (lambda a, c: (a, {**c, "position_bits": "four"}), "position_bits"),
    "M_large": (lambda a, c: (a, {**c, "M": 10 ** 6}), "config M"),
    "M_small": (lambda a, c: (a, {**c, "M": c["M"] - 1}), "config M"),
    "M_text": (lambda a, c: (a, {**c, "M": "101"}), "M"),
    "nan": (lambda a, c: (_nan(a, "layers.0.mlp.w_2"), c), "non-finite"),
    "inf": (lambda a, c: (_nan(a, "embed.head", np.inf), c), "non-finite"),
    "missing": (lambda a, c: ({k: v for k, v in a.items() if k != "readout.symbol"}, c), "readout.symbol"),
    "misshapen": (lambda a, c: ({**a, "layers.0.attn.w_v": a["layers.0.attn.w_v"][..., :-1]}, c), "has shape"),
}


def _one_line_refusal(argv_tail, path):
    out = subprocess.run([sys.executable, str(STANDALONE), str(path), *argv_tail], capture_output=True, text=True)
    return out.returncode, out.stdout, out.stderr


@pytest.mark.parametrize("case", sorted(TAMPER))
def test_the_standalone_decoder_refuses_a_tampered_file_in_one_line_as_tmt_does(tmp_path, case, capsys):
    path = _export(tmp_path)
    arrays, cfg = _read(path)
    edit, needle = TAMPER[case]
    _write(path, *edit(arrays, cfg))
    code, out, err = _one_line_refusal(["--json"], path)
    assert code != 0 and out == "" and "Traceback" not in err, err
    assert err.count("\n") == 1 and needle in err, err
    if case == "M_text":  # tmt reads the number inside the string ("101"); the standalone decoder is stricter
        return
    capsys.readouterr()
    assert main(["run", BB4, "--engine", "transformer", "--weights", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle.split()[-1] in err, err


def test_the_standalone_decoder_refuses_a_truncated_file_in_one_line(tmp_path, capsys):
    path = _export(tmp_path)
    data = path.read_bytes()
    for cut in (len(data) // 2, 20, 5):
        path.write_bytes(data[:cut])
        code, out, err = _one_line_refusal([], path)
        assert code != 0 and out == "" and "Traceback" not in err and err.count("\n") == 1, err
        assert "not a readable safetensors file" in err
        capsys.readouterr()
        assert main(["run", BB4, "--engine", "transformer", "--weights", str(path)]) == 2
        assert capsys.readouterr().err.count("\n") == 1


def test_the_standalone_decoder_runs_an_untampered_file_and_says_it_does_not_certify(tmp_path):
    path = _export(tmp_path, steps=300, R=40)
    out = subprocess.run([sys.executable, str(STANDALONE), str(path), "--json"], capture_output=True, text=True,
                         check=True)
    got = json.loads(out.stdout)
    assert (got["steps"], got["sigma"], got["state"], got["certified"]) == (107, 13, "Z", False)
    code, _, err = _one_line_refusal(["--tape", "01x"], path)
    assert code != 0 and err.count("\n") == 1 and "--tape" in err


# ---------------------------------------------------------------- the whole-step certificate (item 1, 6)

import copy  # noqa: E402
from dataclasses import replace  # noqa: E402

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from tm_transformer import PrecisionError, parse_machine, simulate  # noqa: E402
from tm_transformer.errors import ToolkitError  # noqa: E402
from tm_transformer.transformer import decode  # noqa: E402
from tm_transformer.transformer.compile import compile_machine  # noqa: E402
from tm_transformer.transformer.decode import run  # noqa: E402
from tm_transformer.transformer.weights import NAMES, Weights, _get, load, save  # noqa: E402

M_BB4 = parse_machine(BB4)
CM = compile_machine(M_BB4, 200, 40)    # float32 / float64 runs of 60 steps
CM_BF = compile_machine(M_BB4, 20, 8)   # bfloat16: M D = 21 * 5 <= 2^8 (the full cache's envelope)


def _cancel(cm, dim, big, small):
    """The issue's attack: offsets into one residual dimension that cancel in exact arithmetic (a small bias,
    +big on every head row, -big on every state row, -small on every symbol row), every entry exact in float32."""
    p = copy.deepcopy(cm.params)
    p["bias"] = p["bias"].copy()
    p["bias"][dim] += small
    for field, v in (("head", big), ("state", -big), ("symbol", -small)):
        t = p["embed"][field].copy()
        t[:, dim] += v
        p["embed"][field] = t
    L = cm.layout
    return Weights(p, L.n, L.k, L.R, cm.M, str(cm.machine))


def _outcome(w, steps, dtype, **kw):
    try:
        out = run(M_BB4, steps, weights=w, dtype=dtype, **kw)
    except (PrecisionError, ToolkitError) as exc:  # refused before the run, or a step not certified
        return "raised", str(exc)
    r = out.results[0]
    return "ran", (r.trace, r.summary())


def _exact(w, steps, **kw):
    """The float64 run (certified: exact arithmetic's decisions, the reference)."""
    kind, got = _outcome(w, steps, "float64", **kw)
    assert kind == "ran", got
    return got


def test_the_issues_cancellation_attack_is_refused_where_it_used_to_certify_a_wrong_run():
    L = CM.layout
    w = _cancel(CM, L.index("write", 0), 2.0 ** 25, 1.5)
    exact = _exact(w, 60, layout="dense")
    assert (exact[1]["sigma"], exact[1]["head"]) == (8, -6)
    # the attack works: float32 arithmetic decides otherwise (the run the old certificate returned)
    wrong = run(M_BB4, 60, weights=w, dtype="float32", layout="dense", certify=False).results[0]
    assert (wrong.sigma, wrong.head) == (15, -12)
    for cache, layout in (("full", "dense"), ("full", "packed"), ("evict", "dense"), ("evict", "packed")):
        kind, got = _outcome(w, 60, "float32", cache=cache, layout=layout)
        assert kind == "raised" and "whole-step certificate" in got, (cache, layout, got)


def test_a_cancellation_file_on_disk_is_refused_or_exact(tmp_path):
    L = CM.layout
    path = save(_cancel(CM, L.index("write", 0), 2.0 ** 25, 1.5), tmp_path / "attack.safetensors")
    w = load(path)
    kind, got = _outcome(w, 60, "float32", layout="dense")
    assert kind == "raised" or got == _exact(w, 60, layout="dense")
    assert main(["run", BB4, "--engine", "transformer", "--weights", str(path), "--steps", "60",
                 "--cache", "full"]) == 2


DIMS = ("write[0]", "write[1]", "qbits[0]", "qbits[5]", "one", "next_qbits[0]", "next_state[1]", "read[0]",
        "state[1]", "undefined", "move", "recency")


@pytest.mark.parametrize("big,small", [(2.0 ** 25, 1.5), (2.0 ** 25, 1.0), (2.0 ** 26, 2.0), (2.0 ** 30, 3.0),
                                       (2.0 ** 24, 0.75)])
def test_cancellation_files_float32_refuse_or_equal_float64(big, small):
    names = CM.layout.dim_names()
    for dim in DIMS:
        w = _cancel(CM, names.index(dim), big, small)
        kind, got = _outcome(w, 60, "float32", layout="dense")
        if kind == "ran":
            assert got == _exact(w, 60, layout="dense"), (dim, big, small)


@pytest.mark.parametrize("big,small", [(2.0 ** 10, 1.5), (2.0 ** 12, 3.0), (2.0 ** 9, 0.75), (2.0 ** 14, 6.0)])
@pytest.mark.parametrize("cache", ["full", "evict"])
def test_cancellation_files_bfloat16_refuse_or_equal_float64(big, small, cache):
    names = CM_BF.layout.dim_names()
    raised = 0
    for dim in DIMS:
        if dim not in names:  # qbits[5]: D = 5 here
            continue
        w = _cancel(CM_BF, names.index(dim), big, small)
        kind, got = _outcome(w, 20, "bfloat16", layout="dense", cache=cache)
        if kind == "ran":
            assert got == _exact(w, 20, layout="dense", cache=cache), (dim, big, small)
        raised += kind == "raised"
    assert raised  # some of these edits do change the bfloat16 arithmetic's decisions


def test_compiled_weights_certify_with_a_zero_or_tiny_bound():
    for dtype in ("float32", "bfloat16", "float16", "float64"):
        R = 8 if dtype == "bfloat16" else 64
        steps = 20 if dtype == "bfloat16" else 107
        ref = simulate(M_BB4, steps)
        for cache in ("full", "evict"):
            out = run(M_BB4, steps, dtype=dtype, head_range=R, cache=cache, layout="dense")
            r = out.results[0]
            assert r.trace == ref.trace and r.summary() == ref.summary()
            bound = float(out.max_error_bound[0])
            if cache == "full" and dtype in ("float32", "float64", "bfloat16"):
                assert bound == 0.0, (dtype, bound)  # every operation exact by the grid rule
            else:  # float32's rounding of large recencies (evict), float16's a-posteriori float32 sums
                assert bound < (1e-3 if cache == "full" else out.M / 64), (dtype, cache, bound)


@settings(max_examples=6, deadline=None, derandomize=True)
@given(st.integers(0, 2 ** 16), st.sampled_from(["float32", "bfloat16"]))
def test_random_machines_still_certify_with_compiled_weights(seed, dtype):
    from tm_transformer.machine import random_machine

    rng = np.random.default_rng(seed)
    ms = [random_machine(rng, 4, 2, p_halt=0.1) for _ in range(3)]
    T, R = (20, 8) if dtype == "bfloat16" else (200, 201)
    out = run(ms, T, dtype=dtype, head_range=R, layout="packed")
    for m, r in zip(ms, out.results):
        ref = simulate(m, T)
        assert r.trace == ref.trace and r.summary() == ref.summary()


def _edit(cm, rng, kind, dtype):
    """A randomly edited copy of the compiled weights: noise on an array, a cancellation in a dimension, or
    a few large or small entries."""
    p = copy.deepcopy(cm.params)
    L = cm.layout
    paths = [path for _, path in NAMES]
    if kind == "cancel":
        dim = int(rng.integers(L.d_model))
        big = 2.0 ** int(rng.integers(6, 40))
        small = float(rng.choice([0.25, 0.75, 1.0, 1.5, 3.0]))
        return _cancel(cm, dim, big, small)
    path = paths[int(rng.integers(len(paths)))]
    parent = _get(p, path[:-1])
    a = np.array(parent[path[-1]], np.float64)
    if kind == "noise":
        a = a + rng.normal(size=a.shape) * 10.0 ** float(rng.uniform(-9, -1))
    else:
        idx = rng.integers(a.size, size=int(rng.integers(1, 4)))
        a.flat[idx] = rng.choice([-1, 1], size=len(idx)) * 2.0 ** rng.integers(-40, 40, size=len(idx)).astype(float)
    parent[path[-1]] = np.asarray(a.astype(np.float32), np.float64)  # a file holds float32 numbers
    return Weights(p, L.n, L.k, L.R, cm.M, str(cm.machine))


@settings(max_examples=24, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2 ** 20), st.sampled_from(["noise", "cancel", "entries"]),
       st.sampled_from(["float32", "bfloat16"]), st.sampled_from(["full", "evict"]))
def test_no_certified_run_of_an_edited_file_differs_from_float64(seed, kind, dtype, cache):
    cm, steps = (CM_BF, 20) if dtype == "bfloat16" else (CM, 60)
    w = _edit(cm, np.random.default_rng(seed), kind, dtype)
    got = _outcome(w, steps, dtype, layout="dense", cache=cache)  # refused (before or during the run), or ran
    if got[0] == "ran":
        ref = run(M_BB4, steps, weights=w, dtype="float64", layout="dense", cache=cache, certify=False).results[0]
        assert got[1] == (ref.trace, ref.summary()), (seed, kind, dtype, cache)


def test_softmax_is_refused_for_edited_weights_and_runs_for_compiled_ones():
    w = Weights.from_compiled(CM)
    run(M_BB4, 60, weights=w, beta=12.0, layout="dense")
    edited = _cancel(CM, CM.layout.index("write", 0), 2.0 ** 25, 1.5)
    with pytest.raises(ToolkitError, match="softmax attention is certified for the compiled weights only"):
        run(M_BB4, 60, weights=edited, beta=12.0, layout="dense")


def test_the_evicting_cache_refuses_weights_whose_dtype_merges_two_cells():
    p = copy.deepcopy(CM_BF.params)
    t = p["embed"]["write_pos"].copy()
    t[3] = t[4] * (1 + 2.0 ** -12)  # cell 3's key: cell 4's up to a bfloat16 rounding, different exactly
    p["embed"]["write_pos"] = t
    L = CM_BF.layout
    w = Weights(p, L.n, L.k, L.R, CM_BF.M, str(M_BB4))
    with pytest.raises(ToolkitError, match="id 4 rounds to the key of id 3"):
        run(M_BB4, 20, weights=w, dtype="bfloat16", cache="evict", layout="dense")
    run(M_BB4, 20, weights=w, dtype="float32", cache="evict", layout="dense", certify=False)  # float32 keeps them apart


# ---------------------------------------------------------------- the evicting cache grows geometrically (item 4)

def test_the_evicting_cache_compiles_log_many_shapes_and_decodes_the_same():
    m = parse_machine("1RB1RA_0RA1RA")  # moves right every step: one new slot a step
    T = 300
    before = decode._segment._cache_size()
    out = run(m, T, head_range=T + 1, cache="evict", layout="dense", chunk=8)
    compiled = decode._segment._cache_size() - before
    # 300 slots in buckets of 8 grown one bucket at a time would compile ~37 shapes; doubling: 8 .. 512
    assert compiled <= 7, compiled
    ref = simulate(m, T)
    assert out.results[0].trace == ref.trace and out.results[0].summary() == ref.summary()
    full = run(m, T, head_range=T + 1, cache="full", layout="dense").results[0]
    assert full.trace == out.results[0].trace


# ---------------------------------------------------------------- benchmarks/gpu.py is time-boxed (item 5)

def test_the_gpu_script_keeps_to_its_budget_and_writes_what_it_skipped(tmp_path):
    out = tmp_path / "gpu.json"
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"
    done = subprocess.run([sys.executable, str(script), "--smoke", "--budget", "0", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    got = json.loads(out.read_text())
    rows = got["points"] + got["evict"]
    assert got["budget_s"] == 0 and rows and all(r.get("skipped") == "budget" for r in rows)
    assert any(r.get("variant") == "evict BB(5) prefix" and r["steps"] == 20_000 for r in got["evict"])
