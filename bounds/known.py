"""The catalogue: the paper's claims C1-C4 and the reference bounds of docs/CLAIMS.md, with explicit constants.

Each tail-inequality bound is *derived*: the tail is written down, "tail <= delta" is solved for n by
sympy, and the steps are kept. Theorem-level bounds whose proofs are not a one-line tail (Blumer et al.,
Ehrenfeucht et al.) are stated with their published constants and provenance.
"""
from __future__ import annotations

from typing import cast

import sympy as sp
from sympy.codegen.cfunctions import log1p

from .bound import Bound
from .derivation import Derivation, Step, larger_root_n_eq_a_log_n_plus_b, solve_tail
from .variables import C, R, V, d, delta, eps, l, m, n, p, q

LN2 = sp.log(2)


def _stable_ln_2pow_minus_2(x: sp.Expr) -> sp.Expr:
    """ln(2^x - 2) = x ln 2 + log1p(-2^(1-x)), finite for every large x."""
    return x * LN2 + log1p(-(2 ** (1 - x)))


def _stabilise(expr: sp.Expr, x: sp.Expr) -> sp.Expr:
    return cast(sp.Expr, expr.xreplace({sp.log(2 ** x - 2): _stable_ln_2pow_minus_2(x)}))  # an Expr's terms swapped


def _tail_bound(name, summary, tail, event, inequality, reading, provenance, stable_in=None, assumptions=()):
    expr, derivation = solve_tail(tail, event, inequality)
    stable = _stabilise(expr, stable_in) if stable_in is not None else None
    return Bound(name, summary, expr, "upper", reading, provenance, tuple(assumptions), derivation, stable)


def _stated(name, summary, expr, kind, reading, provenance, note, assumptions=()):
    return Bound(name, summary, expr, kind, reading, provenance, tuple(assumptions),
                 Derivation((Step(note, sp.Ge(n, expr)),)))


def build() -> dict[str, Bound]:
    B: dict[str, Bound] = {}

    def add(b: Bound):
        B[b.name] = b

    # --- the paper's claims, each with a free constant C ----------------------------------------------
    note = "stated in the abstract of Sharma (2025), arXiv 2506.08060, as an order; C is free"
    add(_stated("C1", "claim: text generation over m contexts", C * m * V / eps**2 * sp.log(m / delta), "order",
                "TV between in-context and fine-tuned next-token distribution, every context", "Sharma 2025, C1", note))
    add(_stated("C2", "claim: bounded context, output length l", C * l * sp.log(V) / eps**2 * sp.log(1 / delta),
                "order", "TV over length-l outputs (or per-sequence error; the reading is the experiment's)",
                "Sharma 2025, C2", note))
    add(_stated("C3", "claim: linear classification in dimension d", C * d / eps, "order",
                "0-1 disagreement with the target halfspace", "Sharma 2025, C3", note))
    add(_stated("C4", "claim: linear classification with fixed context", C / eps**2 * sp.log(1 / delta), "order",
                "error of one estimated probability", "Sharma 2025, C4", note))

    # --- derived from tail inequalities ---------------------------------------------------------------
    add(_tail_bound("hoeffding", "one probability (or one classifier's error) to within eps",
                    2 * sp.exp(-2 * n * eps**2), "P(|p_hat - p| >= eps)", "Hoeffding (1963)",
                    "absolute error of one empirical frequency", "Hoeffding 1963"))
    add(_tail_bound("weissman", "discrete distribution over V symbols in TV (empirical estimator)",
                    (2**V - 2) * sp.exp(-2 * n * eps**2), "P(TV(p_hat, p) >= eps)",
                    "Weissman et al. (2003) / Bretagnolle-Huber-Carol L1 inequality",
                    "TV of one next-token distribution", "Weissman, Ordentlich, Seroussi, Verdu, Weinberger 2003",
                    stable_in=V))
    w_m = (2**V - 2) * sp.exp(-2 * (n / m) * eps**2) * m
    union = _tail_bound("union_contexts", "m contexts, n/m examples each, all within eps in TV (union bound)",
                        w_m, "P(some context has TV >= eps), n/m examples per context",
                        "Weissman per context + union bound over m contexts",
                        "TV of the next-token distribution, every one of m contexts",
                        "Weissman et al. 2003 + union bound", stable_in=V)
    add(union)
    # randomly drawn contexts: Chernoff for the rarest context (probability q), then union_contexts at delta/2
    per_context = (sp.log(2**V - 2) + sp.log(2 * m / delta)) / (2 * eps**2)
    chernoff = 8 * sp.log(2 * m / delta) / q
    sampled = sp.Max(2 * per_context / q, chernoff)
    add(Bound("union_contexts_sampled", "m contexts drawn at random (rarest has probability q), all within eps in TV",
              sampled, "upper", "TV of the next-token distribution, every one of m contexts",
              "Chernoff (multiplicative, t = 1/2) + Weissman + union bound",
              ((sp.Le(q * m, 1), "q <= 1/m (q is the smallest context probability)"),),
              Derivation((
                  Step("Chernoff: a context of probability q gets fewer than nq/2 of n draws with probability",
                       sp.Le(sp.Symbol("P_few"), sp.exp(-n * q / 8))),
                  Step("union over m contexts at delta/2", sp.Le(m * sp.exp(-n * q / 8), delta / 2)),
                  Step("each context then needs Weissman at delta/(2m) with nq/2 examples", sp.Ge(n * q / 2, per_context)),
                  Step("so it suffices that", sp.Ge(n, sampled)),
              )), _stabilise(sampled, V)))
    add(_tail_bound("seq_union", "every length-l sequence's probability within eps (union over V^l sequences)",
                    2 * V**l * sp.exp(-2 * n * eps**2), "P(some sequence's probability is off by >= eps)",
                    "Hoeffding per sequence + union bound over V^l sequences",
                    "per-sequence (L-infinity) error over length-l outputs", "Hoeffding 1963 + union bound"))
    W = V**l
    tv_seq_expr, tv_seq_der = solve_tail((2**W - 2) * sp.exp(-2 * n * eps**2), "P(TV over V^l outputs >= eps)",
                                         "Weissman et al. (2003) on the V^l-symbol output alphabet")
    add(Bound("tv_sequences", "the whole distribution of length-l outputs within eps in TV", tv_seq_expr, "upper",
              "TV over length-l outputs", "Weissman et al. 2003 on V^l outcomes", (), tv_seq_der,
              cast(sp.Expr, tv_seq_expr.xreplace({sp.log(2**W - 2): _stable_ln_2pow_minus_2(W)}))))

    # growth-function bound for consistent learners: 2 (2en/d)^d 2^(-eps n/2) <= delta, n = a ln n + b
    a = 2 * d / (eps * LN2)
    b = 2 * (sp.log(2 / delta) + d * sp.log(2 * sp.E / d)) / (eps * LN2)
    vc = larger_root_n_eq_a_log_n_plus_b(a, b)
    add(Bound("vc_consistent", "halfspaces, realizable: any consistent learner (growth-function tail)", vc, "upper",
              "0-1 error of a consistent halfspace", "Vapnik-Chervonenkis / Blumer et al. 1989 (double sample), Sauer",
              ((sp.Ge(b, a * (1 - sp.log(a))), "the tail equation has a root (b >= a(1 - ln a))"),),
              Derivation((
                  Step("double-sample tail with the growth function (2en/d)^d",
                       sp.Le(sp.Symbol("P_fail"), 2 * (2 * sp.E * n / d) ** d * 2 ** (-eps * n / 2))),
                  Step("require it <= delta; taking logs gives n = a ln n + b with",
                       sp.Eq(n, a * sp.log(n) + b)),
                  Step("the larger root (W_{-1} branch of Lambert W)", sp.Ge(n, vc, evaluate=False)),
              )), vc))

    # --- stated with published constants ---------------------------------------------------------------
    add(_stated("behw", "halfspaces, realizable: any consistent learner (explicit constants)",
                sp.Max(4 / eps * sp.log(2 / delta, 2), 8 * d / eps * sp.log(13 / eps, 2)), "upper",
                "0-1 error of a consistent halfspace (VC dimension d)", "Blumer, Ehrenfeucht, Haussler, Warmuth 1989",
                "Theorem 2.1 of Blumer et al. (1989), VC dimension d"))
    add(_stated("ehkv_lower", "halfspaces, realizable: lower bound for every learner",
                sp.Max((1 - eps) / eps * sp.log(1 / delta), (d - 1) / (32 * eps)), "lower",
                "0-1 error, worst case over distributions", "Ehrenfeucht, Haussler, Kearns, Valiant 1989",
                "Theorem of Ehrenfeucht et al. (1989)",
                ((sp.Le(eps, sp.Rational(1, 8)), "eps <= 1/8"), (sp.Le(delta, sp.Rational(1, 100)), "delta <= 1/100"))))
    # every estimator of a distribution over K = V^l outcomes needs more than floor(K/8)/4 examples for
    # TV <= eps (eps <= 1/4) with probability 3/4 (derivation below; a Bayes argument over uniform
    # distributions on K/8 of the outcomes)
    K = V**l
    s_ = sp.Symbol("s")
    tvlow = K / 32 - sp.Rational(1, 4)
    add(Bound("tv_outcomes_lower", "distribution over V^l outcomes in TV: lower bound for every estimator "
              "(valid for eps <= 1/4 and delta < 3/4)", tvlow, "lower",
              "TV over length-l outputs (any estimator), for eps <= 1/4, delta < 3/4",
              "this toolkit: Bayes risk over uniform distributions on s = floor(V^l/8) of the V^l outcomes", (),
              Derivation((
                  Step("prior: S uniform among the s-subsets of the K = V^l outcomes, s = floor(K/8); P_S uniform "
                       "on S. Given n samples with distinct set A (|A| <= n), S \\ A is a uniform (s-|A|)-subset of the "
                       "K - |A| unseen outcomes, so any estimate q has E[q(S \\ A) | samples] <= (s-|A|)/(K-|A|) <= s/K",
                       sp.Le(sp.Symbol("E_q"), s_ / K)),
                  Step("TV(q, P_S) >= P_S(S \\ A) - q(S \\ A) >= 1 - n/s - q(S \\ A); TV <= eps needs "
                       "q(S \\ A) >= t = 1 - n/s - eps, so by Markov", sp.Le(sp.Symbol("P_ok"), (s_ / K) / (1 - n / s_ - eps))),
                  Step("with s/K <= 1/8, n <= s/4 and eps <= 1/4: t >= 1/2 and P(TV > eps) >= 3/4 for some S; so "
                       "delta < 3/4 needs n > floor(K/8)/4 >= K/32 - 1/4", sp.Ge(n, tvlow)),
              ))))
    add(_stated("halfspace_optimal", "halfspaces, realizable: the optimal rate", C * (d + sp.log(1 / delta)) / eps,
                "order", "0-1 error", "Hanneke 2016", "optimal PAC sample complexity Theta((d + ln(1/delta))/eps)"))
    add(_stated("agnostic", "halfspaces, agnostic: the optimal rate", C * (d + sp.log(1 / delta)) / eps**2, "order",
                "excess 0-1 error", "Vapnik-Chervonenkis; Talagrand 1994", "agnostic rate Theta((d + ln(1/delta))/eps^2)"))
    add(_stated("minimax_tv", "discrete distribution in TV: the minimax rate", C * (V + sp.log(1 / delta)) / eps**2,
                "order", "TV of one distribution over V symbols", "folklore; e.g. Canonne 2020",
                "minimax rate Theta((V + ln(1/delta))/eps^2)"))
    kl = 2 * eps * sp.log((1 + 2 * eps) / (1 - 2 * eps))
    coin = sp.log(1 / (4 * delta)) / kl
    add(Bound("coin_lower", "two coins 1/2 +- eps: lower bound for every estimator (Bretagnolle-Huber)", coin, "lower",
              "TV (= error of one probability) between two candidate coins", "Bretagnolle-Huber 1979",
              ((sp.Lt(eps, sp.Rational(1, 2)), "eps < 1/2"), (sp.Lt(delta, sp.Rational(1, 4)), "delta < 1/4")),
              Derivation((
                  Step("Bretagnolle-Huber: telling P0 from P1 with n samples fails with probability",
                       sp.Ge(sp.Symbol("P_fail"), sp.exp(-n * sp.Symbol("KL")) / 4)),
                  Step("KL between Bernoulli(1/2 + eps) and Bernoulli(1/2 - eps)", sp.Eq(sp.Symbol("KL"), kl)),
                  Step("failure <= delta forces (for failure read as error > eps, apply it at eps' > eps, where "
                       "1/2 +- eps' cannot both be within eps' of one estimate, and let eps' -> eps: the bound is "
                       "continuous in eps)", sp.Ge(n, coin)),
              ))))

    # every context is a coin when the target puts its mass on two symbols; contexts allocated evenly get
    # n/m examples each, and the run fails when any one context does: m times Bretagnolle-Huber
    ctx_low = m * coin
    add(Bound("contexts_lower", "m contexts, n/m examples each (evenly allocated): lower bound for every estimator "
              "(Bretagnolle-Huber in one context)", ctx_low, "lower",
              "TV of the next-token distribution, every one of m contexts (any estimator)",
              "Bretagnolle-Huber 1979, in each of m evenly allocated contexts",
              ((sp.Lt(eps, sp.Rational(1, 2)), "eps < 1/2"), (sp.Lt(delta, sp.Rational(1, 4)), "delta < 1/4")),
              Derivation((
                  Step("a context whose next token is 1/2 +- eps on two symbols is a coin: TV = |p_hat - p|, and "
                       "with n/m examples Bretagnolle-Huber needs", sp.Ge(n / m, coin)),
                  Step("the run fails when that one context fails (the other contexts' targets fixed, their "
                       "examples say nothing about it), so", sp.Ge(n, ctx_low)),
              ))))
    # Haussler, Littlestone and Warmuth (1994): the one-inclusion graph learner has E[err] <= d/(n + 1) for
    # VC dimension d (realizable, any distribution); Markov's inequality turns it into a fixed-delta bound
    hlw = d / eps - 1
    add(Bound("one_inclusion", "halfspaces, realizable, in expectation: the one-inclusion graph learner", hlw,
              "upper", "expected 0-1 error (E[err] <= eps)", "Haussler, Littlestone, Warmuth 1994", (),
              Derivation((Step("one-inclusion graph learner (VC dimension d)",
                                sp.Le(sp.Symbol("E_err"), d / (n + 1))),
                          Step("E[err] <= eps when", sp.Ge(n, hlw))))))
    hlw_markov = d / (eps * delta) - 1
    add(Bound("one_inclusion_markov", "halfspaces, realizable, at a fixed delta: the one-inclusion graph learner "
              "with Markov's inequality", hlw_markov, "upper", "0-1 error, P(err > eps) <= delta at a fixed delta",
              "Haussler, Littlestone, Warmuth 1994 + Markov", (),
              Derivation((Step("one-inclusion graph learner", sp.Le(sp.Symbol("E_err"), d / (n + 1))),
                          Step("Markov", sp.Le(sp.Symbol("P_fail"), d / ((n + 1) * eps))),
                          Step("P(err > eps) <= delta when", sp.Ge(n, hlw_markov))))))

    # --- the Turing-machine transformer's precision envelope ------------------------------------------
    from tm_transformer.transformer.envelope import steps_exact_symbolic

    add(Bound("tm_precision", "Turing-machine transformer: steps guaranteed exact (p mantissa bits, head within +-R)",
              steps_exact_symbolic(p, R), "upper", "exact trace of the hand-built transformer (hardmax)",
              "this toolkit, tm_transformer.transformer.envelope",
              (), Derivation((Step("every attention score is an integer of magnitude <= (T+1) D + T <= 2^p "
                                   "(see envelope.py), so runs of T steps are exact when",
                                   sp.Le(sp.Symbol("T"), steps_exact_symbolic(p, R))),)), quantity="T"))
    return B


CATALOGUE: dict[str, Bound] = {}


def catalogue() -> dict[str, Bound]:
    if not CATALOGUE:
        CATALOGUE.update(build())
    return CATALOGUE


def get(name: str) -> Bound:
    from tm_transformer.errors import ToolkitError

    cat = catalogue()
    if name not in cat:
        raise ToolkitError(f"unknown bound {name!r}: expected one of {', '.join(cat)}")
    return cat[name]
