"""Issue 11, items 3 and 5: a library that behaves in a notebook; LaTeX that compiles."""
import shutil
import subprocess
import sys

import pytest

from tm_transformer.bounds import catalogue
from tm_transformer.bounds.derivation import text_to_latex
from tm_transformer.cli import main


# ---- no global side effects ----------------------------------------------------------------------------
def test_imports_and_drawing_leave_the_backend_and_rcparams_alone(tmp_path):
    code = f"""
import matplotlib
matplotlib.use("svg")
before = dict(matplotlib.rcParams)
import tm_transformer.experiments.checks, tm_transformer.experiments.report, tm_transformer.draw
from tm_transformer.experiments import figures
from tm_transformer import figstyle, parse_machine
from tm_transformer.draw import draw
fig, axes = figures.new(2)
axes[0].plot([1, 2], [3, 4], label="x"); axes[0].legend()
assert figures.save(fig, __import__("pathlib").Path({str(tmp_path)!r}), "f") == ["f.pdf", "f.png"]
fig = draw(parse_machine("1RB1LB_1LA1RZ"), 10)
assert type(fig).__name__ == "Figure", type(fig)
with figstyle.context():
    assert matplotlib.rcParams["legend.fontsize"] == 7
assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
after = dict(matplotlib.rcParams)
assert before == after, {{k: (before[k], after[k]) for k in before if before[k] != after[k]}}
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pdf", "f.png"]


def test_draw_returns_a_figure_and_writes_only_when_asked(tmp_path, monkeypatch):
    from tm_transformer import parse_machine
    from tm_transformer.draw import draw

    monkeypatch.chdir(tmp_path)
    fig = draw(parse_machine("1RB1LB_1LA1RZ"), 10)
    assert hasattr(fig, "savefig") and list(tmp_path.iterdir()) == []
    draw(parse_machine("0RB_0RC_0RZ"), 3, tmp_path / "one.png")  # one symbol draws too
    assert (tmp_path / "one.png").stat().st_size > 500


def test_shared_figure_style():
    import matplotlib
    import matplotlib.style

    from tm_transformer import figstyle

    rc = figstyle.style()
    assert rc["mathtext.fontset"] == "cm" and rc["font.size"] == 8 and rc["pdf.fonttype"] == 42
    fig, axes = figstyle.figure(columns=2, ncols=2)
    assert fig.get_size_inches()[0] == pytest.approx(figstyle.TWO_COLUMN) and axes.shape == (1, 2)
    assert figstyle.figure()[0].get_size_inches()[0] == pytest.approx(figstyle.ONE_COLUMN)
    assert figstyle.label("eps") == r"$\varepsilon$"
    with matplotlib.style.context(figstyle.STYLE_FILE):
        assert matplotlib.rcParams["lines.linewidth"] == 1.2


def test_bound_has_a_latex_repr():
    b = catalogue()["weissman"]
    assert b._repr_latex_() == f"${b.latex()}$"


# ---- LaTeX that compiles ---------------------------------------------------------------------------------
def _text_parts(latex: str) -> list[str]:
    parts, i = [], latex.find(r"\text{")
    while i >= 0:
        j, depth, k = i + len(r"\text{"), 1, i + len(r"\text{")
        while depth:
            if latex[k] == "\\":
                k += 2
                continue
            depth += {"{": 1, "}": -1}.get(latex[k], 0)
            k += 1
        parts.append(latex[j: k - 1])
        i = latex.find(r"\text{", k)
    return parts


def _emitted() -> dict[str, str]:
    """Every LaTeX string the toolkit emits: statements, derivations, and `tmt bounds show --latex`."""
    out = {}
    for name, b in catalogue().items():
        out[f"{name}.latex"] = b.latex()
        out[f"{name}.derivation"] = b.derivation.latex()
        out[f"{name}.repr"] = b._repr_latex_()[1:-1]
    return out


def _render_mathtext(latex: str) -> None:
    from matplotlib.mathtext import MathTextParser

    body = latex.replace("\\begin{aligned}\n", "").replace("\n\\end{aligned}", "")
    parser = MathTextParser("path")
    for row in body.split(" \\\\\n"):
        parser.parse("$" + row.replace("&", " ") + "$")


def test_text_parts_hold_no_math():
    for key, latex in _emitted().items():
        for part in _text_parts(latex):
            assert "_" not in part and "^" not in part, (key, part)


def test_every_emitted_latex_string_renders(tmp_path):
    docs = _emitted()
    if shutil.which("pdflatex"):
        body = "\n".join(rf"\[ {s} \]" for s in docs.values())
        (tmp_path / "all.tex").write_text("\\documentclass{article}\n\\usepackage{amsmath}\n\\begin{document}\n"
                                          f"{body}\n\\end{{document}}\n")
        res = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "all.tex"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stdout[-3000:]
    else:  # no TeX installation: matplotlib's mathtext on every row
        for key, latex in docs.items():
            try:
                _render_mathtext(latex)
            except Exception as exc:  # noqa: BLE001 - report which string failed
                pytest.fail(f"{key}: {exc}")


def test_cli_latex_output_renders(capsys):
    for name in catalogue():
        assert main(["bounds", "show", name, "--latex"]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[0].startswith("% ")
        statement, derivation = out[1], "\n".join(out[2:])
        for latex in (statement, derivation):
            assert all("_" not in p and "^" not in p for p in _text_parts(latex)), (name, latex)
            _render_mathtext(latex)


@pytest.mark.parametrize("text", [
    "Hoeffding: P(|p_hat - p| >= eps) <= 2 exp(-2 n eps^2)",
    "100% of {cases} & #1 at $5 ~ S \\ A, W_{-1} branch, x_ and y^",
    "plain prose, nothing else.",
])
def test_sentences_become_latex_that_renders(text):
    latex = text_to_latex(text)
    assert all("_" not in p and "^" not in p for p in _text_parts(latex)), latex
    _render_mathtext(latex)
    if "prose" in text:
        assert latex == r"\text{plain prose, nothing else.}"
