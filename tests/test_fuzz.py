"""Issue 11, item 7: fuzzing every parser and CLI entry point.

Over arbitrary text and over mutations of valid inputs, each parser either raises
:class:`MachineFormatError` with a one-line message or returns a machine whose canonical form reads back
as the same machine; each CLI entry point exits 0 with its result or 2 with one line on stderr, and
never lets an exception (a traceback) escape.
"""
import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tm_transformer import MachineFormatError, parse_machine, write_machine
from tm_transformer.cli import main
from tm_transformer.formats import parse_morphett, parse_programs, parse_standard, parse_yaml, to_standard

from .conftest import machines

PARSERS = {"standard": parse_standard, "morphett": parse_morphett, "yaml": parse_yaml,
           "detect": parse_machine}


def parses_or_refuses(parse, text):
    """None when refused with one line; else the machine, checked to read back from its canonical form."""
    try:
        m = parse(text)
    except MachineFormatError as exc:
        assert "\n" not in str(exc) and str(exc), repr(str(exc))
        return None
    for fmt in ("yaml", "morphett") if m.n_symbols > 10 or m.n_states > 25 else ("standard", "yaml", "morphett"):
        if fmt == "morphett" and m.n_symbols > 10:
            continue
        assert parse_machine(write_machine(m, fmt), fmt) == m
    return m


@settings(max_examples=150)
@given(st.text(max_size=120))
@pytest.mark.parametrize("name", sorted(PARSERS))
def test_parsers_on_arbitrary_text(name, text):
    parses_or_refuses(PARSERS[name], text)


@settings(max_examples=60)
@given(st.text(alphabet="0123456789LRABCDZ-_ \n#lrhalt*!;:{}[]',", max_size=80))
@pytest.mark.parametrize("name", sorted(PARSERS))
def test_parsers_on_near_miss_text(name, text):
    parses_or_refuses(PARSERS[name], text)


_YAML_PIECES = st.sampled_from(["blank: ' '\n", "blank: 0\n", "input: '101'\n", "start state: a\n", "table:\n",
                                "  a:\n", "  b:\n", "    0: R\n", "    1: {write: 0, L: b}\n", "    ' ': {L}\n",
                                "    [0, 1]: L\n", "    yes: {R: a}\n", "  a: {}\n", "- x\n", "&a x\n", "*a\n"])


@settings(max_examples=80)
@given(st.lists(_YAML_PIECES, max_size=10))
def test_yaml_parser_on_shuffled_valid_pieces(pieces):
    parses_or_refuses(parse_yaml, "".join(pieces))


def _mutate(text: str, data) -> str:
    kind = data.draw(st.sampled_from(["insert", "delete", "replace", "swap", "duplicate_line"]))
    if not text:
        return data.draw(st.text(max_size=3))
    i = data.draw(st.integers(0, len(text) - 1))
    char = data.draw(st.sampled_from(list("01239LRZAB-_ \n\t#;*:{}'x")))
    if kind == "insert":
        return text[:i] + char + text[i:]
    if kind == "delete":
        return text[:i] + text[i + 1:]
    if kind == "replace":
        return text[:i] + char + text[i + 1:]
    if kind == "swap" and i + 1 < len(text):
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    lines = text.splitlines(keepends=True)
    j = data.draw(st.integers(0, len(lines) - 1))
    return "".join(lines[: j + 1] + [lines[j]] + lines[j + 1:])


@settings(max_examples=100)
@given(machines(max_states=5, max_symbols=4), st.sampled_from(["standard", "morphett", "yaml"]), st.data())
def test_mutations_of_valid_inputs(machine, fmt, data):
    text = write_machine(machine, fmt)
    mutated = _mutate(text, data)
    parses_or_refuses(lambda t: parse_machine(t, fmt), mutated)
    parses_or_refuses(parse_machine, mutated)


@settings(max_examples=60)
@given(machines(max_states=5, max_symbols=4), st.data())
def test_harmless_changes_to_a_standard_string_mean_the_same_machine(machine, data):
    text = to_standard(machine)
    rows = text.split("_")
    pad = st.sampled_from(["", " ", "\t", "  "])
    joined = "_".join(data.draw(pad) + (r.lower() if data.draw(st.booleans()) else r) + data.draw(pad) for r in rows)
    assert parse_standard(joined) == machine
    assert to_standard(parse_machine(data.draw(pad) + joined + "\n")) == text
    assert [p.machine for p in parse_programs(f"# list\n{text}\n\n{text}\n")] == [machine, machine]


# ---- the command line ------------------------------------------------------------------------------------
def _machine_arg(tmp_path_factory):
    return st.one_of(
        st.sampled_from(["1RB1LB_1LA1RZ", "0RB_0RC_0RZ", "---1RA_1LA1RZ", "1RB 1LB 1LA 1RZ", "-", "", "1RB",
                         "1RB1LB_1LA1RX", "missing.txt", "1RB1LB_1LA---"]),
        st.text(alphabet="01LRABZ-_ ", max_size=16))


_RUN_FLAGS = st.lists(st.sampled_from([["--json"], ["--detect-cycler"], ["--undefined", "1RZ"], ["--undefined", "x"],
                                       ["--tape", "0101"], ["--tape", "2"], ["--tape", "x"], ["--index", "0"],
                                       ["--index", "7"], ["--index", "-1"], ["--format", "yaml"],
                                       ["--format", "morphett"], ["--steps", "x"], ["--steps", "1e2"],
                                       ["--bogus"], ["extra"]]), max_size=4)


def _call(capsys, argv, stdin_text, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(stdin_text))
    code = main(argv)  # an exception escaping here is the traceback the fuzz test forbids
    out, err = capsys.readouterr()
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        assert out == "" and len(err.splitlines()) == 1 and err.startswith("tmt"), (argv, err)
    return code, out


CLI_SETTINGS = dict(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@settings(max_examples=120, **CLI_SETTINGS)
@given(st.data())
def test_cli_run_never_tracebacks(capsys, monkeypatch, tmp_path_factory, data):
    machine = data.draw(_machine_arg(tmp_path_factory))
    flags = [f for group in data.draw(_RUN_FLAGS) for f in group]
    stdin = data.draw(st.sampled_from(["1RB1LB_1LA1RZ\n", "1RB1LB_1LA1RZ\n1RB1RZ_1LB0RC_1LC1LA\n", "", "x\n"]))
    argv = ["run", machine, "--steps", "60", *flags]
    code, out = _call(capsys, argv, stdin, monkeypatch)
    if code == 0 and "--json" in flags and machine not in ("-",):
        first = json.loads(out.splitlines()[0])
        assert first["machine"] == to_standard(parse_machine(first["machine"]))  # canonical form


@settings(max_examples=60, **CLI_SETTINGS)
@given(st.lists(st.sampled_from(["run", "draw", "bounds", "experiment", "reproduce", "eval", "show", "list",
                                 "compare", "weissman", "C1", "--json", "--latex", "-o", "x.png", "--steps",
                                 "10", "V=10", "eps=0.1", "delta=2", "d=3", "eps=x", "=", "--solve-for",
                                 "--along", "--out", "--quick", "--full", "nope", "---", "-", "--", "--version",
                                 "-h"]), max_size=7))
def test_cli_any_argv_never_tracebacks(capsys, monkeypatch, tmp_path, argv):
    mine = tmp_path / "mine"
    mine.mkdir(exist_ok=True)
    (mine / "thesis.tex").write_text("keep me")
    argv = [a if a != "x.png" else str(tmp_path / "x.png") for a in argv]
    if argv[:1] in (["experiment"], ["reproduce"]):  # never a long run: the output folder is a user's
        argv += ["--out", str(mine), "--no-progress"]
    monkeypatch.chdir(tmp_path)
    _call(capsys, argv, "", monkeypatch)
    assert (mine / "thesis.tex").read_text() == "keep me"


@settings(max_examples=80, **CLI_SETTINGS)
@given(st.sampled_from(["weissman", "hoeffding", "C1", "C4", "behw", "nope"]),
       st.lists(st.sampled_from(["V=10", "V=1", "V=x", "eps=0.1", "eps=1.5", "epsilon=0.2", "delta=0.05",
                                 "delta=0", "n=1000", "n=-1", "d=3", "m=5", "C=1", "q=0.5", "foo=1", "eps",
                                 "=3", "eps==1", "V=nan", "V=inf"]), max_size=5),
       st.sampled_from([[], ["--json"], ["--exact"], ["--solve-for", "eps"], ["--solve-for", "zz"]]))
def test_cli_bounds_eval_never_tracebacks(capsys, monkeypatch, name, values, flags):
    code, out = _call(capsys, ["bounds", "eval", name, *values, *flags], "", monkeypatch)
    if code == 0 and "--json" in flags:
        assert "value" in json.loads(out)
