"""Issue 14: full runs that resume from a point store, spread over devices and processes bit for bit."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path

import jax
import numpy as np
import pytest

from tm_transformer.experiments import report, store
from tm_transformer.experiments.checks import CheckResult
from tm_transformer.experiments.distributed import settings
from tm_transformer.experiments.montecarlo import _buffer, count_failures, halfspace_error, trial_keys
from tm_transformer.experiments.outdir import STORE
from tm_transformer.errors import ToolkitError

ROOT = Path(__file__).resolve().parent.parent

# measurements every device / process count must reproduce bit for bit: each sampler of every setting
CASES = """
import json, numpy as np
from tm_transformer.experiments.montecarlo import count_failures
ctx, ctx3, seq = np.full((2, 4), 0.25), np.tile([0.5, 0.3, 0.2], (2, 1)), np.full(8, 1 / 8)
cases = [("coin", 30, 3000, dict(p=0.3, eps=0.1)), ("contexts", 9, 3000, dict(probs=ctx, eps=0.2)),
         ("contexts", 9, 500, dict(probs=ctx3, eps=0.2, sampler="direct")), ("contexts", 9, 3000, dict(probs=ctx3, eps=0.2)),
         ("sequences", 20, 3000, dict(probs=seq, eps=0.2, reading="tv")),
         ("halfspace", 20, 3000, dict(d=2, eps=0.1)), ("halfspace", 20, 3000, dict(d=3, eps=0.2, learner="gd")),
         ("halfspace", 30, 700, dict(d=3, eps=0.1, learner="perceptron", max_epochs=12))]
results = [count_failures(s, n, T, 3, "scaleout", **kw) for s, n, T, kw in cases]
"""

SHARDED = CASES + """
import jax
from jax.sharding import PartitionSpec as P
from tm_transformer.experiments import montecarlo as mc
err, fail = mc._coin_reduced_batch(mc.stream_key(0, "x"), jax.numpy.uint32(0), jax.numpy.asarray(
    mc.reduced.binomial_thresholds(10, 0.5, 16)), jax.numpy.int32(10), jax.numpy.float32(0.5),
    jax.numpy.asarray([3, 7], jax.numpy.int32), size=1024)
shards = [s.data.shape[0] for s in err.addressable_shards]
print(json.dumps({"devices": jax.device_count(), "spec": str(err.sharding.spec), "shards": shards,
                  "distinct": len({s.device for s in err.addressable_shards}), "results": results}))
"""


def _python(code: str, env_extra: dict | None = None, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env=env)


@lru_cache(maxsize=None)  # the one-device reference serves the device and the process tests
def _devices(n: int) -> dict:
    res = _python(SHARDED, {"XLA_FLAGS": f"--xla_force_host_platform_device_count={n}", "JAX_PLATFORMS": "cpu"})
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_trials_are_split_over_host_devices_and_results_are_bit_identical():
    one, four, eight = _devices(1), _devices(4), _devices(8)
    for got, n in ((one, 1), (four, 4), (eight, 8)):
        assert got["devices"] == n and got["distinct"] == n and got["shards"] == [1024 // n] * n
        assert n == 1 or got["spec"] == "P('trials',)"
    assert four["results"] == one["results"] and eight["results"] == one["results"]
    assert one["results"][-1]["unconverged"] > 0  # the perceptron case reaches its resumable phases' cap


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gloo_or_skip():
    from jax._src.lib import _jax

    if not hasattr(_jax, "make_gloo_tcp_collectives"):
        pytest.skip("this jaxlib is built without gloo (no make_gloo_tcp_collectives): CPU processes cannot "
                    "exchange arrays, so multi-process runs need GPUs/TPUs here")


def _two_processes(argv_for, timeout=240):
    port = _free_port()
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    procs = [subprocess.Popen(argv_for(i, f"127.0.0.1:{port}"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=ROOT, env=env) for i in range(2)]
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            assert p.returncode == 0, err[-2000:]
            outs.append(out)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return outs


@pytest.mark.slow
def test_two_processes_with_gloo_equal_one_process():
    _gloo_or_skip()
    code = ("import sys, json; from types import SimpleNamespace as NS; from tm_transformer.experiments import distributed; "
            "distributed.start(NS(coordinator=sys.argv[1], num_processes=2, process_id=int(sys.argv[2])))\n" + CASES +
            "import jax; print(json.dumps({'processes': jax.process_count(), 'devices': jax.device_count(), "
            "'results': results}))")
    outs = _two_processes(lambda i, addr: [sys.executable, "-c", code, addr, str(i)])
    got = [json.loads(o.strip().splitlines()[-1]) for o in outs]
    expected = _devices(1)["results"]
    for g in got:
        assert g["processes"] == 2 and g["devices"] == 2
        assert g["results"] == expected


@pytest.mark.slow
def test_nstar_command_over_two_processes_prints_once_and_agrees():
    _gloo_or_skip()
    args = ["nstar", "contexts", "eps=0.2", "delta=0.1", "V=4", "--trials", "400", "--json"]
    outs = _two_processes(lambda i, addr: [sys.executable, "-m", "tm_transformer.cli", *args, "--coordinator", addr,
                                           "--num-processes", "2", "--process-id", str(i)])
    single = subprocess.run([sys.executable, "-m", "tm_transformer.cli", *args], capture_output=True, text=True,
                            cwd=ROOT, timeout=240, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert single.returncode == 0, single.stderr[-2000:]
    assert json.loads(outs[0].strip().splitlines()[-1]) == json.loads(single.stdout)
    assert not [line for line in outs[1].splitlines() if not line.startswith("[Gloo]")]  # process 0 alone reports


@pytest.mark.parametrize("given, message", [
    (("h:1", None, None), "go together"), (("nohost", 2, 0), "HOST:PORT"), (("h:99999", 2, 0), "HOST:PORT"),
    (("h:12", 2, 2), "0 to 1"), (("h:12", 0, 0), "at least 1")])
def test_distributed_flags_are_checked_with_one_line(given, message):
    with pytest.raises(ToolkitError, match=message):
        settings(*given)


def test_distributed_settings_come_from_the_environment(monkeypatch):
    for var in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID", "SLURM_JOB_ID", "OMPI_COMM_WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    assert settings() is None
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "node0:4000")
    with pytest.raises(ToolkitError, match="JAX_NUM_PROCESSES"):
        settings()
    monkeypatch.setenv("JAX_NUM_PROCESSES", "4")
    monkeypatch.setenv("JAX_PROCESS_ID", "3")
    assert settings() == {"coordinator_address": "node0:4000", "num_processes": 4, "process_id": 3}
    assert settings("h:5", 2, 1) == {"coordinator_address": "h:5", "num_processes": 2, "process_id": 1}
    monkeypatch.delenv("JAX_COORDINATOR_ADDRESS")
    for var, value in (("SLURM_JOB_ID", "7"), ("SLURM_NODELIST", "n[1-2]"), ("SLURM_PROCID", "0"), ("SLURM_LOCALID", "0"),
                       ("SLURM_NTASKS", "2")):
        monkeypatch.setenv(var, value)
    assert settings() is None  # a job with several tasks is joined only on request (not in the batch step)
    assert settings("auto") == {}  # jax.distributed.initialize() detects SLURM itself
    monkeypatch.setenv("TMT_DISTRIBUTED", "1")
    assert settings() == {}
    monkeypatch.setenv("SLURM_NTASKS", "1")
    with pytest.raises(ToolkitError, match="TMT_DISTRIBUTED=1: no SLURM job"):
        settings()
    with pytest.raises(ToolkitError, match="--coordinator auto: no SLURM job"):
        settings("auto")
    monkeypatch.delenv("TMT_DISTRIBUTED")
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "node0:4000")
    monkeypatch.setenv("JAX_PROCESS_ID", "5")
    with pytest.raises(ToolkitError, match="^JAX_PROCESS_ID 5: expected 0 to 3"):
        settings()
    monkeypatch.setenv("JAX_NUM_PROCESSES", "abc")
    with pytest.raises(ToolkitError, match="^JAX_NUM_PROCESSES='abc': expected an integer"):
        settings()


def test_an_unreachable_coordinator_is_one_line_after_the_timeout(capsys):
    from types import SimpleNamespace as NS

    from tm_transformer.experiments import distributed

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = time.monotonic()
    with pytest.raises(ToolkitError, match=f"coordinator 127.0.0.1:{port}: not reachable within 1 s"):
        distributed.start(NS(coordinator=f"127.0.0.1:{port}", num_processes=2, process_id=1, join_timeout=1))
    assert time.monotonic() - t < 30
    assert f"waiting for 2 processes at 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["reproduce", "experiment"])
def test_only_the_writing_process_reports(command, tmp_path, monkeypatch, capsys):
    """Process 1 of a distributed run wrote nothing: it must not print 'wrote ...' nor the verdicts."""
    from tm_transformer.experiments import cli, distributed

    fake = {"verdicts": [{"claim": "C4", "verdict": "holds"}], "manifest": {"seconds": {"total": 1}}, "out": "x"}
    monkeypatch.setattr(distributed, "start", lambda args: None)
    monkeypatch.setattr(report, "run_checks", lambda *a, **k: fake)
    from types import SimpleNamespace as NS

    args = NS(out=str(tmp_path / "o"), quick=True, seed=0, no_progress=True, fresh=False, json=True, name="coin",
              target=None, random_contexts=False, learner=None, noise=None, full=False)
    run = cli.cmd_reproduce if command == "reproduce" else cli.cmd_experiment
    monkeypatch.setattr(distributed, "writer", lambda: False)
    assert run(args) == 0 and capsys.readouterr().out == ""
    monkeypatch.setattr(distributed, "writer", lambda: True)
    assert run(args) == 0 and json.loads(capsys.readouterr().out) == fake["verdicts"]


def test_perceptron_phases_give_each_trial_its_uninterrupted_run():
    """The resumable perceptron (stragglers regrouped by epochs) against one vmapped run per trial."""
    n, d, T, cap, eps = 24, 3, 600, 10, 0.15
    r = count_failures("halfspace", n, T, 5, "phases", d=d, eps=eps, learner="perceptron", max_epochs=cap)
    err, conv = jax.vmap(lambda k: halfspace_error(k, n, d, _buffer(n), "perceptron", cap))(trial_keys(5, "phases", 0, T))
    err, conv = np.asarray(err), np.asarray(conv)
    assert r["unconverged"] == int((~conv).sum()) > 0
    assert r["failures"] == int(((err > np.float32(eps)) & conv).sum())
    assert r["mean_error"] == pytest.approx(float(err.astype(np.float64).mean()), rel=1e-6)


# ---- the point store ----------------------------------------------------------------------------------
POINTS = [(n, T) for n in (5, 9, 17) for T in (300, 500)]


def _measuring_check(out, quick=True, seed=0, progress=True, crash_after=None):
    rows = []
    for i, (n, T) in enumerate(POINTS):
        if crash_after is not None and i == crash_after:
            raise KeyboardInterrupt  # a crash after k stored points
        r = count_failures("halfspace", n, T, seed, f"store/{n}", d=3, eps=0.2, learner="perceptron", max_epochs=8)
        rows.append({"n": n, "trials": T, **r})
    return CheckResult("measuring", rows=rows)


@pytest.fixture
def measuring(monkeypatch):
    monkeypatch.setitem(report.CHECKS, "measuring", _measuring_check)


def _points(out: Path) -> int:
    return sum(1 for _ in (out / STORE).open()) if (out / STORE).exists() else 0


def test_an_interrupted_run_resumes_and_equals_an_uninterrupted_one(tmp_path, measuring):
    whole = report.run_checks(["measuring"], tmp_path / "whole", True, 0, progress=False)
    assert whole["manifest"]["points"]["measured"] == len(POINTS)
    out = tmp_path / "res"
    with pytest.raises(KeyboardInterrupt):
        report.run_checks(["measuring"], out, True, 0, progress=False, options={"measuring": {"crash_after": 4}})
    assert _points(out) == 4 and sorted(p.name for p in out.iterdir()) == [STORE]  # only the store survives
    resumed = report.run_checks(["measuring"], out, True, 0, progress=False)
    assert resumed["manifest"]["points"] == {"measured": len(POINTS) - 4, "reused": 4, "fresh": False, "store": STORE}
    assert (out / "measuring.csv").read_text() == (tmp_path / "whole" / "measuring.csv").read_text()
    again = report.run_checks(["measuring"], out, True, 0, progress=False)  # nothing changed: only redraws
    assert again["manifest"]["points"]["measured"] == 0
    assert (out / "measuring.csv").read_text() == (tmp_path / "whole" / "measuring.csv").read_text()
    fresh = report.run_checks(["measuring"], out, True, 0, progress=False, fresh=True)
    assert fresh["manifest"]["points"]["measured"] == len(POINTS) and _points(out) == len(POINTS)
    other = report.run_checks(["measuring"], out, True, 1, progress=False)  # another seed: other points
    assert other["manifest"]["points"] == {"measured": len(POINTS), "reused": 0, "fresh": False, "store": STORE}


def test_a_point_is_keyed_by_everything_that_determines_it(tmp_path, monkeypatch):
    with store.opened(tmp_path / STORE) as s:
        base = dict(n=9, trials=300, seed=0, tag="k", p=0.3, eps=0.1)
        count_failures("coin", **base)
        for change in (dict(n=10), dict(trials=301), dict(seed=1), dict(tag="k2"), dict(p=0.31), dict(eps=0.11)):
            count_failures("coin", **{**base, **change})
        assert (s.measured, s.reused) == (7, 0)
        count_failures("coin", **base)
        assert s.reused == 1
        monkeypatch.setattr(store, "code_version", lambda: "another version")
        count_failures("coin", **base)
        assert s.measured == 8


@pytest.mark.slow
def test_killing_a_run_loses_at_most_the_point_in_flight(tmp_path):
    """A real crash: SIGKILL a process once some points are stored; the re-run measures only the rest."""
    out = tmp_path / "killed"
    code = ("import sys, time; from tm_transformer.experiments import report; import tests.test_scaleout as t\n"
            "def slow(out, **kw):\n"
            "    import tm_transformer.experiments.montecarlo as mc\n"
            "    real = mc._count\n"
            "    mc._count = lambda *a, **k: (time.sleep(0.3), real(*a, **k))[1]\n"
            "    return t._measuring_check(out, **kw)\n"
            "report.CHECKS['measuring'] = slow\n"
            f"report.run_checks(['measuring'], {str(out)!r}, True, 0, progress=False)\n")
    p = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 180
        while _points(out) < 2 and time.time() < deadline and p.poll() is None:
            time.sleep(0.05)
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    finally:
        if p.poll() is None:
            p.kill()
    stored = _points(out)
    assert 2 <= stored < len(POINTS)
    from tm_transformer.experiments import report as rep

    rep.CHECKS["measuring"] = _measuring_check
    try:
        resumed = rep.run_checks(["measuring"], out, True, 0, progress=False)
    finally:
        del rep.CHECKS["measuring"]
    assert resumed["manifest"]["points"]["measured"] == len(POINTS) - stored
    expected = [count_failures("halfspace", n, T, 0, f"store/{n}", d=3, eps=0.2, learner="perceptron", max_epochs=8)
                for n, T in POINTS]
    assert [{k: r[k] for k in expected[0]} for r in resumed_rows(out)] == expected


def resumed_rows(out: Path) -> list[dict]:
    import csv

    with (out / "measuring.csv").open() as f:
        rows = list(csv.DictReader(f))
    conv = {"failures": int, "trials": int, "mean_error": float, "sampler": str, "unconverged": int}
    return [{k: conv[k](r[k]) for k in conv} for r in rows]


BATCHED = """
import json, jax, numpy as np
from tm_transformer import batched
from tm_transformer.machine import random_machine
rng = np.random.default_rng(4)
ms = [random_machine(rng, int(rng.integers(1, 5)), int(rng.integers(2, 4))) for _ in range(13)]
r = batched.run_batch(ms, 40, record_trace=True)
t = batched.pad_tables(ms[:8])
out = batched._run(t["write"], t["move"], t["next"], t["defined"], np.zeros((8, 90), np.int8), 41, 40, False)
print(json.dumps({"shards": len(out[0].addressable_shards), "steps": r.steps.tolist(), "tape": r.tape.tolist(),
                  "state": r.state.tolist(), "head": r.head.tolist(), "trace": r.trace_write.tolist()}))
"""


def test_batched_machine_runs_are_split_over_devices_and_equal():
    got = {}
    for n in (1, 4):
        res = _python(BATCHED, {"XLA_FLAGS": f"--xla_force_host_platform_device_count={n}", "JAX_PLATFORMS": "cpu"})
        assert res.returncode == 0, res.stderr[-2000:]
        got[n] = json.loads(res.stdout.strip().splitlines()[-1])
    assert got[1]["shards"] == 1 and got[4]["shards"] == 4
    assert {k: v for k, v in got[4].items() if k != "shards"} == {k: v for k, v in got[1].items() if k != "shards"}


# ---- referee fixes: a failed commit keeps the store; the code version covers bounds/; torn lines ----------
def _foreign_file_check(out, quick=True, seed=0, progress=True):
    r = _measuring_check(out, quick, seed, progress)
    (Path(_foreign_file_check.target) / "notes.txt").write_text("the user's own notes\n")  # appears mid-run
    return r


def test_a_failed_commit_keeps_the_point_store_in_out(tmp_path, monkeypatch):
    out = tmp_path / "res"
    monkeypatch.setitem(report.CHECKS, "measuring", _foreign_file_check)
    monkeypatch.setattr(_foreign_file_check, "target", str(out), raising=False)
    with pytest.raises(ToolkitError, match="not written by tmt"):
        report.run_checks(["measuring"], out, True, 0, progress=False)
    assert sorted(p.name for p in out.iterdir()) == [STORE, "notes.txt"] and _points(out) == len(POINTS)
    # no hidden staging folder left beside it; the refused run's results kept, visibly, under a new name
    (kept,) = [p for p in tmp_path.iterdir() if p.name != "res"]
    assert kept.name.startswith("res.kept-") and (kept / ".tmt-results.json").is_file()
    assert (kept / STORE).is_file() and _points(kept) == len(POINTS)
    (out / "notes.txt").unlink()
    monkeypatch.setitem(report.CHECKS, "measuring", _measuring_check)
    again = report.run_checks(["measuring"], out, True, 0, progress=False)
    assert again["manifest"]["points"]["measured"] == 0 and again["manifest"]["points"]["reused"] == len(POINTS)
    assert _points(out) == len(POINTS)  # the store went with the results


def test_the_code_version_covers_the_bounds_package(tmp_path):
    files = store.source_files()
    assert all(f.is_file() for f in files)
    import tm_transformer.bounds as bounds

    bdir = Path(bounds.__file__).resolve().parent
    assert bdir / "known.py" in files and sum(f.parent == bdir for f in files) >= 2
    import shutil

    copy = tmp_path / "src"
    copies = []
    for f in files:  # the same sources in a temporary tree, one bounds file then edited
        dest = copy / f.relative_to(f.parents[1])
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)
        copies.append(dest)
    before = store.digest_files(copies, copy)
    assert before == store.digest_files(copies, copy)
    known = next(c for c in copies if c.name == "known.py" and c.parent.name == bdir.name)
    known.write_bytes(known.read_bytes() + b"\n# a changed bound\n")
    assert store.digest_files(copies, copy) != before


def test_a_torn_last_line_is_cut_before_appending_across_two_interruptions(tmp_path, measuring):
    out = tmp_path / "res"
    for crash_after in (3, 5):  # two interruptions, each leaving a torn line
        with pytest.raises(KeyboardInterrupt):
            report.run_checks(["measuring"], out, True, 0, progress=False, options={"measuring": {"crash_after": crash_after}})
        data = (out / STORE).read_bytes()
        (out / STORE).write_bytes(data[:-17])  # the last point's line cut short, without its newline
    lines = (out / STORE).read_bytes().split(b"\n")
    assert lines[-1] and all(json.loads(line) for line in lines[:-1])  # a torn fragment, every full line valid
    done = report.run_checks(["measuring"], out, True, 0, progress=False)
    third = report.run_checks(["measuring"], out, True, 0, progress=False)
    assert third["manifest"]["points"] == {"measured": 0, "reused": len(POINTS), "fresh": False, "store": STORE}
    assert all(json.loads(line) for line in (out / STORE).read_text().splitlines())  # no glued records
    assert done["manifest"]["points"]["reused"] == 4


def test_the_c3_verdict_is_checked_with_capped_trials_counted_as_failures():
    from tm_transformer.experiments.checks import capped_as_failures

    rows = [{"C_req": 1.0, "calibration": True}]
    point = {"params": {"d": 3}, "n": 40, "failures": 2, "trials": 20000, "delta": 1e-3, "exact_probability": None}
    assert capped_as_failures("C3", "r", rows, [{**point, "unconverged": 3}]) == (3, "holds")
    assert capped_as_failures("C3", "r", rows, [{**point, "unconverged": 60}]) == (60, "fails")  # 62/20000 > 1e-3
    exact = {**point, "failures": None, "trials": 0, "unconverged": 0, "exact_probability": 1e-4}
    assert capped_as_failures("C3", "r", rows, [exact, {**point, "unconverged": 0}]) == (0, "holds")


def test_a_kill_between_the_commit_renames_does_not_strand_the_store(tmp_path, measuring):
    out = tmp_path / "res"
    report.run_checks(["measuring"], out, True, 0, progress=False)
    aside = tmp_path / ".res.old-abc123"  # what a kill after `rename(OUT, aside)` and before the new rename leaves
    aside.mkdir()
    os.rename(out, aside / "results")
    resumed = report.run_checks(["measuring"], out, True, 0, progress=False)
    assert resumed["manifest"]["points"]["measured"] == 0 and resumed["manifest"]["points"]["reused"] == len(POINTS)


@pytest.mark.slow
def test_the_commands_give_a_cpu_one_host_device_per_core():
    """``distributed.start`` (the first thing tmt reproduce / experiment / nstar do) sets one host device per
    available core unless XLA_FLAGS names a count; TMT_HOST_DEVICES overrides; a bad value is one line."""
    code = ("import argparse, os, jax; from tm_transformer.experiments import distributed; distributed.start(argparse.Namespace()); "
            "print(jax.device_count(), len(os.sched_getaffinity(0)))")
    clean = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "TMT_HOST_DEVICES")}
    base = {"JAX_PLATFORMS": "cpu", "XLA_FLAGS": "", "TMT_HOST_DEVICES": ""}

    def devices(**extra):
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                             env={**clean, **base, **extra})
        assert res.returncode == 0, res.stderr[-1000:]
        return [int(x) for x in res.stdout.split()]

    got, cores = devices()
    assert got == cores
    assert devices(TMT_HOST_DEVICES="3")[0] == 3
    assert devices(TMT_HOST_DEVICES="1")[0] == 1
    assert devices(XLA_FLAGS="--xla_force_host_platform_device_count=5", TMT_HOST_DEVICES="3")[0] == 5
    bad = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**clean, **base, "TMT_HOST_DEVICES": "two"})
    assert bad.returncode != 0 and "TMT_HOST_DEVICES='two': expected a positive integer" in bad.stderr
