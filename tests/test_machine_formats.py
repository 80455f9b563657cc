import pytest
from hypothesis import given, strategies as st

from tm_transformer import MachineFormatError, Transition, TuringMachine, parse_machine, write_machine
from tm_transformer.formats import detect_format, load_machine, parse_standard, to_standard
from tm_transformer.machine import HALT

from .conftest import machines
from .data.published import BB5, HALTING


@given(machines(max_states=8, max_symbols=6))
@pytest.mark.parametrize("fmt", ["standard", "morphett", "yaml"])
def test_round_trip_machine_text_machine(fmt, machine):
    assert parse_machine(write_machine(machine, fmt), fmt) == machine


@given(machines(max_states=8, max_symbols=6))
def test_detected_format_parses_what_was_written(machine):
    for fmt in ("standard", "morphett", "yaml"):
        text = write_machine(machine, fmt)
        assert detect_format(text) == fmt
        assert parse_machine(text) == machine


@given(machines(max_states=8, max_symbols=6))
def test_round_trip_automata_lib(machine):
    pytest.importorskip("automata")
    from tm_transformer.formats.automata_adapter import from_automata, to_automata

    if machine.has_undefined and all(tr is None for tr in machine.table[0]):
        return
    assert from_automata(to_automata(machine)) == machine


@pytest.mark.parametrize("name,text,steps,sigma", HALTING)
def test_standard_strings_round_trip_exactly(name, text, steps, sigma):
    assert to_standard(parse_standard(text)) == text


def test_lenient_reading():
    m = parse_standard(" 1rb1lb _\n1la1rh ")  # whitespace, lower case, halt letter H (beyond A+n)
    assert m == parse_standard("1RB1LB_1LA1RZ")
    assert m.table[1][1] == Transition(1, 1, HALT)


def test_undefined_policies():
    m = parse_standard("1RB---_1LA1RZ")
    assert m.table[0][1] is None
    assert m.resolve_undefined("1RZ").table[0][1] == Transition(1, 1, HALT)
    assert m.resolve_undefined("stop") == m
    with pytest.raises(MachineFormatError, match="policy"):
        m.resolve_undefined("bogus")


@pytest.mark.parametrize("text,match", [
    ("", "empty"),
    ("1RB1LB_1LA", "row B has 3 characters: expected 6"),
    ("1RB1L", "multiple of 3"),
    ("1XB1LB_1LA1RZ", r"row A, transition 0 .*move 'X'"),
    ("3RB1LB_1LA1RZ", r"row A, transition 0 .*writes symbol 3"),
    ("xRB1LB_1LA1RZ", "not a digit"),
    ("1RB1L1_1LA1RZ", "next state '1'"),
])
def test_malformed_standard_strings_raise_specific_errors(text, match):
    with pytest.raises(MachineFormatError, match=match):
        parse_standard(text)


@given(st.text(alphabet="01234RLBZ-_xA ", max_size=30))
def test_random_strings_parse_or_raise_the_documented_error(text):
    try:
        m = parse_standard(text)
    except MachineFormatError:
        return
    assert isinstance(m, TuringMachine)


def test_machine_validation_names_row_and_symbol():
    with pytest.raises(MachineFormatError, match="row B, symbol 1: writes symbol 5"):
        TuringMachine(((Transition(1, 1, 1), Transition(1, 1, 1)), (Transition(1, 1, 0), Transition(5, 1, 0))))
    with pytest.raises(MachineFormatError, match="row A, symbol 0: move 0"):
        TuringMachine(((Transition(1, 0, 0), Transition(1, 1, 0)),))


def test_morphett_reads_wildcards_and_halt_states():
    text = """; binary counter-ish
0 _ 1 r 1
0 * * l 0
1 * 1 l halt-accept
"""
    m = parse_machine(text)
    assert m.n_states == 2
    assert m.table[0][0] == Transition(1, 1, 1)
    assert m.table[0][1] == Transition(1, -1, 0)
    assert m.table[1][0].next_state == HALT


def test_yaml_reads_turingmachine_io_style():
    text = """
blank: ' '
start state: right
table:
  right:
    [1, 0]: R
    ' ': {L: carry}
  carry:
    1: {write: 0}
    [0, ' ']: {write: 1, L: done}
  done:
"""
    with pytest.raises(MachineFormatError, match="expected exactly one of L or R"):
        parse_machine(text)
    m = parse_machine(text.replace("{write: 0}", "{write: 0, L: carry}"))
    assert m.n_states == 2 and m.n_symbols == 3


def test_load_machine_from_files(tmp_path):
    (tmp_path / "bb5.txt").write_text(BB5 + "\n")
    assert load_machine(str(tmp_path / "bb5.txt")) == parse_standard(BB5)
    (tmp_path / "bb5.yaml").write_text(write_machine(parse_standard(BB5), "yaml"))
    assert load_machine(str(tmp_path / "bb5.yaml")) == parse_standard(BB5)
    with pytest.raises(MachineFormatError, match="no such machine file"):
        load_machine(str(tmp_path / "missing.txt"))
