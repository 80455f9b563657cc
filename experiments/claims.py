"""A claim is data: its sympy form, the setting and reading it speaks of, the directions it is checked
along, the proven bounds it is held against, and a grid.

The paper's claims C1-C4 are entries of :data:`CLAIMS`, one per reading; a claim of a user's own is a
:class:`Claim` built the same way (a :class:`~tm_transformer.bounds.Bound` of kind ``order`` with the
free constant ``C``) and goes through the same decision rule (:mod:`experiments.decision`) and report::

    import sympy as sp
    from tm_transformer.bounds import Bound
    from tm_transformer.bounds.variables import C, delta, eps
    from tm_transformer.experiments.claims import Claim, Lower, Upper

    mine = Claim("C4-fast", Bound("C4-fast", "my claim", C / eps * sp.log(1 / delta), "order", "|p_hat - p|",
                                  "my paper"),
                 setting="coin", reading="error > eps", directions=("delta", "eps"),
                 lower=(Lower("coin_lower"),), upper=(Upper("hoeffding", 1.0, {"delta": (0, 0.5)}),),
                 grid={"eps": [0.2, 0.1, 0.05], "delta": [0.1, 0.01]})
    mine.arguments()            # refutations and supports, computed by sympy
    check_claim(mine).verdict   # 'fails': every estimator needs ln(1/(4 delta))/KL(eps) ~ 1/eps^2

Held against a claim:

* :class:`Lower` -- a proven lower bound valid for *every* estimator (under the reading); if its ratio to
  the claim's form diverges along a direction, no constant saves the claim (a refutation);
* :class:`Upper` -- a proven upper bound achieved by *some* estimator; if it sits under the claim's form
  with the stated constant on the whole domain, the claim holds with that constant (a support).

Which one decides, and whether the measurements agree, is :func:`experiments.decision.decide`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from tm_transformer.bounds.bound import Bound
from tm_transformer.bounds.known import get

from .arguments import _caps_from_assumptions as _caps
from .arguments import refutation, support

if TYPE_CHECKING:
    import sympy as sp

INF = float("inf")


@dataclass(frozen=True)
class Lower:
    """A proven lower bound for every estimator (catalogue name or Bound), evaluated with ``fixed``
    substitutions (e.g. V = 2), valid where ``valid`` says."""
    bound: str | Bound
    fixed: tuple = ()        # ((name, value), ...)
    valid: str = ""
    caps: tuple = ()         # ((name, value), ...): delta, eps below these (its validity range; default: read
                             # from the bound's assumptions, e.g. delta < 1/4)
    binds_measured: bool = False  # it binds the measured targets too (their family holds its hard instances),
                                  # so n* >= it is a consistency check; False for worst-case-distribution bounds


@dataclass(frozen=True)
class Upper:
    """A proven upper bound achieved by an estimator: it supports the claim with C = ``constant`` on
    ``domain`` ({name: (lo, hi)}); ``constant=None``: C may depend on the variables that are not
    directions (a fixed-delta reading)."""
    bound: str | Bound
    constant: float | None
    domain: dict
    proof: str = ""
    fixed: tuple = ()


@dataclass(frozen=True)
class Claim:
    """``name``: the claim (C1..C4, or a user's); ``form``: its sympy form with free constant C (catalogue
    name or Bound); ``setting``: the estimation problem (a setting of :func:`experiments.nstar.nstar`);
    ``reading``: how its error and confidence are read (text); ``key``: a short id of the reading;
    ``directions``: the variables along which it is checked (delta, eps, V, m, l, d); ``params``: the grid
    variables of a measured point; ``grid``: {variable: values} for :func:`experiments.check_claim`."""
    name: str
    form: str | Bound
    setting: str
    reading: str
    directions: tuple
    lower: tuple = ()
    upper: tuple = ()
    key: str = "default"
    grid: dict = field(default_factory=dict)
    primary: bool = True

    @property
    def bound(self) -> Bound:
        return self.form if isinstance(self.form, Bound) else get(self.form)

    def f(self, **params) -> float:
        """The claim's form at C = 1 (the n it promises per unit of constant)."""
        names = {s.name for s in cast("set[sp.Symbol]", self.bound.expr.free_symbols)}
        kw = {k: v for k, v in params.items() if k in {"V", "m", "l", "d", "eps", "delta"} and
              {"eps": "epsilon"}.get(k, k) in names}
        return float(self.bound.evaluate(C=1, **kw))

    def lower_consistency(self, rows: list[dict]) -> list[dict]:
        """Consistency: the measured n* (its certified upper end) is at least every lower bound that binds
        the measured targets, at every grid point inside the bound's validity range."""
        from tm_transformer.errors import ToolkitError

        out = []
        for lo in self.lower:
            if not lo.binds_measured:
                continue
            b = lo.bound if isinstance(lo.bound, Bound) else get(lo.bound)
            caps = dict(lo.caps) or _caps(b)
            names = {"epsilon": "eps"}
            bad, checked = [], 0
            for r in rows:
                if any(k in r and r[k] != v for k, v in lo.fixed) or any(r.get(k, 0) >= c for k, c in caps.items()):
                    continue
                kw: dict[str, Any] = {names.get(x.name, x.name): r.get(names.get(x.name, x.name))
                                      for x in cast("set[sp.Symbol]", b.expr.free_symbols)}
                kw.update(dict(lo.fixed))
                if any(v is None for v in kw.values()):
                    continue
                try:
                    L = float(b.evaluate(**kw))
                except (ToolkitError, ValueError):
                    continue
                hi = r["n_star_hi"] if r.get("n_star_hi") is not None else r["n_star"]
                checked += 1
                if hi < L:
                    bad.append((r, L, hi))
            ok = not bad
            out.append({"kind": "simulation", "role": "consistency", "bound": b.name, "points": checked, "ok": ok,
                        "statement": (f"n* is at least the proven lower bound {b.name} at all {checked} points where it "
                                      "applies") if ok else
                                     (f"n* is BELOW the proven lower bound {b.name} at {len(bad)} of {checked} points, e.g. "
                                      f"n*_hi = {bad[0][2]} < {bad[0][1]:.4g} at "
                                      f"{ {k: bad[0][0][k] for k in ('V', 'm', 'l', 'd', 'eps', 'delta') if k in bad[0][0]} }")})
        return out

    def arguments(self) -> list[dict]:
        """Every refutation (lower bound x direction) and support (upper bound) of this claim, computed by
        sympy: the symbolic half of the evidence. Seconds of sympy per claim, the same every time: kept by
        :func:`tm_transformer.bounds.cache.cached`, keyed by every bound's expression, the claim's data and
        the sources that compute them."""
        from pathlib import Path

        from tm_transformer.bounds import cache

        here = Path(__file__).resolve().parent
        sources = [here / "claims.py", here / "arguments.py", *cache.package_sources()]
        return cast("list[dict]", cache.cached("claim-arguments", self._key(), sources, self._arguments))

    def _key(self) -> list:
        """Everything :meth:`arguments` can read: every field of the claim and of each Lower and Upper, a
        bound (a user's Bound or a catalogue name alike) as every one of its own fields, sympy values as
        ``srepr``, mappings in their order."""
        from dataclasses import fields, is_dataclass

        import sympy as sp

        def plain(v):
            if isinstance(v, str) and not isinstance(v, sp.Basic):
                return v
            if isinstance(v, Bound):
                return ["Bound", *[plain(getattr(v, f.name)) for f in fields(v)]]
            if is_dataclass(v) and not isinstance(v, type):
                return [type(v).__name__, *[[f.name, plain(getattr(v, f.name))] for f in fields(v)]]
            if isinstance(v, dict):
                return ["dict", *[[plain(k), plain(x)] for k, x in v.items()]]
            if isinstance(v, (tuple, list)):
                return [type(v).__name__, *[plain(x) for x in v]]
            if isinstance(v, sp.Basic):
                return ["sympy", sp.srepr(v)]
            return [type(v).__name__, repr(v)]

        def bound(b):
            return plain(b if isinstance(b, Bound) else get(b))

        return ["Claim", *[[f.name, plain(getattr(self, f.name))] for f in fields(self) if f.name != "form"],
                ["form", bound(self.form)],
                ["lower", [[bound(lo.bound), plain(lo)] for lo in self.lower]],
                ["upper", [[bound(up.bound), plain(up)] for up in self.upper]]]

    def _arguments(self) -> list[dict]:
        out = []
        for lo in self.lower:
            for direction in self.directions:
                a = refutation(lo.bound, self.bound, direction, dict(lo.fixed), lo.valid, dict(lo.caps))
                out.append(a)
        for up in self.upper:
            a = support(up.bound, self.bound, up.constant, up.domain, list(self.directions), dict(up.fixed))
            if up.proof:
                a["proof"] = up.proof
            out.append(a)
        return out


# ---- the paper's claims, one entry per reading -----------------------------------------------------------
_C1_PROOF = ("with L = ln(m/delta) >= ln 2: union / (m V L / eps^2) = ln(2^V - 2)/(2 V L) + 1/(2 V) <= ln 2/(2 L) + "
             "1/(2 V) <= 1/2 + 1/4; the supremum itself is 0.601, at V = 4, m = 1, delta = 1/2")
_C2_PROOF = ("with A = l ln V >= ln 2 and L = ln(1/delta) >= ln 2: seq_union / (A L / eps^2) = (A + ln 2 + L)/(2 A L) = "
             "1/(2 L) + ln 2/(2 A L) + 1/(2 A) <= 3/(2 ln 2) = 2.164")
_C4_PROOF = "hoeffding / (ln(1/delta)/eps^2) = ln(2/delta)/(2 ln(1/delta)) <= 1 iff delta <= 1/2"
_BH = "eps < 1/2, delta < 1/4 (Bretagnolle-Huber)"
_TVLOW_CAPS = (("delta", 0.75), ("eps", 0.25))

CLAIMS: tuple[Claim, ...] = (
    Claim("C1", "C1", "contexts", "max over the m contexts of TV(in-context, fine-tuned next-token distribution)",
          ("V", "m", "delta", "eps"), key="tv-every-context",
          # binds_measured: the family's two-symbol uniform target is the empirical estimator's hardest coin
          lower=(Lower("contexts_lower", (), _BH + ", contexts allocated evenly", binds_measured=True),),
          upper=(Upper("union_contexts", 0.75, {"V": (2, INF), "m": (1, INF), "delta": (0, 0.5)}, _C1_PROOF),)),
    Claim("C2", "C2", "sequences", "TV over length-l outputs", ("l", "delta", "eps"), key="tv",
          lower=(Lower("tv_outcomes_lower", (("V", 2),), "eps <= 1/4, delta < 3/4, V = 2", _TVLOW_CAPS),
                 Lower("tv_outcomes_lower", (("V", 3),), "eps <= 1/4, delta < 3/4, V = 3", _TVLOW_CAPS),
                 Lower("coin_lower", (), _BH + " (one output of mass 1/2 +- eps)"))),
    Claim("C2", "C2", "sequences", "per-sequence probability error (L-infinity) over length-l outputs",
          ("l", "delta", "eps"), key="linf", primary=False,
          lower=(Lower("coin_lower", (), _BH + " (one output of mass 1/2 +- eps)"),),
          upper=(Upper("seq_union", 2.17, {"V": (2, INF), "l": (1, INF), "delta": (0, 0.5)}, _C2_PROOF),)),
    Claim("C3", "C3", "halfspaces", "0-1 disagreement with the target halfspace, P(err > eps) <= delta uniformly in "
          "delta (PAC)", ("delta", "eps", "d"), key="uniform-delta",
          lower=(Lower("ehkv_lower", (), "eps <= 1/8, delta <= 1/100, any d"),)),
    Claim("C3", "C3", "halfspaces", "0-1 disagreement with the target halfspace, P(err > eps) <= delta at a fixed "
          "delta (C may depend on delta)", ("eps", "d"), key="fixed-delta", primary=False,
          lower=(Lower("ehkv_lower", (), "eps <= 1/8, delta <= 1/100, any d"),),
          upper=(Upper("one_inclusion_markov", None, {"d": (1, INF), "eps": (0, 1)},
                       "E[err] <= d/(n + 1) (Haussler-Littlestone-Warmuth 1994) and Markov: n >= d/(eps delta) - 1 "
                       "suffices, i.e. C = 1/delta"),)),
    Claim("C3", "C3", "halfspaces", "0-1 disagreement with the target halfspace in expectation, E[err] <= eps",
          ("eps", "d"), key="expectation", primary=False,
          upper=(Upper("one_inclusion", 1.0, {"d": (1, INF), "eps": (0, 1)},
                       "E[err] <= d/(n + 1) (Haussler-Littlestone-Warmuth 1994): n >= d/eps - 1 suffices"),)),
    Claim("C4", "C4", "coin", "error of one estimated probability, failure |p_hat - p| > eps (error = eps succeeds)",
          ("delta", "eps"), key="error>eps",
          lower=(Lower("coin_lower", (), _BH, binds_measured=True),),
          upper=(Upper("hoeffding", 1.0, {"delta": (0, 0.5)}, _C4_PROOF),)),
    Claim("C4", "C4", "coin", "error of one estimated probability, failure |p_hat - p| >= eps (error = eps fails)",
          ("delta", "eps"), key="error>=eps", primary=False,
          lower=(Lower("coin_lower", (), _BH, binds_measured=True),),
          upper=(Upper("hoeffding", 1.0, {"delta": (0, 0.5)}, _C4_PROOF + " (Hoeffding bounds P(|p_hat - p| >= eps))"),)),
)


def find(name: str, reading: str = "") -> Claim:
    """The entry of :data:`CLAIMS` for claim ``name`` and reading ``reading`` (its key, or a word of it;
    '' is the claim's primary reading)."""
    from tm_transformer.errors import ToolkitError

    mine = [c for c in CLAIMS if c.name == name]
    if not mine:
        raise ToolkitError(f"claim {name!r}: expected one of {', '.join(sorted({c.name for c in CLAIMS}))}")
    if not reading:
        return next(c for c in mine if c.primary)
    hit = [c for c in mine if c.key == reading] or [c for c in mine if reading in c.key]
    if not hit:
        raise ToolkitError(f"claim {name} reading {reading!r}: expected one of {', '.join(c.key for c in mine)}")
    return hit[0]


def for_claim(name: str, reading: str = "") -> list[dict]:
    """The symbolic arguments of one of the paper's claims (and reading)."""
    return find(name, reading).arguments()
