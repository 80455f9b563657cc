import json

import pytest

from tm_transformer.cli import main

from .data.published import BB5


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_json_contract(capsys):
    code, out, _ = run_cli(capsys, "run", "1RB1LB_1LA1RZ", "--json")
    data = json.loads(out)
    assert code == 0
    assert {k: data[k] for k in ("steps", "sigma", "halted", "state", "head", "cells_visited")} == {
        "steps": 6, "sigma": 4, "halted": True, "state": "Z", "head": 0, "cells_visited": 4}


def test_run_human_output(capsys):
    code, out, _ = run_cli(capsys, "run", "1RB1LB_1LA1RZ")
    assert code == 0 and "steps          6" in out and "sigma          4" in out and "[" in out


def test_run_undefined_option(capsys):
    m = "1RB1LB_1LA---"
    assert json.loads(run_cli(capsys, "run", m, "--json")[1])["steps"] == 5
    assert json.loads(run_cli(capsys, "run", m, "--json", "--undefined", "1RZ")[1])["steps"] == 6


def test_run_cycler_and_file(capsys, tmp_path):
    data = json.loads(run_cli(capsys, "run", "1RB0RB_1LB1RA", "--json", "--detect-cycler", "--steps", "1000")[1])
    assert data["cycler"] == {"start": 0, "period": 9, "offset": 3} and data["halted"] is False
    f = tmp_path / "m.tm"
    f.write_text("0 _ 1 r 1\n0 1 1 l 1\n1 _ 1 l 0\n1 1 1 r halt\n")
    assert json.loads(run_cli(capsys, "run", str(f), "--json")[1])["steps"] == 6


@pytest.mark.parametrize("argv,needle", [
    (["run", "1RB1LB_1LX1R"], "row B"),
    (["run", "1RB1LB_1LA1RZ", "--steps", "-5"], "non-negative"),
    (["run", "missing_dir/m.txt"], "no such machine file"),
    (["run", "1RB1LB_1LA1RZ", "--tape", "0130"], "initial tape holds symbol 3"),
    (["draw", "1RB1LB_1LA1RZ", "--steps", "10", "-o", "x.svg"], ".png or .pdf"),
])
def test_bad_input_is_one_line_and_nonzero(capsys, argv, needle):
    code, out, err = run_cli(capsys, *argv)
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and needle in err


@pytest.mark.parametrize("suffix", [".png", ".pdf"])
def test_draw_writes_a_figure(capsys, tmp_path, suffix):
    path = tmp_path / f"bb5{suffix}"
    code, out, _ = run_cli(capsys, "draw", BB5, "--steps", "5000", "-o", str(path))
    assert code == 0 and path.stat().st_size > 1000


def test_transformer_engine_has_the_same_json_contract(capsys):
    code, out, _ = run_cli(capsys, "run", "1RB1LB_1LA0LC_1RZ1LD_1RD0RA", "--engine", "transformer", "--steps", "1000", "--json")
    ref = json.loads(run_cli(capsys, "run", "1RB1LB_1LA0LC_1RZ1LD_1RD0RA", "--json")[1])
    data = json.loads(out)
    assert code == 0
    for key in ("steps", "sigma", "halted", "state", "head", "cells_visited"):
        assert data[key] == ref[key]
    code, out, _ = run_cli(capsys, "run", "1RB1LB_1LA1RZ", "--engine", "transformer", "--steps", "100", "--softmax", "20", "--json")
    assert json.loads(out)["steps"] == 6


@pytest.mark.parametrize("argv,needle", [
    (["run", "1RB1LB_1LA1RZ", "--engine", "transformer", "--steps", "1000", "--dtype", "bfloat16", "--cache", "full"],
     "envelope"),
    (["run", "1RB1LB_1LA1RZ", "--engine", "transformer", "--steps", "1000", "--softmax", "1"], "softmax beta"),
    (["run", "1RB1LB_1LA1RZ", "--engine", "transformer", "--steps", "100", "--dtype", "int8"], "--dtype"),
    (["run", "1RA1RA", "--engine", "transformer", "--steps", "100", "--head-range", "10"], "head left the range"),
])
def test_transformer_engine_errors(capsys, argv, needle):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err


def test_inspect_prints_named_weights(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "inspect", "1RB1LB_1LA1RZ", "--figure", str(tmp_path / "a.png"))
    assert code == 0 and "W_q" in out and "qbits" in out and "next_state" in out
    assert (tmp_path / "a.png").stat().st_size > 1000
