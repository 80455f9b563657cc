"""Issue 11, item 1: results folders never lose or half-write a user's files."""
import json

import pytest

from tm_transformer.experiments import report
from tm_transformer.experiments.checks import CheckResult
from tm_transformer.experiments.outdir import MARKER, check_target, commit, staging_for
from tm_transformer.cli import main
from tm_transformer.errors import ToolkitError


def _fake_check(out, quick=True, seed=0, progress=True, value=1):
    (out / "fake.png").write_bytes(b"png")
    return CheckResult("fake", rows=[{"x": value}], figures=["fake.png"])


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setitem(report.CHECKS, "fake", _fake_check)


def test_experiment_refuses_a_users_folder_and_deletes_nothing(tmp_path, capsys, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("my thesis")
    monkeypatch.chdir(tmp_path)
    assert main(["experiment", "symbolic", "--out", "mine", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not written by tmt" in err
    assert (mine / "thesis.tex").read_text() == "my thesis"
    assert main(["experiment", "symbolic", "--out", ".", "--no-progress"]) == 2
    assert "is the current folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no staging folder left behind


def test_current_folder_and_files_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ToolkitError, match="current folder"):
        check_target(tmp_path)
    (tmp_path / "f").write_text("x")
    with pytest.raises(ToolkitError, match="not a folder"):
        check_target(tmp_path / "f")


def test_rerun_replaces_only_tmts_own_results(tmp_path, fake):
    out = tmp_path / "res"
    report.run_checks(["fake"], out, True, 0, progress=False, options={"fake": {"value": 1}})
    assert json.loads((out / MARKER).read_text())["tool"] == "tm-transformer"
    assert (out / "fake.csv").read_text().splitlines()[1] == "1"
    report.run_checks(["fake"], out, True, 0, progress=False, options={"fake": {"value": 2}})
    assert (out / "fake.csv").read_text().splitlines()[1] == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]
    (out / "notes.txt").write_text("mine")  # a user's file inside tmt's folder: refuse, keep everything
    with pytest.raises(ToolkitError, match="notes.txt"):
        report.run_checks(["fake"], out, True, 0, progress=False)
    assert (out / "notes.txt").read_text() == "mine" and (out / "fake.csv").exists()


def test_an_empty_folder_is_used(tmp_path, fake):
    out = tmp_path / "empty"
    out.mkdir()
    report.run_checks(["fake"], out, True, 0, progress=False)
    assert (out / "fake.png").exists()


def test_interrupted_run_leaves_the_old_results(tmp_path, fake, monkeypatch):
    out = tmp_path / "res"
    report.run_checks(["fake"], out, True, 0, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(out, **kw):
        (out / "fake.png").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setitem(report.CHECKS, "fake", interrupted)
    with pytest.raises(KeyboardInterrupt):
        report.run_checks(["fake"], out, True, 0, progress=False)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]


def test_commit_refuses_files_added_during_the_run(tmp_path):
    out = tmp_path / "res"
    staging = staging_for(out)
    out.mkdir()
    (out / "draft.tex").write_text("x")
    with pytest.raises(ToolkitError, match="not written by tmt"):
        commit(staging, out)
    assert (out / "draft.tex").read_text() == "x"


def test_commit_refuses_results_another_run_wrote_meanwhile(tmp_path):
    """Two overlapping runs: the replacement rules are checked again at the end, not only at the start."""
    import json

    out = tmp_path / "res"
    # another command's results finished in OUT while this run went on
    staging = staging_for(out)
    (staging / "a.csv").write_text("mine")
    other = staging_for(out)
    (other / "b.csv").write_text("theirs")
    commit(other, out, "tmt experiment symbolic")
    with pytest.raises(ToolkitError, match=r"`tmt experiment symbolic`.*not of `tmt reproduce --quick`.*"
                                            r"nothing was replaced; this run's results are in '.*res\.kept-"):
        commit(staging, out, "tmt reproduce --quick")
    assert (out / "b.csv").read_text() == "theirs"
    (kept,) = tmp_path.glob("res.kept-*")  # the refused run's results are not lost
    assert (kept / "a.csv").read_text() == "mine" and not staging.exists()
    staging = staging_for(out)
    (staging / "a.csv").write_text("mine")
    commit(staging, out, "tmt reproduce --quick", overwrite=True)  # the explicit choice replaces them
    assert json.loads((out / ".tmt-results.json").read_text())["command"] == "tmt reproduce --quick"
    # a results folder written inside OUT meanwhile
    staging = staging_for(out)
    inner = staging_for(out / "symbolic")
    commit(inner, out / "symbolic", "tmt experiment symbolic --out res/symbolic")
    with pytest.raises(ToolkitError, match="in 'symbolic'.*nothing was replaced"):
        commit(staging, out, "tmt reproduce --quick")
    assert (out / "symbolic" / ".tmt-results.json").exists()
    # the same command twice: the later one replaces the earlier, as at the start
    for text in ("first", "second"):
        run = staging_for(tmp_path / "again")
        (run / "a.csv").write_text(text)
        commit(run, tmp_path / "again", "tmt reproduce --quick")
    assert (tmp_path / "again" / "a.csv").read_text() == "second" and not list(tmp_path.glob("again.kept-*"))


def test_an_experiment_inside_results_and_odd_targets_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["experiment", "symbolic", "--out", "results/symbolic", "--no-progress"]) == 0  # its own marker
    check_target(tmp_path / "results")  # tmt's own files only (issue 27: reproduce refuses them without --overwrite)
    (tmp_path / "results" / "symbolic" / "notes.txt").write_text("mine")
    with pytest.raises(ToolkitError, match="not written by tmt|did not write"):
        check_target(tmp_path / "results")
    (tmp_path / "afile").write_text("x")
    capsys.readouterr()
    assert main(["experiment", "symbolic", "--out", "afile/sub", "--no-progress"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path / "results" / "symbolic")
    assert main(["experiment", "symbolic", "--out", "..", "--no-progress"]) == 2
    assert "current folder (or holds it)" in capsys.readouterr().err


def test_results_folders_get_the_usual_permissions(tmp_path, monkeypatch):
    import os
    import stat

    monkeypatch.chdir(tmp_path)
    assert main(["experiment", "symbolic", "--out", "r", "--no-progress"]) == 0
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "r").stat().st_mode) == 0o777 & ~umask
