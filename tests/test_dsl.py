"""Issue 12, item 1: the machine language (named states and symbols, rules, sub-machines, export, drawing)."""
import pytest
from hypothesis import given, settings, strategies as st

from tm_transformer import MachineFormatError, simulate
from tm_transformer.dsl import Builder
from tm_transformer.dsl.library import binary_increment, scan_to, unary_increment
from tm_transformer.formats.morphett import parse_morphett_program
from tm_transformer.formats.standard import parse_standard
from tm_transformer.icl.learners import conditional_spec, threshold_spec


def _flip():
    """Flip bits up to the '#', come back to the start, halt."""
    b = Builder("_01#", start="flip", name="flip")
    b.rules("""
        flip  0  -> 1 R flip
        flip  1  -> 0 R flip
        flip  #  -> L back
        back  *  -> L back        ; every symbol without a rule of its own
        back  _  -> R halt
    """)
    return b.build()


def test_rules_compile_to_the_machine_they_say():
    spec = _flip()
    assert spec.states == ("flip", "back") and spec.symbols == ("_", "0", "1", "#")
    r = simulate(spec.machine, 100, spec.encode("0110#"))
    assert r.reason == "halted" and spec.decode(r.window(0, 4)) == list("1001#") and r.head == 0
    # the same rules from Python; '*' fills only what has no rule of its own
    b = Builder("_01#", start="flip")
    b.rule("flip", "0", write="1", move="R", next="flip").rule("flip", "1", write="0", move="R", next="flip")
    b.rule("flip", "#", move="L", next="back").rule("back", "_", move="R", next="halt")
    b.rule("back", "*", move="L", next="back")
    assert b.build().machine == spec.machine
    assert spec.machine.table[1][0].next_state == -1 and spec.machine.table[0][0] is None  # undefined: ---


def test_standard_export_when_it_fits_and_morphett_otherwise():
    spec = _flip()
    assert spec.fits_standard and parse_standard(spec.text()) == spec.machine
    big = conditional_spec(2, 3)
    assert not big.fits_standard and big.text() == big.morphett()
    prog = parse_morphett_program(big.text())  # read back: the same machine up to the names' order
    tape = list("B?a0b1b2a2")
    ours = simulate(big.machine, 10_000, big.encode(tape))
    theirs = simulate(prog.machine, 10_000, [prog.symbols.index(s) for s in tape])
    assert ours.steps == theirs.steps and theirs.reason == "halted"
    assert big.decode(ours.tape) == [("_" if s == "_" else s) for s in (prog.symbols[int(c)] for c in theirs.tape)]
    assert prog.states[0] == "start"


@pytest.mark.parametrize("text, message", [
    ("a 0 -> 1 S a", "move 'S'"),
    ("a 0 -> 9 R a", "symbol '9' is not in the alphabet"),
    ("a 0 -> R b", "state 'b' is entered but has no rules"),
    ("a 0 -> R a\na 0 -> L a", "a second rule"),
    ("a 0 R a", "expected 'state reads -> [write] move next'"),
])
def test_bad_rules_are_one_line(text, message):
    b = Builder("_01", start="a")
    with pytest.raises(MachineFormatError, match=message.replace("[", r"\[").replace("]", r"\]")) as err:
        b.rules(text)
        b.build()
    assert "\n" not in str(err.value)


def test_alphabet_errors():
    with pytest.raises(MachineFormatError, match="declared twice"):
        Builder("_00", start="a")
    with pytest.raises(MachineFormatError, match="one-character names"):
        b = Builder(["_", "ab"], start="a")
        b.rule("a", "ab", move="R", next="halt")
        b.build().morphett()


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.integers(0, 40))
def test_unary_and_binary_counters_add_one(k):
    b = Builder("_1#", start="go")
    b.rule("go", "#", move="R", next="inc")
    unary_increment(b, "inc", then="done")
    b.rule("done", "1", move="L", next="halt").rule("done", "_", move="L", next="halt")
    spec = b.build()
    r = simulate(spec.machine, 10_000, spec.encode("#" + "1" * k))
    assert r.reason == "halted" and spec.decode(r.tape).count("1") == k + 1 and r.head == 0

    b = Builder("_01#", start="go")
    b.rule("go", "#", move="R", next="inc")
    binary_increment(b, "inc", then="done")
    b.rule("done", ["0", "1"], move="L", next="halt")
    spec = b.build()
    bits = format(k, "b")[::-1] if k else "0"  # least significant bit first
    r = simulate(spec.machine, 10_000, spec.encode("#" + bits))
    out = "".join(spec.decode(r.tape))[1:].rstrip("_")
    assert r.reason == "halted" and int(out[::-1], 2) == k + 1 and r.head == 0


def test_scan_to_and_draw(tmp_path):
    b = Builder("_ab|", start="s")
    scan_to(b, "s", "|", then="t")
    b.rule("t", "*", move="R", next="halt", write="b")
    spec = b.build()
    r = simulate(spec.machine, 100, spec.encode("aab|a"))
    assert spec.decode(r.window(0, 4)) == list("aab|b")
    spec.draw(list("aab|a"), 10, tmp_path / "scan.png")
    assert (tmp_path / "scan.png").stat().st_size > 0
    assert threshold_spec(2).fits_standard  # small learners export to the standard format


def test_a_refused_rule_adds_nothing():
    """Builder.rule is all or nothing; an empty read list and a state name Morphett cannot read are refused."""
    b = Builder("_01", start="a")
    b.rule("a", "0", move="R", next="a")
    before = (list(b._rules), list(b._states))
    with pytest.raises(MachineFormatError, match="symbol '9' is not in the alphabet"):
        b.rule("a", ["1", "9"], move="R", next="fresh")
    with pytest.raises(MachineFormatError, match="a second rule for state 'a' reading '1'"):
        b.rule("a", ["1", "1"], move="R", next="fresh")
    with pytest.raises(MachineFormatError, match="no symbol to read"):
        b.rule("a", [], move="R", next="fresh")
    assert (b._rules, b._states) == before      # neither the rule for '1' nor the state 'fresh' was kept
    b.rule("a", ["1", "_"], move="R", next="halt")
    assert b.build().machine.n_states == 1
    c = Builder("_0", start="a;b")
    c.rule("a;b", "*", move="R", next="halt")
    spec = c.build()
    with pytest.raises(MachineFormatError, match="state 'a;b': Morphett's format needs state names without ';'"):
        spec.morphett()
