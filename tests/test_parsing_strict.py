"""Issue 11, item 2: every accepted input means exactly one machine; everything else gets one line."""
import io
import json

import pytest
from hypothesis import given, strategies as st

from tm_transformer import MachineFormatError, TuringMachine, parse_machine, simulate
from tm_transformer.cli import main
from tm_transformer.formats import load_programs, parse_programs, parse_standard

# turingmachine.io's own examples (github.com/aepsilon/turing-machine-viz, src/examples), with the results
# the site shows: binary increment 1011 -> 1100; binary addition '1011+11001' -> '100100 11001'; the 3-state
# busy beaver halts after 13 steps with six 1s.
BINARY_INCREMENT = """name: binary increment
source code: |
  input: '1011'
  blank: ' '
  start state: right
  table:
    right:
      [1,0]: R
      ' '  : {L: carry}
    carry:
      1      : {write: 0, L}
      [0,' ']: {write: 1, L: done}
    done:
"""
BINARY_ADD = """input: '1011+11001'
blank: ' '
start state: right
table:
  right:
    [0,1,+]: R
    ' ': {L: read}
  read:
    0: {write: c, L: have0}
    1: {write: c, L: have1}
    +: {write: ' ', L: rewrite}
  have0: {[0,1]: L, +: {L: add0}}
  have1: {[0,1]: L, +: {L: add1}}
  add0:
    [0,' ']: {write: O, R: back0}
    1      : {write: I, R: back0}
    [O,I]  : L
  add1:
    [0,' ']: {write: I, R: back1}
    1      : {write: O, L: carry}
    [O,I]  : L
  carry:
    [0,' ']: {write: 1, R: back1}
    1      : {write: 0, L}
  back0:
    [0,1,O,I,+]: R
    c: {write: 0, L: read}
  back1:
    [0,1,O,I,+]: R
    c: {write: 1, L: read}
  rewrite:
    O: {write: 0, L}
    I: {write: 1, L}
    [0,1]: L
    ' ': {R: done}
  done:
"""
BUSY_BEAVER_3 = """blank: '0'
start state: A
table:
  A:
    0: {write: 1, R: B}
    1: {L: C}
  B:
    0: {write: 1, L: A}
    1: R
  C:
    0: {write: 1, L: B}
    1: {R: H}
  H:
"""


def cli(capsys, *argv, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, out, err, needle):
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and needle in err, (code, out, err)


# ---- the standard format --------------------------------------------------------------------------------
def test_whitespace_inside_a_row_is_refused_not_reinterpreted(capsys):
    one_line_error(*cli(capsys, "run", "1RB 1LB 1LA 1RZ"), "whitespace")
    one_line_error(*cli(capsys, "run", "1RB1LB_1LA 1RZ"), "row B")
    with pytest.raises(MachineFormatError, match="whitespace"):
        parse_standard("1RB1LB1LA1RZ\n1RA1RA1RA1RA")


def test_whitespace_around_rows_is_read_as_the_same_machine():
    assert parse_standard(" 1RB1LB _ 1LA1RZ\n") == parse_standard("1RB1LB_1LA1RZ")
    assert parse_machine("1RB1LB_\n1LA1RZ\n") == parse_standard("1RB1LB_1LA1RZ")


def test_one_symbol_machines(capsys):
    m = parse_standard("0RB_0RC_0RZ")
    assert m.n_symbols == 1 and str(m) == "0RB_0RC_0RZ"
    code, out, _ = cli(capsys, "run", "0RB_0RC_0RZ", "--json")
    assert code == 0 and json.loads(out)["steps"] == 3
    for fmt in ("morphett", "yaml"):
        from tm_transformer import write_machine
        assert parse_machine(write_machine(m, fmt), fmt) == m


@given(st.integers(1, 6), st.data())
def test_one_symbol_machines_round_trip_in_every_format(n, data):
    from tm_transformer import HALT, Transition, write_machine

    def cell():
        if data.draw(st.integers(0, 9)) == 0:
            return None
        return Transition(0, data.draw(st.sampled_from([-1, 1])), data.draw(st.sampled_from([HALT, *range(n)])))

    rows = tuple((cell(),) for _ in range(n))
    m = TuringMachine(rows)
    for fmt in ("standard", "morphett", "yaml"):
        assert parse_machine(write_machine(m, fmt), fmt) == m
    assert eval(repr(m)) == m


def test_non_ascii_lookalikes_are_refused():
    with pytest.raises(MachineFormatError, match="character"):
        parse_standard("1R\u017f1LB_1LA1RZ")  # long s upper-cases to S
    with pytest.raises(MachineFormatError):
        parse_standard("\u00b2RB1LB_1LA1RZ")  # superscript two is a digit to str.isdigit


def test_machine_starting_with_undefined_is_not_an_option(capsys):
    code, out, _ = cli(capsys, "run", "---1RA_1LA1RZ", "--json")
    assert code == 0 and json.loads(out)["reason"] == "undefined" and json.loads(out)["machine"] == "---1RA_1LA1RZ"
    code, out, _ = cli(capsys, "run", "--json", "---_0RZ")
    assert code == 0 and json.loads(out)["steps"] == 0


# ---- several machines, standard input --------------------------------------------------------------------
LIST = "# bbchallenge-style list\n1RB1LB_1LA1RZ\n\n1RB1RZ_1LB0RC_1LC1LA\n1RB1LB_1LA0LC_1RZ1LD_1RD0RA\n"


def test_a_file_of_machines_runs_each_as_json_lines(capsys, tmp_path):
    f = tmp_path / "list.txt"
    f.write_text(LIST)
    code, out, _ = cli(capsys, "run", str(f))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [(r["index"], r["steps"]) for r in rows] == [(0, 6), (1, 21), (2, 107)]
    code, out, _ = cli(capsys, "run", str(f), "--index", "2", "--json")
    assert code == 0 and json.loads(out)["steps"] == 107
    one_line_error(*cli(capsys, "run", str(f), "--index", "3"), "expected 0..2")
    one_line_error(*cli(capsys, "run", str(f), "--index", "-1"), "--index")
    one_line_error(*cli(capsys, "draw", str(f), "--steps", "10", "-o", str(tmp_path / "x.png")), "--index N")
    one_line_error(*cli(capsys, "run", str(f), "--engine", "transformer"), "--index")
    assert [p.machine for p in load_programs(str(f))][1] == parse_standard("1RB1RZ_1LB0RC_1LC1LA")


def test_a_bad_line_is_named(tmp_path):
    f = tmp_path / "list.txt"
    f.write_text("1RB1LB_1LA1RZ\n1RB1LB_1LA\n")
    with pytest.raises(MachineFormatError, match="line 2: row B"):
        load_programs(str(f))


def test_dash_reads_standard_input(capsys, monkeypatch):
    code, out, _ = cli(capsys, "run", "-", "--json", stdin="1RB1LB_1LA1RZ\n", monkeypatch=monkeypatch)
    assert code == 0 and json.loads(out)["steps"] == 6
    code, out, _ = cli(capsys, "run", "-", "--index", "1", "--json", stdin=LIST, monkeypatch=monkeypatch)
    assert code == 0 and json.loads(out)["steps"] == 21
    code, out, _ = cli(capsys, "run", "-", "--json", stdin=BINARY_INCREMENT, monkeypatch=monkeypatch)
    assert code == 0 and json.loads(out)["output"] == "1100"
    one_line_error(*cli(capsys, "run", "-", stdin="", monkeypatch=monkeypatch), "no machine")


# ---- turingmachine.io ----------------------------------------------------------------------------------
@pytest.mark.parametrize("text,steps,output", [
    (BINARY_INCREMENT, 8, "1100"),
    (BINARY_ADD, 92, "100100 11001"),
    (BUSY_BEAVER_3, 13, "111111"),
])
def test_turingmachine_io_examples_give_the_sites_results(capsys, tmp_path, text, steps, output):
    program = parse_programs(text)[0]
    result = simulate(program.machine, 10_000, program.tape)
    assert result.halted and result.steps == steps and program.tape_text(result) == output
    f = tmp_path / "m.yaml"
    f.write_text(text)
    code, out, _ = cli(capsys, "run", str(f), "--json")
    data = json.loads(out)
    assert code == 0 and data["steps"] == steps and data["output"] == output
    code, out, _ = cli(capsys, "run", str(f))
    assert code == 0 and f"output         {output}" in out


def test_yaml_input_and_blank_are_honoured():
    p = parse_programs(BINARY_INCREMENT)[0]
    assert p.symbols[0] == " " and p.tape == tuple(p.symbols.index(c) for c in "1011")


def test_yaml_symbols_keep_their_names_yes_and_no_included():
    text = "input: 'yn'\nblank: ' '\nstart state: a\ntable:\n  a:\n    y: {write: n, R}\n    n: {write: y, R: b}\n  b:\n"
    p = parse_programs(text)[0]
    r = simulate(p.machine, 100, p.tape)
    assert p.tape_text(r) == "ny" and set(p.symbols) == {" ", "y", "n"}


@pytest.mark.parametrize("text,match", [
    ("start state: a\ntable:\n  a:\n    0: R\n", "blank"),
    ("blank: 0\ntable:\n  a:\n    0: {wrte: 1, R}\n", "key 'wrte'"),
    ("blank: 0\ntable:\n  a:\n    0: R\n    [0, 1]: L\n", "second instruction"),
    ("blank: 0\ntable:\n  a:\n    0: {R: b}\n", "next state 'b'"),
    ("blank: 0\ntable:\n  a:\n    0: {write: [1], R}\n", "written symbol"),
    ("blank: 0\nstart state: z\ntable:\n  a:\n", "start state 'z'"),
    ("blank: 0\ntapes: 2\ntable:\n  a:\n", "key 'tapes'"),
    ("blank: 0\ntable: [1, 2]\n", "'table' mapping"),
    ("blank: 0\ntable:\n  a:\n    0: R\n    0: L\n", "appears twice"),
    ("blank: 0\ntable:\n  a:\n    0: R\n  a:\n    1: L\n", "appears twice"),
    ("blank: 0\ntable:\n  a:\n    0: R\n    '0': L\n", "second instruction"),
    ("blank: 0\ntable:\n  a: [\n", "invalid YAML"),
])
def test_bad_yaml_is_one_clear_error(text, match):
    with pytest.raises(MachineFormatError, match=match):
        parse_programs(text, "yaml")


# ---- Morphett ------------------------------------------------------------------------------------------
def test_morphett_star_next_state_breakpoints_and_names(capsys, tmp_path):
    text = "0 _ x r 0 !\n0 x y * 1 ; no: stay moves are refused\n"
    with pytest.raises(MachineFormatError, match="stay moves"):
        parse_programs(text)
    text = "0 a b r *\n0 _ c l halt\n"
    p = parse_programs(text)[0]
    assert p.machine.n_states == 1 and p.machine.table[0][p.symbols.index("a")].next_state == 0
    f = tmp_path / "m.tm"
    f.write_text(text + "0 b b r *   !\n")
    code, out, _ = cli(capsys, "run", str(f), "--tape", "_", "--json")
    assert code == 0 and json.loads(out)["output"] == "c"
    with pytest.raises(MachineFormatError, match="wildcard state"):
        parse_programs("* _ 1 r halt\n0 1 1 r 0\n")


# ---- tmt bounds ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv,needle", [
    (["bounds", "eval", "weissman", "V=10", "eps=0.1", "delta=0.05", "d=3"], "does not use d"),
    (["bounds", "eval", "weissman", "V=10", "eps=0.1", "eps=0.2", "delta=0.05"], "already given"),
    (["bounds", "eval", "weissman", "V=10", "epsilon=0.1", "eps=0.2", "delta=0.05"], "already given"),
    (["bounds", "eval", "weissman", "V=10", "n=100", "eps=0.1", "delta=0.05", "--solve-for", "eps"], "leave eps out"),
    (["bounds", "eval", "weissman", "V=10", "n=100", "delta=0.05", "--solve-for", "d"], "does not depend"),
    (["bounds", "eval", "weissman", "V=10", "n=100", "n=3", "delta=0.05", "--solve-for", "eps"], "already given"),
    (["bounds", "compare", "C1", "union_contexts", "--along", "V", "V=3"], "compared along"),
    (["bounds", "compare", "C1", "union_contexts", "--along", "V", "l=3"], "use l"),
])
def test_bounds_refuse_unknown_and_repeated_variables(capsys, argv, needle):
    one_line_error(*cli(capsys, *argv), needle)


def test_bounds_eval_still_evaluates(capsys):
    code, out, _ = cli(capsys, "bounds", "eval", "weissman", "V=10", "eps=0.1", "delta=0.05", "--json")
    assert code == 0 and json.loads(out)["value"] == pytest.approx(496.2624522158819)


def test_machine_repr_is_the_standard_format():
    m = parse_standard("1RB1LB_1LA1RZ")
    assert str(m) == "1RB1LB_1LA1RZ" and repr(m) == "TuringMachine('1RB1LB_1LA1RZ')"
    assert eval(repr(m)) == m and TuringMachine("1RB1LB_1LA1RZ") == m


def test_tape_is_read_in_the_files_own_symbol_names(capsys, monkeypatch):
    """--tape on a turingmachine.io file means the file's symbols: '1011' is the site's input 1011, not
    symbol numbers (where the site's '0' would be a blank)."""
    code, out, _ = cli(capsys, "run", "-", "--tape", "1011", "--json", stdin=BINARY_INCREMENT, monkeypatch=monkeypatch)
    assert code == 0 and json.loads(out)["output"] == "1100"
    code, out, _ = cli(capsys, "run", "-", "--tape", "1111", "--json", stdin=BINARY_INCREMENT, monkeypatch=monkeypatch)
    assert code == 0 and json.loads(out)["output"] == "10000"
    one_line_error(*cli(capsys, "run", "-", "--tape", "12", stdin=BINARY_INCREMENT, monkeypatch=monkeypatch),
                   "not one of the file's symbols")
    one_line_error(*cli(capsys, "run", "1RB1LB_1LA1RZ", "--tape", "1x", monkeypatch=monkeypatch), "expected digits")


def test_a_file_named_like_a_machine_string_is_ambiguous_not_silently_preferred(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "0RB_0RC_0RZ").write_text("1RB1LB_1LA1RZ\n")
    one_line_error(*cli(capsys, "run", "0RB_0RC_0RZ"), "both a machine string and a file")
    code, out, _ = cli(capsys, "run", "./0RB_0RC_0RZ", "--json")
    assert code == 0 and json.loads(out)["machine"] == "1RB1LB_1LA1RZ"
    (tmp_path / "1RB1LB_1LA1RZ").mkdir()
    code, out, _ = cli(capsys, "run", "1RB1LB_1LA1RZ", "--json")
    assert code == 0 and json.loads(out)["steps"] == 6


def test_yaml_input_that_yaml_reads_as_a_number_is_refused(tmp_path, capsys):
    f = tmp_path / "m.yaml"
    f.write_text("input: 0011\nblank: ' '\ntable:\n  q0:\n    ' ': {R: done}\n  done:\n")
    one_line_error(*cli(capsys, "run", str(f)), "read by YAML as the number 9")
    f.write_text("input: 1011\nblank: ' '\ntable:\n  q0:\n    ' ': {R: done}\n  done:\n")
    code, out, _ = cli(capsys, "run", str(f), "--json")
    assert code == 0


def test_the_halting_state_entered_is_named_as_the_file_names_it(tmp_path, capsys):
    f = tmp_path / "ar.yaml"
    f.write_text("input: 'a'\nblank: ' '\nstart state: q0\ntable:\n  q0:\n    a: {R: accept}\n    b: {R: reject}\n"
                 "  accept:\n  reject:\n")
    for tape, name in (("a", "accept"), ("b", "reject")):
        code, out, _ = cli(capsys, "run", str(f), "--tape", tape, "--json")
        assert code == 0 and json.loads(out)["final_state"] == name
    m = tmp_path / "ar.tm"
    m.write_text("0 a a r halt-accept\n0 b b r halt-reject\n")
    for tape, name in (("a", "halt-accept"), ("b", "halt-reject")):
        code, out, _ = cli(capsys, "run", str(m), "--tape", tape, "--json")
        assert code == 0 and json.loads(out)["final_state"] == name
