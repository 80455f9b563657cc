"""Issue 27: a first hour without surprises -- an instant CLI, true provenance, progress in every log, the
fast path by default, no input holes, no results silently replaced."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMT_")}
    env["PYTHONPATH"] = str(ROOT)  # this checkout, whatever is installed
    env.update(extra)
    return env


# --- item 6: an instant CLI -------------------------------------------------------------------------------
LOADED = ("import atexit, sys\n"
          "HEAVY = ('jax', 'sympy', 'scipy', 'matplotlib')\n"
          "atexit.register(lambda: print('LOADED ' + ' '.join(sorted(m for m in HEAVY if m in sys.modules)), "
          "file=sys.stderr))\n"
          "from tm_transformer.cli import main\n"
          "sys.exit(main())\n")


def _loaded(*argv, cwd=None) -> tuple[set[str], subprocess.CompletedProcess]:
    res = subprocess.run([sys.executable, "-c", LOADED, *argv], capture_output=True, text=True, timeout=300,
                         env=_env(), cwd=cwd)
    line = [x for x in res.stderr.splitlines() if x.startswith("LOADED")][-1]
    return set(line.split()[1:]), res


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["runn"], ["run", "--steps", "x", "1RB1LB_1LA1RZ"],
                                  ["bounds", "--help"], ["experiment", "--help"], ["reproduce", "--jobs", "0"]])
def test_version_help_and_bad_input_import_neither_jax_nor_sympy(argv, tmp_path):
    loaded, res = _loaded(*argv, cwd=tmp_path)
    assert res.returncode in (0, 2), res.stderr
    assert loaded == set(), (argv, loaded)


@pytest.mark.parametrize("argv", [["bounds", "list"], ["bounds", "show", "weissman"],
                                  ["bounds", "eval", "weissman", "V=10", "eps=0.1", "delta=0.05"],
                                  ["bounds", "eval", "nope", "eps=0.1"]])
def test_bounds_commands_never_import_jax(argv, tmp_path):
    loaded, res = _loaded(*argv, cwd=tmp_path)
    assert res.returncode in (0, 2), res.stderr
    assert "jax" not in loaded and "matplotlib" not in loaded, (argv, loaded)


def test_bounds_list_after_the_first_needs_no_sympy(tmp_path):
    """The listing is kept in the derived cache: the first call derives the catalogue, later ones read it
    back (the same rows) without importing sympy."""
    env = _env(TMT_DERIVED_CACHE=str(tmp_path / "derived"))
    runs = [subprocess.run([sys.executable, "-c", LOADED, "bounds", "list", "--json"], capture_output=True,
                           text=True, timeout=300, env=env, cwd=tmp_path) for _ in range(2)]
    loaded = [set([x for x in r.stderr.splitlines() if x.startswith("LOADED")][-1].split()[1:]) for r in runs]
    assert [r.returncode for r in runs] == [0, 0] and runs[0].stdout == runs[1].stdout
    assert "sympy" in loaded[0] and loaded[1] == set()
    rows = json.loads(runs[1].stdout)
    assert {"weissman", "hoeffding", "C1"} <= {r["name"] for r in rows}


@pytest.mark.parametrize("argv", [["bounds", "show", "weissman"], ["bounds", "show", "hoeffding", "--latex"],
                                  ["bounds", "eval", "weissman", "V=10", "eps=0.1", "delta=0.05", "--json"],
                                  ["bounds", "eval", "hoeffding", "eps=0.1", "n=200", "--solve-for", "delta"]])
def test_bounds_show_and_eval_repeated_need_no_sympy(argv, tmp_path):
    """The same ``show``/``eval`` again prints the same bytes without sympy (kept in the derived cache, keyed
    by the arguments); other values are computed; a bad name or value is refused every time, never kept."""
    env = _env(TMT_DERIVED_CACHE=str(tmp_path / "derived"))

    def run(*args):
        res = subprocess.run([sys.executable, "-c", LOADED, *args], capture_output=True, text=True, timeout=300,
                             env=env, cwd=tmp_path)
        return set([x for x in res.stderr.splitlines() if x.startswith("LOADED")][-1].split()[1:]), res

    (l1, r1), (l2, r2) = run(*argv), run(*argv)
    assert r1.returncode == r2.returncode == 0 and r1.stdout == r2.stdout and r1.stdout.strip()
    assert "sympy" in l1 and l2 == set()
    if argv[1] == "eval":
        other = [a.replace("0.1", "0.2") for a in argv]
        lo, ro = run(*other)
        assert ro.returncode == 0 and ro.stdout != r1.stdout and "sympy" in lo
        bad = [a.replace("eps=0.1", "eps=2") for a in argv]
        for _ in range(2):
            lb, rb = run(*bad)
            assert rb.returncode == 2 and "eps=2 is outside its domain" in rb.stderr
    (lu, ru) = run("bounds", argv[1], "nope", *argv[3:])
    assert ru.returncode == 2 and "unknown bound 'nope': expected one of" in ru.stderr and lu == set()


def test_lazy_exports_are_the_functions_not_the_submodules():
    """Lazy package attributes keep the eager meaning: ``transformer.envelope`` and ``bounds.compare`` are
    the functions even where the submodule of that name was imported first."""
    code = ("import tm_transformer.transformer.envelope as m1, tm_transformer.bounds.compare as m2\n"
            "import types, tm_transformer as t\n"
            "from tm_transformer.transformer import envelope, run\n"
            "from tm_transformer.bounds import compare, get\n"
            "import bounds\n"
            "assert callable(envelope) and not isinstance(envelope, types.ModuleType)\n"
            "assert callable(compare) and not isinstance(compare, types.ModuleType)\n"
            "assert bounds.compare is compare and bounds.get is get\n"
            "assert t.simulate is __import__('tm_transformer.simulator').simulator.simulate\n"
            "assert set(t.__all__) <= set(dir(t))\n"
            "print('ok')\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=_env())
    assert res.stdout.strip() == "ok", res.stderr


# --- item 4: true provenance ------------------------------------------------------------------------------
def _git(cwd, *args) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


def _repo(path: Path, *, toolkit: bool) -> str:
    """A git repository at ``path``: a copy of the toolkit's source (``toolkit``) or a user's paper
    repository with the toolkit copied into ``vendor/`` (an installed package inside someone's repo)."""
    import shutil

    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "_build_info.py")
    where = path if toolkit else path / "vendor"
    for folder in ("tm_transformer", "bounds", "experiments"):
        shutil.copytree(ROOT / folder, where / folder, ignore=ignore)
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, where / name)
    if not toolkit:
        (path / "paper.tex").write_text("\\documentclass{article}\n")
    _git(path, "init", "-q")
    _git(path, "add", "-A")
    _git(path, "commit", "-qm", "init")
    return _git(path, "rev-parse", "HEAD")


def test_the_commit_is_never_the_repository_around_the_user(tmp_path):
    """Run from a paper's repository that even holds a copy of the toolkit: the manifest names no commit of
    that repository (the old git_commit asked whatever repository held the package)."""
    paper = tmp_path / "paper"
    sha = _repo(paper, toolkit=False)
    code = ("from tm_transformer.experiments.manifest import git_commit\n"
            "from tm_transformer.provenance import toolkit\n"
            "print(git_commit()); print(toolkit()['source'])\n")
    for pythonpath in (paper / "vendor", ROOT):  # the copy inside the paper's repository; this checkout
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=paper,
                             env=_env(PYTHONPATH=str(pythonpath)))
        assert res.returncode == 0, res.stderr
        commit, source = res.stdout.splitlines()
        assert sha not in commit, (pythonpath, commit)
        if pythonpath != ROOT:
            assert commit == "None" and source == "None"


def test_dirty_only_when_the_toolkits_tracked_source_differs(tmp_path):
    from tm_transformer.provenance import checkout_commit

    sha = _repo(tmp_path, toolkit=True)
    assert checkout_commit(tmp_path) == sha
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "report.md").write_text("x")
    (tmp_path / ".results.tmt-abc123").mkdir()  # a staging folder beside results/
    (tmp_path / ".results.tmt-abc123" / "points.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "tm_transformer" / "scratch.py").write_text("")  # untracked
    assert checkout_commit(tmp_path) == sha
    errors = tmp_path / "tm_transformer" / "errors.py"
    errors.write_text(errors.read_text() + "\n# changed\n")
    assert checkout_commit(tmp_path) == sha + "-dirty"
    assert checkout_commit(tmp_path / "tm_transformer") is None  # not the top of the checkout


def test_the_staging_folder_is_ignored_by_git():
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse"], capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    for path in (".results.tmt-abc123/x", ".results.old-xyz/x", "tm_transformer/_build_info.py"):
        assert subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", path]).returncode == 0, path


def test_a_built_wheel_records_the_commit_it_was_built_from(tmp_path):
    import zipfile

    src = tmp_path / "src"
    sha = _repo(src, toolkit=True)
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"),
                          str(src)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    wheel = zipfile.ZipFile(next((tmp_path / "dist").glob("tm_transformer-*.whl")))
    info = wheel.read("tm_transformer/_build_info.py").decode()
    assert f"COMMIT = {sha!r}" in info
    site = tmp_path / "site"
    wheel.extractall(site)
    code = "from tm_transformer.provenance import toolkit; t = toolkit(); print(t['commit'], t['source'])"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                         env=_env(PYTHONPATH=str(site)))
    assert res.stdout.split() == [sha, "build"], res.stderr


# --- item 2: progress in every log ------------------------------------------------------------------------
def _tmt(*argv, cwd=None, **env) -> subprocess.CompletedProcess:
    """``tmt ARGV`` in a subprocess whose stderr is a pipe (no terminal: nohup, SLURM, CI)."""
    return subprocess.run([sys.executable, "-c", "import sys; from tm_transformer.cli import main; sys.exit(main())",
                           *argv], capture_output=True, text=True, timeout=600, env=_env(**env), cwd=cwd)


def test_a_long_run_without_a_terminal_writes_progress_lines_and_the_switch_silences_them(tmp_path):
    bb5 = "1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0LA"
    res = _tmt("run", bb5, "--steps", "30000000", TMT_PROGRESS_EVERY="0")
    assert res.returncode == 0, res.stderr
    lines = res.stderr.splitlines()
    assert lines and all(line.startswith("tmt: ") and "elapsed, ETA" in line for line in lines), res.stderr
    # a run's own lines, not a bar's: no carriage returns, no stray "| 0%" after the run
    assert "\r" not in res.stderr and "|" not in res.stderr
    assert "steps          30,000,000" in res.stdout
    quiet = _tmt("run", bb5, "--steps", "30000000", TMT_PROGRESS="0", TMT_PROGRESS_EVERY="0")
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == res.stdout


@pytest.mark.slow
def test_reproduce_without_a_terminal_says_each_finished_check(tmp_path):
    res = _tmt("experiment", "symbolic", "--out", str(tmp_path / "out"), "--jobs", "1")
    assert res.returncode == 0, res.stderr
    done = [line for line in res.stderr.splitlines() if "symbolic done (1/1 checks)" in line]
    assert len(done) == 1 and done[0].startswith("tmt: 100%") and "\r" not in res.stderr, res.stderr
    quiet = _tmt("experiment", "symbolic", "--out", str(tmp_path / "out2"), "--jobs", "1", TMT_PROGRESS="0")
    assert quiet.returncode == 0 and "done" not in quiet.stderr, quiet.stderr


def test_log_lines_say_fraction_elapsed_and_eta(capsys):
    from tm_transformer.progress import LogLines

    bar = LogLines(200, "tmt", "steps", interval=0)
    bar.update(50)
    bar.note("coin done")
    bar.close()
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and err[0].startswith("tmt:  25% (50/200 steps), 00:0") and ", ETA " in err[0]
    assert err[1].endswith(" -- coin done")
    quiet = LogLines(200, "tmt", "steps", interval=3600)
    quiet.update(199)
    assert capsys.readouterr().err == ""  # not before the interval has passed


# --- item 7: the remaining input holes --------------------------------------------------------------------
def _one_line(capsys, *argv) -> str:
    from tm_transformer.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and len(err.splitlines()) == 1, (code, out, err)
    return err


def test_a_state_letter_beyond_the_machine_is_refused_not_run_as_a_halt(capsys):
    from tm_transformer import HALT, parse_machine

    err = _one_line(capsys, "run", "1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0RX")
    assert "row E, transition 1 ('0RX'): next state 'X', but the machine has states A-E" in err
    assert "states A-B" in _one_line(capsys, "run", "1RB1LB_1LA1RC")  # one past the last state, too
    # the halt's spellings still halt: Z always, H where the machine has no state H
    assert parse_machine("1RB1LB_1LA1RZ") == parse_machine("1rb1lb_1la1rh")
    assert parse_machine("1RB1LB_1LA1RH").table[1][1].next_state == HALT
    eight = "_".join(["1RB1LH"] * 7 + ["1RZ1RA"])  # eight states: H is state H, not a halt
    assert parse_machine(eight).table[0][1].next_state == 7


def test_draw_refuses_a_missing_folder_instead_of_creating_it(tmp_path, capsys):
    target = tmp_path / "no" / "such" / "dir" / "x.png"
    err = _one_line(capsys, "draw", "1RB1LB_1LA1RZ", "--steps", "10", "-o", str(target))
    assert "does not exist" in err and not (tmp_path / "no").exists()


def test_export_and_inspect_refuse_a_missing_folder_too(tmp_path, capsys):
    err = _one_line(capsys, "export", "1RB1LB_1LA1RZ", "-o", str(tmp_path / "no" / "w.safetensors"), "--steps", "10",
                    "--head-range", "4")
    assert "does not exist" in err
    err = _one_line(capsys, "inspect", "1RB1LB_1LA1RZ", "--figure", str(tmp_path / "no" / "f.png"))
    assert "does not exist" in err and not (tmp_path / "no").exists()


# --- item 3: the fast path by default ---------------------------------------------------------------------
from hypothesis import given, settings, strategies as st  # noqa: E402

from tests.conftest import machines  # noqa: E402


def _same(a, b) -> bool:
    return (a.summary() == b.summary() and a.origin == b.origin and a.tape.dtype == b.tape.dtype
            and a.tape.tolist() == b.tape.tolist() and (a.min_head, a.max_head) == (b.min_head, b.max_head)
            and a.trace == b.trace)


@settings(max_examples=60)
@given(machines(max_states=5, max_symbols=4), st.integers(0, 3000), st.data())
def test_simulate_through_the_fast_path_is_the_reference_result(machine, steps, data):
    """Every field, the trace (replayed on demand) included, equals the reference loop's."""
    from tm_transformer import simulator

    tape = data.draw(st.lists(st.integers(0, machine.n_symbols - 1), max_size=6))
    saved, simulator.FAST_FROM = simulator.FAST_FROM, 0  # every limit through the compiled kernel
    try:
        fast = simulator.simulate(machine, steps, tape)
    finally:
        simulator.FAST_FROM = saved
    assert "_trace" in fast.__dict__ and callable(fast.__dict__["_trace"])  # not computed yet
    assert _same(fast, simulator.reference(machine, steps, tape))


def test_bb5_through_simulate_takes_the_compiled_path():
    from tm_transformer import parse_machine, run_fast, simulate
    from tm_transformer.simulator import FAST_FROM

    bb5 = parse_machine("1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0LA")
    r = simulate(bb5, 10 ** 8)
    assert (r.steps, r.sigma, r.reason, r.cells_visited) == (47_176_870, 4_098, "halted", 12_289)
    assert r.summary() == run_fast(bb5, 10 ** 8).summary() and FAST_FROM <= 10 ** 8
    assert callable(r.__dict__["_trace"])  # 47 million trace rows not built unless read


# --- item 1: no run silently replaces another's results ---------------------------------------------------
def _marker(folder: Path) -> dict:
    return json.loads((folder / ".tmt-results.json").read_text())


def test_results_are_replaced_only_by_the_same_command_and_say_so(tmp_path, capsys, monkeypatch):
    from tm_transformer.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["experiment", "symbolic", "--no-progress"]) == 0
    out = tmp_path / "results-symbolic"  # beside results/, never inside reproduce's folder
    assert _marker(out)["command"] == "tmt experiment symbolic" and _marker(out)["created"]
    assert not (tmp_path / "results").exists()
    capsys.readouterr()
    first = _marker(out)["created"]
    assert main(["experiment", "symbolic", "--no-progress"]) == 0  # the same command: replaced, and said
    err = capsys.readouterr().err.splitlines()
    said = [line for line in err if "replacing" in line]
    assert said == [f"tmt: replacing 'results-symbolic' when this run finishes: the results of "
                    f"`tmt experiment symbolic` (written {first})"]
    # another command into the same folder: refused in one line, the results kept
    err = _one_line(capsys, "experiment", "symbolic", "--seed", "1", "--out", "results-symbolic", "--no-progress")
    assert "holds the results of `tmt experiment symbolic`" in err and "--overwrite" in err
    assert _marker(out)["command"] == "tmt experiment symbolic"
    assert main(["experiment", "symbolic", "--seed", "1", "--out", "results-symbolic", "--overwrite",
                 "--no-progress"]) == 0
    assert _marker(out)["command"] == "tmt experiment symbolic --seed 1"


def test_a_folder_with_another_commands_results_inside_is_not_replaced_whole(tmp_path, capsys, monkeypatch):
    """The first hour's loss: reproduce replaced results/ with results/halfspaces of an experiment in it."""
    from tm_transformer.experiments.outdir import check_replace

    from tm_transformer.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["experiment", "symbolic", "--out", "results/symbolic", "--no-progress"]) == 0
    capsys.readouterr()
    with pytest.raises(Exception, match=r"holds the results of `tmt experiment symbolic` \(written .*\) in 'symbolic'"):
        check_replace(tmp_path / "results", "tmt reproduce --quick")
    err = _one_line(capsys, "reproduce", "--quick", "--no-progress")
    assert "in 'symbolic'" in err and (tmp_path / "results" / "symbolic" / "symbolic.csv").exists()
    line = check_replace(tmp_path / "results", "tmt reproduce --quick", overwrite=True)
    assert "results/symbolic" not in line and "symbolic inside it" in line


@pytest.mark.parametrize("argv,folder", [
    (["experiment", "halfspaces"], "results-halfspaces"),
    (["experiment", "halfspaces", "--full"], "results-halfspaces-full"),
    (["experiment", "halfspaces", "--learner", "gd", "--noise", "0.1"], "results-halfspaces-learner-gd-noise-0.1"),
    (["experiment", "contexts", "--target", "skewed", "--seed", "3"], "results-contexts-target-skewed-seed-3")])
def test_default_folders_differ_per_command_and_options(argv, folder, tmp_path, monkeypatch):
    from tm_transformer.experiments import report

    seen = {}

    def fake_run(names, out, quick, seed, **kw):
        seen.update(out=str(out), command=kw["command"])
        raise KeyboardInterrupt  # stop before any work

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(report, "run_checks", fake_run)
    from tm_transformer.cli import main

    assert main(argv + ["--no-progress"]) == 130
    assert seen == {"out": folder, "command": "tmt " + " ".join(argv)}


# --- item 5 (part): the transformer check stored as a point ----------------------------------------------
FAKE_ROWS = (
    [{"kind": "exactness", "machine": "1RB1LB_1LA1RZ", "steps": 6, "exact": True, "certified": True,
      "dtype": "float32", "cache": c, "step_limit": T} for c, T in (("full", 2000), ("evict", 10000))]
    + [{"kind": "frontier", "dtype": d, "mantissa_bits": b, **{f"{k}_R{R}": 10 * R for R in (4, 100, 1000)
                                                              for k in ("envelope", "evict_envelope")},
        **{f"probe_R{R}": 20 * R for R in (4, 100, 1000)}, "envelope_free_range": 50, "certified_free_range": 60,
        "real_free_range": 70, "evict_tested_steps": 100, "evict_certified": True}
       for d, b in (("bfloat16", 8), ("float16", 11))]
    + [{"kind": "beta", "steps": 100, "envelope_beta": 7.0, "old_envelope_beta": 6.0, "real_beta": 5.0}])


def test_a_rerun_of_the_transformer_check_only_redraws(tmp_path, monkeypatch):
    from tm_transformer.experiments import report, transformer_check

    calls = []

    def fake(quick, seed, progress):
        calls.append((quick, seed))
        return [dict(r) for r in FAKE_ROWS]

    monkeypatch.setattr(transformer_check, "_measure", fake)
    out = tmp_path / "res"
    first = report.run_checks(["transformer"], out, True, 0, progress=False)
    table = (out / "transformer.csv").read_text()
    again = report.run_checks(["transformer"], out, True, 0, progress=False)
    assert calls == [(True, 0)]  # measured once, read back the second time
    assert (out / "transformer.csv").read_text() == table and (out / "transformer_frontier.png").exists()
    assert first["manifest"]["points"]["measured"] == 1 and again["manifest"]["points"]["reused"] == 1
    report.run_checks(["transformer"], out, True, 1, progress=False)  # another seed: measured
    assert calls == [(True, 0), (True, 1)]


def test_a_rerun_with_nothing_changed_copies_the_figures_it_drew(tmp_path, monkeypatch):
    """Re-run in seconds: the second run of a check draws nothing; its figure files are the first run's, byte
    for byte (kept in the derived cache under a key over the figure's numbers and the drawing code)."""
    from tm_transformer.experiments import figures, report, transformer_check

    monkeypatch.setenv("TMT_DERIVED_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(transformer_check, "_measure", lambda quick, seed, progress: [dict(r) for r in FAKE_ROWS])
    drawn = []
    real = figures.save
    monkeypatch.setattr(figures, "save", lambda fig, out, name, formats=None: drawn.append(name) or real(fig, out, name,
                                                                                                     formats))
    out = tmp_path / "res"
    report.run_checks(["transformer"], out, True, 0, progress=False)
    files = {p.name: p.read_bytes() for p in out.glob("transformer_frontier.*")}
    assert drawn == ["transformer_frontier"] and set(files) == {"transformer_frontier.pdf", "transformer_frontier.png"}
    report.run_checks(["transformer"], out, True, 0, progress=False)
    assert drawn == ["transformer_frontier"]  # copied, not drawn
    assert {p.name: p.read_bytes() for p in out.glob("transformer_frontier.*")} == files
    report.run_checks(["transformer"], tmp_path / "elsewhere", True, 0, progress=False)  # any folder: same files
    assert drawn == ["transformer_frontier"] and (tmp_path / "elsewhere" / "transformer_frontier.png").read_bytes() \
        == files["transformer_frontier.png"]


def test_a_figure_is_drawn_again_when_its_numbers_code_or_settings_change(tmp_path, monkeypatch):
    from tm_transformer import plots
    from tm_transformer.experiments import figures

    monkeypatch.setenv("TMT_DERIVED_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "mine.py"
    source.write_text("A = 1\n")
    drawn = []

    def draw(values):
        def f():
            drawn.append(list(values))
            fig, (ax,) = figures.new()
            ax.plot(values, marker="o")
            return fig
        return f

    def save(values, out="o", **kw):
        return figures.save_drawn(tmp_path / out, "fig", draw(values), inputs=values, sources=[source], **kw)

    assert save([1.0, 2.0]) == ["fig.pdf", "fig.png"]
    save([1.0, 2.0], out="p")
    assert drawn == [[1.0, 2.0]] and (tmp_path / "p" / "fig.png").read_bytes() == (tmp_path / "o" / "fig.png").read_bytes()
    save([1.0, 2.5])  # other numbers
    source.write_text("A = 2\n")  # other code (a source is read once per process)
    __import__("tm_transformer.bounds.cache").bounds.cache._sources_digest.cache_clear()
    save([1.0, 2.0])
    assert save([1.0, 2.0], formats=["svg"]) == ["fig.svg"]  # other formats
    assert len(drawn) == 4
    monkeypatch.setenv("TMT_FIGURE_WIDTH", "double")  # another width
    save([1.0, 2.0])
    monkeypatch.delenv("TMT_FIGURE_WIDTH")
    monkeypatch.setenv("TMT_FIGCHECK", "1")  # the check must see the figure
    save([1.0, 2.0])
    monkeypatch.delenv("TMT_FIGCHECK")
    monkeypatch.setattr(plots, "SAVE_HOOKS", [lambda fig, paths: None])  # so must a hook
    save([1.0, 2.0])
    monkeypatch.setattr(plots, "SAVE_HOOKS", [])
    monkeypatch.setenv("TMT_DERIVED_CACHE", "0")  # no cache
    save([1.0, 2.0])
    assert len(drawn) == 8
    monkeypatch.setenv("TMT_DERIVED_CACHE", str(tmp_path / "cache"))
    import matplotlib

    with matplotlib.rc_context({"axes.grid": True, "font.family": "serif"}):  # the user's own settings
        save([1.0, 2.0])
    assert len(drawn) == 9
    save([1.0, 2.0], formats=["svg"])  # kept earlier: copied
    assert len(drawn) == 9
    for entry in (tmp_path / "cache" / "figures").iterdir():  # a damaged entry only costs the drawing
        for f in entry.glob("fig.*"):
            f.write_bytes(f.read_bytes()[:100])
    save([1.0, 2.0])
    save([1.0, 2.0], formats=["svg"])
    assert len(drawn) == 11 and len((tmp_path / "o" / "fig.svg").read_bytes()) > 100
    assert save(__import__("numpy").arange(3.0)) == ["fig.pdf", "fig.png"]  # numpy inputs keyed by value
    save(__import__("numpy").arange(3.0))
    assert len(drawn) == 12


@pytest.mark.parametrize("check", ["transformer_check", "icl_check"])
def test_the_stored_checks_are_keyed_by_every_toolkit_source_they_can_reach(check):
    """Checks 6 and 7 run machines parsed by the DSL and formats, summarised by run_result, ...: a change to
    any toolkit source measures them again (a key that missed dsl/ or formats/ replayed stale results)."""
    import importlib

    from tm_transformer.experiments import store

    module = importlib.import_module(f"tm_transformer.experiments.{check}")
    digested = []
    real = store.digest_files
    try:
        store.digest_files = lambda files, root=None: digested.extend(files) or real(files, root)
        module.code_version()
    finally:
        store.digest_files = real
    names = {f.resolve().relative_to(ROOT).as_posix() for f in digested}
    for needed in ("tm_transformer/dsl/__init__.py", "tm_transformer/run_result.py", "tm_transformer/notation.py",
                   "tm_transformer/formats/standard.py", "tm_transformer/transformer/decode.py",
                   "tm_transformer/simulator.py", f"experiments/{check}.py", "experiments/check_result.py"):
        assert needed in names, needed
    assert {f"tm_transformer/{p.relative_to(ROOT / 'tm_transformer').as_posix()}"
            for p in (ROOT / "tm_transformer").rglob("*.py") if p.name not in store.PRESENTATION} <= names
    assert not {n for n in names if n.rpartition("/")[2] in store.PRESENTATION}


def test_the_manifest_names_the_toolkit_version_that_ran(monkeypatch):
    """Not the dist metadata, which an editable install leaves at the version it was installed as."""
    from importlib import metadata

    import tm_transformer
    from tm_transformer.experiments import manifest

    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda name: "0.0.0-stale" if name == "tm-transformer" else real(name))
    assert manifest.versions()["tm-transformer"] == tm_transformer.__version__


def test_log_lines_keep_coming_without_updates(capsys):
    """A long stretch without an update (one long check) still writes a line every interval; none after
    close."""
    import time

    from tm_transformer.progress import LogLines

    bar = LogLines(10, "tmt", interval=0.5)
    deadline, seen = time.monotonic() + 60, ""
    while "elapsed" not in seen and time.monotonic() < deadline:  # waits for the line; asserts no duration
        time.sleep(0.1)
        seen += capsys.readouterr().err
    bar.close()
    assert seen.startswith("tmt:   0%, 00:0") and "ETA ?" in seen
    time.sleep(1.5)
    capsys.readouterr()
    time.sleep(1.5)
    assert capsys.readouterr().err == ""


def test_more_symbols_than_a_byte_take_the_reference_path_and_run_fast_refuses():
    from tm_transformer import ToolkitError, Transition, TuringMachine, run_fast, simulate

    k = 300
    m = TuringMachine((tuple(Transition((s + 1) % k, 1, 0) for s in range(k)),))
    tape = [299, 0, 7]
    r = simulate(m, 100_000, tape)
    assert r.tape[:3].tolist() == [0, 1, 8] and r.trace is not None  # 299 + 1 wraps to 0: not a byte's 44
    with pytest.raises(ToolkitError, match="at most 256"):
        run_fast(m, 10)


def test_any_halt_letter_is_an_explicit_choice(monkeypatch):
    """The format's own rule (a letter at or beyond A+n halts, docs/MACHINES.md) on request only."""
    from tm_transformer.errors import MachineFormatError
    from tm_transformer.formats.standard import parse_standard

    with pytest.raises(MachineFormatError, match="TMT_ANY_HALT_LETTER"):
        parse_standard("1RB1LB_1LA1RX")
    lenient = parse_standard("1RB1LB_1LA1RX", any_halt_letter=True)
    assert lenient == parse_standard("1RB1LB_1LA1RZ")
    monkeypatch.setenv("TMT_ANY_HALT_LETTER", "1")
    assert parse_standard("1RB1LB_1LA1RC") == lenient
