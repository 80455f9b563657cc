"""Derivations: a tail inequality, the requirement "tail <= delta", and its solution for n.

A :class:`Derivation` is a list of steps, each a sentence and a sympy relation, printable as text and
as LaTeX. :func:`solve_tail` does the algebra with sympy; where n appears both linearly and inside a
logarithm (n = a ln n + b, as in growth-function bounds) the larger root is the W_{-1} branch of the
Lambert function, n = -a W_{-1}(-exp(-b/a)/a), which :func:`larger_root_n_eq_a_log_n_plus_b` writes down.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import sympy as sp

from .variables import delta, n


@dataclass(frozen=True)
class Step:
    text: str
    relation: sp.Basic


@dataclass(frozen=True)
class Derivation:
    steps: tuple[Step, ...] = field(default_factory=tuple)

    def text(self) -> str:
        return "\n".join(f"  {i}. {s.text}\n       {sp.sstr(s.relation)}" for i, s in enumerate(self.steps, 1))

    def latex(self) -> str:
        """An ``aligned`` block, one row per step: the sentence (prose in ``\\text{}``, formulas in math
        mode, see :func:`text_to_latex`) and the relation."""
        rows = [rf"{text_to_latex(f'{i}. {s.text}')} & {sp.latex(s.relation)}" for i, s in enumerate(self.steps, 1)]
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


# ---- sentences with formulas in them, as LaTeX that compiles -------------------------------------------
_MATHY = re.compile(r"\S*[_^\\]\S*|<=|>=|[<>|]")
_WORDS = {"eps": r"\varepsilon", "epsilon": r"\varepsilon", "delta": r"\delta", "Theta": r"\Theta", "ln": r"\ln",
          "exp": r"\exp", "log": r"\log"}
_TEXT_ESCAPES = {"%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}"}


def _text(s: str) -> str:
    return r"\text{" + "".join(_TEXT_ESCAPES.get(c, c) for c in s) + "}" if s else ""


def _math_word(w: str) -> str:
    if w in _WORDS:
        return _WORDS[w] + " "
    return w if len(w) == 1 else rf"\mathrm{{{w}}}"


def _math(tok: str) -> str:
    """A formula token (``p_hat``, ``V^l``, ``W_{-1}``, ``<=``, ``\\``) in math mode."""
    if tok in ("<=", ">="):
        return r"\leq " if tok == "<=" else r"\geq "
    tok = tok.replace("<=", "\x00le").replace(">=", "\x00ge")
    out, i = [], 0
    while i < len(tok):
        c = tok[i]
        if c in "_^":
            if tok[i + 1: i + 2] == "{":
                j = tok.find("}", i)
                inner = tok[i + 2: j] if j > 0 else tok[i + 2:]
                out.append(c + "{" + _math(inner) + "}")
                i = j + 1 if j > 0 else len(tok)
                continue
            m = re.match(r"[A-Za-z0-9]+", tok[i + 1:])
            arg = m.group() if m else ""
            out.append(c + "{" + (_math_word(arg) if arg.isalpha() else arg) + "}")
            i += 1 + len(arg)
            continue
        m = re.match(r"[A-Za-z]+", tok[i:])
        if m:
            out.append(_math_word(m.group()))
            i += len(m.group())
            continue
        if c == "\x00":
            out.append(r"\leq " if tok[i + 1: i + 3] == "le" else r"\geq ")
            i += 3
            continue
        out.append({"\\": r"\setminus ", "{": r"\{", "}": r"\}", "%": r"\%", "&": r"\&", "#": r"\#",
                    "$": r"\$", "~": r"\sim "}.get(c, c))
        i += 1
    return "".join(out)


def text_to_latex(text: str) -> str:
    """A sentence as LaTeX for math mode: prose in ``\\text{}`` (special characters escaped), tokens that
    hold ``_``, ``^`` or ``\\`` and the comparisons ``<= >= < > |`` in math mode, so that no ``\\text{}``
    part holds ``_`` or ``^`` (pdflatex stops on them)."""
    out, pos = [], 0
    for m in _MATHY.finditer(text):
        tok, end = m.group(), m.end()
        trail = len(tok) - len(tok.rstrip(",.;:"))
        if trail and len(tok) > trail:
            tok, end = tok[:-trail], end - trail
        out.append(_text(text[pos: m.start()]))
        out.append(_math(tok))
        pos = end
    out.append(_text(text[pos:]))
    return "".join(out)


def solve_tail(tail: sp.Expr, event: str, inequality: str) -> tuple[sp.Expr, Derivation]:
    """Solve ``tail(n) <= delta`` for n, for a tail that decreases in n; return (n_required, steps)."""
    from .cache import cached, from_srepr, package_sources

    def root() -> sp.Expr:
        roots = sp.solve(sp.Eq(tail, delta), n)
        roots = [sp.simplify(r) for r in roots if r.is_real is not False]
        if len(roots) != 1:
            raise RuntimeError(f"expected one root of the tail equation, got {roots}")  # a catalogue bug
        # canonical form: a sum of logarithms over a power of eps, e.g. (ln(2^V - 2) + ln(1/delta)) / (2 eps^2)
        return sp.factor_terms(sp.expand_log(sp.expand(roots[0]), force=True))

    # the solve is the catalogue's slowest step (seconds per process): its answer is kept (:mod:`.cache`),
    # keyed by the tail and every source of the bounds package (the variables' assumptions included)
    derived: list[sp.Expr] = []

    def kept() -> str | None:  # None: a root that from_srepr could not read back is not kept
        derived.append(root())
        text = sp.srepr(derived[0])
        try:
            return text if sp.srepr(from_srepr(text)) == text else None
        except ValueError:
            return None

    text = cached("tail-root", sp.srepr(tail), package_sources(), kept)
    try:
        if derived:
            required = derived[0]
        elif isinstance(text, str):
            required = from_srepr(text)
        else:  # a cached value that is not text (from_srepr refused it with this same error)
            raise ValueError(f"srepr: {type(text).__name__} is not a sympy literal")
    except ValueError:  # a cache file that is not a literal sympy expression: derive it here
        required = root()
    steps = (
        Step(f"{inequality}: {event}", sp.Le(sp.Symbol("P_fail"), tail)),
        Step("require the tail to be at most delta", sp.Le(tail, delta)),
        Step("the tail decreases in n, so it suffices that", sp.Ge(n, required)),
    )
    return required, Derivation(steps)


def larger_root_n_eq_a_log_n_plus_b(a: sp.Expr, b: sp.Expr) -> sp.Expr:
    """The larger solution of n = a ln n + b (a > 0, it exists when b >= a(1 - ln a)): the W_{-1} branch."""
    return -a * sp.LambertW(-sp.exp(-b / a) / a, -1)
