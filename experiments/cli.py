"""``tmt reproduce`` and ``tmt experiment``."""
from __future__ import annotations

import json
import math
from pathlib import Path

from tm_transformer.errors import ToolkitError

from .outdir import check_replace, check_target

ORDER = ["symbolic", "contexts", "sequences", "halfspaces", "coin", "transformer", "icl"]


def _why(v: dict) -> str:
    """The argument a verdict rests on, in one phrase (the decision rule's own sentence where there is one)."""
    if v.get("decided_by"):
        return v["decided_by"]
    sym = [a for a in v.get("argument", []) if a.get("kind") == "symbolic"]
    grows = [t for t in v.get("trend", []) if t["grows"]]
    if v["verdict"] == "fails" and sym:
        a = sym[0]
        rate = f"; simulated C_needed ~ {grows[0]['coordinate']}^{grows[0]['exponent']:.2f}" if grows else ""
        return f"{a['bound']}/{a['claim']} -> {a['limit']} as {a['direction']} -> {a['limit_point']}{rate}"
    if v["verdict"] == "holds" and sym:
        return f"under {sym[0]['bound']} with C = {sym[0]['constant']:.3g}; largest C_needed {v['constant']:.3g}"
    return ""


def _print_verdicts(result: dict):
    for v in result["verdicts"]:
        if v["verdict"] == "holds":
            extra = f"C = {v['constant']:.3g}" if v["constant"] is not None else v.get("note", "")
        elif v["failing"] and "statement" in v["failing"][0]:
            extra = f"fails at {len(v['failing'])} point(s), e.g. {v['failing'][0]['statement']}"
        elif v["failing"]:
            extra = f"fails at {len(v['failing'])} point(s), e.g. {v['failing'][0]['params']}"
        else:
            note = v.get("note", "") if v["claim"] == "ICL" else ""  # "inconclusive (underpowered: ...)"
            extra = note[len(v["verdict"]):].strip() if note.startswith(v["verdict"]) else note
        why = _why(v)
        print(f"{v['claim']:3s} {v['verdict']:6s} {extra}   [{v['reading']}]" + (f"\n    because {why}" if why else ""))
        for o in v.get("other_readings", []):
            print(f"    {o['verdict']:6s} under: {o['reading']}" + (f"\n        because {o['decided_by']}"
                                                                    if o.get("decided_by") else ""))
    print(f"wrote {result['out']}/report.md, verdicts.json, manifest.json ({result['manifest']['seconds']['total']} s)")


def _status(result: dict) -> int:
    """1 when a check of the toolkit itself (report.SELF_CHECKS, e.g. check 7) fails, else 0: a claim of the
    paper that fails is a finding, not an error of the run."""
    from .report import SELF_CHECKS

    return int(any(v["claim"] in SELF_CHECKS and v["verdict"] == "fails" for v in result["verdicts"]))


def _jobs(args) -> int:
    """--jobs, else TMT_JOBS, else one worker process per core (:mod:`experiments.parallel`)."""
    from .parallel import default_jobs

    return getattr(args, "jobs", None) or default_jobs()


def _positive_int(text: str) -> int:
    import argparse

    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _command(args, *words: str) -> list[str]:
    """The words that name a run's results (command, grid, options, seed): what a results folder's marker
    records, and what an experiment's default folder is named after."""
    opts = [("--quick", getattr(args, "quick", False)), ("--full", getattr(args, "full", False)),
            ("--target", getattr(args, "target", None)), ("--random-contexts", getattr(args, "random_contexts", False)),
            ("--learner", getattr(args, "learner", None)), ("--noise", getattr(args, "noise", None)),
            ("--seed", args.seed or None)]
    return list(words) + [w for flag, v in opts if v not in (None, False)
                          for w in ((flag,) if v is True else (flag, f"{v:g}" if isinstance(v, float) else str(v)))]


def _claim(out: Path, command: list[str], args) -> str:
    """Check ``out`` before any work (on every process, before waiting for the others): a user's files
    or another command's results refused (the latter unless --overwrite); say what will be replaced."""
    import sys

    check_target(out)
    text = "tmt " + " ".join(command)
    line = check_replace(out, text, getattr(args, "overwrite", False))
    if line:
        print(line, file=sys.stderr, flush=True)
    return text


def cmd_reproduce(args) -> int:
    if getattr(args, "figure_width", None):  # through the environment, so that worker processes draw at it too
        import os

        before = os.environ.get("TMT_FIGURE_WIDTH")
        os.environ["TMT_FIGURE_WIDTH"] = args.figure_width
        try:
            return _reproduce(args)
        finally:
            os.environ.pop("TMT_FIGURE_WIDTH") if before is None else os.environ.update(TMT_FIGURE_WIDTH=before)
    return _reproduce(args)


def _reproduce(args) -> int:
    from . import distributed
    from .report import run_checks

    command = _claim(Path(args.out), _command(args, "reproduce"), args)
    distributed.start(args)
    with distributed.collective_errors():
        result = run_checks(ORDER, Path(args.out), args.quick, args.seed, progress=not args.no_progress,
                            fresh=args.fresh, jobs=_jobs(args), command=command,
                            overwrite=getattr(args, "overwrite", False))
    if not distributed.writer():
        return _status(result)  # process 0 writes and reports
    if args.json:
        print(json.dumps(result["verdicts"]))
    else:
        _print_verdicts(result)
    return _status(result)


def cmd_experiment(args) -> int:
    from .report import run_checks

    if args.name not in ORDER:
        raise ToolkitError(f"unknown experiment {args.name!r}: expected one of {', '.join(ORDER)}")
    options = {}
    if args.target:
        if args.name != "contexts":
            raise ToolkitError("--target applies to the 'contexts' experiment")
        options["contexts"] = {"target": args.target, "random_allocation": args.random_contexts}
    elif args.random_contexts:
        options["contexts"] = {"random_allocation": True}
    if args.learner:
        if args.name != "halfspaces":
            raise ToolkitError("--learner applies to the 'halfspaces' experiment")
        options["halfspaces"] = {"learner": args.learner}
    if args.noise is not None:
        if args.name != "halfspaces":
            raise ToolkitError("--noise applies to the 'halfspaces' experiment")
        if not 0 <= args.noise < 0.5:
            raise ToolkitError(f"--noise: expected a label flip rate in [0, 0.5), got {args.noise}")
        if args.noise > 0 and args.learner != "gd":
            raise ToolkitError("--noise: labels with noise have no consistent learner; add --learner gd")
        options.setdefault("halfspaces", {})["noise"] = args.noise
    words = _command(args, "experiment", args.name)
    # default: a folder of its own per experiment and options, beside results/ (never inside reproduce's)
    out = Path(args.out or "results-" + "-".join(w.lstrip("-") for w in words[1:]))
    from . import distributed

    command = _claim(out, words, args)
    distributed.start(args)
    with distributed.collective_errors():
        result = run_checks([args.name], out, not args.full, args.seed, progress=not args.no_progress,
                            options=options, fresh=args.fresh, jobs=_jobs(args), command=command,
                            overwrite=getattr(args, "overwrite", False))
    if not distributed.writer():
        return _status(result)  # process 0 writes and reports
    if args.json:
        print(json.dumps(result["verdicts"]))
    else:
        _print_verdicts(result)
    return _status(result)


def _parse_values(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise ToolkitError(f"expected key=value, got {item!r}")
        key, _, value = item.partition("=")
        if key in out:
            raise ToolkitError(f"{key} given twice")
        if key == "reading":
            out[key] = value
            continue
        try:
            out[key] = float(value)
        except ValueError:
            raise ToolkitError(f"{key}={value!r}: expected a number") from None
        if not math.isfinite(out[key]):
            raise ToolkitError(f"{key}={value!r}: expected a finite number")
    return out


NSTAR_VARIABLES = {"coin": ({"eps", "delta"}, {"p"}), "contexts": ({"eps", "delta", "V"}, {"m"}),
                   "sequences": ({"eps", "delta", "l"}, {"V", "reading"}), "halfspaces": ({"eps", "delta"}, {"d"})}


def cmd_nstar(args) -> int:
    from .nstar import LEARNERS, nstar
    from .settings import SETTINGS

    setting = args.setting
    if ":" in setting:  # a user's function, path/to/file.py:f or module:f (experiments.user_setting)
        return _nstar_own(args)
    if setting not in NSTAR_VARIABLES:
        raise ToolkitError(f"nstar: unknown setting {setting!r}: expected one of {', '.join(NSTAR_VARIABLES)}")
    values = _parse_values(args.values)
    required, optional = NSTAR_VARIABLES[setting]
    missing, unknown = required - set(values), set(values) - required - optional
    if missing:
        raise ToolkitError(f"nstar {setting}: missing {', '.join(sorted(missing))} (give key=value)")
    if unknown:
        raise ToolkitError(f"nstar {setting}: unknown variable(s) {', '.join(sorted(unknown))}: expected "
                           f"{', '.join(sorted(required | optional))}")
    for k in ("eps", "delta", "p"):
        if k in values and not 0 < values[k] < 1:
            raise ToolkitError(f"{k}={values[k]:g}: expected a number in (0, 1)")
    for k, lo in (("V", 2), ("m", 1), ("l", 1), ("d", 1)):
        if k in values and (values[k] < lo or not float(values[k]).is_integer()):
            raise ToolkitError(f"{k}={values[k]:g}: expected an integer >= {lo}")
    if values.get("reading", "tv") not in ("tv", "linf"):
        raise ToolkitError(f"reading={values['reading']!r}: expected tv or linf")
    if args.learner and len(SETTINGS[setting].learners) < 2:  # only the halfspaces have a choice
        raise ToolkitError("--learner applies to the 'halfspaces' setting (the others use the empirical estimator)")
    if args.learner and args.learner not in LEARNERS[setting]:
        raise ToolkitError(f"--learner {args.learner!r}: expected one of {', '.join(LEARNERS[setting])}")
    if args.target and args.worst_case:
        raise ToolkitError("--target and --worst-case exclude each other")
    if args.trials is not None and not 100 <= args.trials <= 10 ** 8:
        raise ToolkitError(f"--trials {args.trials}: expected 100 to 100,000,000")
    params = {k: (int(v) if k in ("V", "m", "l", "d") else v) for k, v in values.items()}
    try:  # the setting's own reading of --target and limits of this command
        target = SETTINGS[setting].cli_target(args.target)
        SETTINGS[setting].cli_check(params)
    except ValueError as exc:
        raise ToolkitError(str(exc)) from None
    from . import distributed

    distributed.start(args)
    try:
        with distributed.collective_errors():
            r = nstar(setting, params, learner=args.learner, target=target, worst_case=args.worst_case,
                      trials=args.trials, seed=args.seed)
    except ValueError as exc:
        raise ToolkitError(f"nstar: {exc}") from None
    if not distributed.writer():
        return 0  # process 0 prints
    d = r.as_dict()
    if args.json:
        print(json.dumps(d))
    else:
        interval = f"[{r.n_star_lo}, {r.n_star_hi if r.n_star_hi is not None else 'not certified'}]"
        print(f"n* = {r.n_star} {interval} ({'exact' if r.exact else f'simulated, {_trials_text(r)}'})")
        print(f"  target: {r.target}; learner: {r.learner}")
        print(f"  definition: {r.definition} (horizon {r.horizon}; {r.scan})")
        print(f"  first crossing: {r.first_crossing}; failure at n*: {r.failure_at_n_star:.4g}")
    return 0


def _nstar_own(args) -> int:
    """``tmt nstar file.py:f eps=E delta=D name=value ...``: n* of a user's function f(key, n, **params)."""
    from . import user_setting
    from .nstar import own

    for flag, given in (("--learner", args.learner), ("--target", args.target), ("--worst-case", args.worst_case)):
        if given:
            raise ToolkitError(f"{flag} applies to the built-in settings, not to a function ({args.setting})")
    if args.trials is not None and not 100 <= args.trials <= 10 ** 8:
        raise ToolkitError(f"--trials {args.trials}: expected 100 to 100,000,000")
    values = user_setting.parse_values(args.values)
    eps, delta = values.pop("eps", None), values.pop("delta", None)
    from . import distributed

    distributed.start(args)  # before the user's file runs: its import may start JAX's backends
    f = user_setting.load(args.setting)
    with distributed.collective_errors():
        r = own(f, eps=eps, delta=delta, trials=args.trials, seed=args.seed, **values)
    if not distributed.writer():
        return 0  # process 0 prints
    if args.json:
        print(json.dumps(r.as_dict()))
    else:
        interval = f"[{r.n_star_lo}, {r.n_star_hi if r.n_star_hi is not None else 'not certified'}]"
        print(f"n* = {r.n_star} {interval} ({'exact' if r.exact else f'simulated, {_trials_text(r)}'})")
        print(f"  function: {args.setting}" + (f" at {r.target}" if r.target else "") + f"; failure: error > {r.eps:g}")
        print(f"  definition: {r.definition} (horizon {r.horizon}; {r.scan})")
        print(f"  first crossing: {r.first_crossing}; failure at n*: {r.failure_at_n_star:.4g}")
    return 0


def cmd_figures(args) -> int:
    from .redraw import redraw

    formats = [f.strip().lower() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in ("pdf", "png", "svg")]
    if bad or not formats:
        raise ToolkitError(f"--format {args.format!r}: expected a comma-separated list of pdf, png, svg")
    written = redraw(Path(args.results), args.width, formats)
    print(f"{len(written)} files redrawn in {args.results}: " + ", ".join(sorted({p.stem for p in written})))
    return 0


def _trials_text(r) -> str:
    """The fresh trials per scanned n as the certificate used them (two looks: a quarter, then all where
    undecided) and the trials behind the failure rate at n*."""
    from .nstar import LOOK_FRACTION, LOOK_MIN_TRIALS
    per = (f"{r.trials // LOOK_FRACTION} to {r.trials} fresh trials per n" if r.trials >= LOOK_MIN_TRIALS
           else f"{r.trials} fresh trials per n")
    return per + (f", {r.trials_at_n_star} at n*" if r.trials_at_n_star else "")


def _add_distributed(p) -> None:
    from .distributed import add_arguments

    add_arguments(p)


def register(sub):
    p = sub.add_parser("nstar", help="sample complexity n* of one setting (exact where it can be enumerated)")
    p.add_argument("setting", help="coin | contexts | sequences | halfspaces, or your own function "
                                   "path/to/file.py:f or module:f (f(key, n, **params) -> error; docs/own_setting.md)")
    p.add_argument("values", nargs="*", help="key=value: eps, delta and the setting's sizes (V, m, l, d), as in bounds")
    p.add_argument("--learner", help="halfspaces: midpoint | perceptron | max-margin | gd")
    p.add_argument("--target", help="coin: p; contexts: uniform | near-uniform | skewed | sparse | dirichlet; "
                                    "sequences: uniform | markov | biased | spike")
    p.add_argument("--worst-case", action="store_true", help="the largest n* over the setting's target family")
    p.add_argument("--trials", type=int, help="Monte-Carlo trials per n (simulated settings)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    _add_distributed(p)
    p.set_defaults(func=cmd_nstar)

    p = sub.add_parser("reproduce", help="run every check: report, verdicts.json, figures")
    p.add_argument("--quick", action="store_true", help="small grids (a few minutes), same verdicts")
    p.add_argument("--out", default="results", help="output folder (default: results)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--fresh", action="store_true", help="ignore the points stored in the output folder by earlier runs")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the results of a different command (or with another command's results inside)")
    p.add_argument("--jobs", type=_positive_int, default=None, metavar="N",
                   help="worker processes that measure the grid points (default: TMT_JOBS, else one per core; "
                        "1: this process alone; always one on a GPU or under jax.distributed)")
    p.add_argument("--figure-width", choices=["single", "double"], default=None,
                   help="figures one column (3.5 in, the default) or the text width (7.2 in) wide")
    _add_distributed(p)
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("figures", help="redraw every figure of an earlier run from its tables (measures nothing)")
    p.add_argument("results", metavar="RESULTS_DIR", help="the --out folder of tmt reproduce or tmt experiment")
    p.add_argument("--width", choices=["single", "double"], default=None,
                   help="one column (3.5 in, the default) or the text width (7.2 in)")
    p.add_argument("--format", default="pdf,png", help="comma-separated: pdf, png, svg (default: pdf,png)")
    p.set_defaults(func=cmd_figures)

    p = sub.add_parser("experiment", help=f"run one check: {', '.join(ORDER)}")
    p.add_argument("name", help=" | ".join(ORDER))
    p.add_argument("--full", action="store_true", help="the full grid (default: quick)")
    p.add_argument("--out", help="output folder (default: results-NAME, then the options: e.g. "
                                 "results-halfspaces-full, results-halfspaces-learner-gd-noise-0.1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target", choices=["uniform", "near-uniform", "skewed", "sparse", "dirichlet"],
                   help="contexts: next-token distributions (default: the largest n* over all of them)")
    p.add_argument("--random-contexts", action="store_true", help="contexts: draw contexts at random")
    p.add_argument("--learner", choices=["consistent", "perceptron", "midpoint", "max-margin", "gd"],
                   help="halfspaces: consistent (default), perceptron, version-space midpoint (d=2), one GD step")
    p.add_argument("--noise", type=float, help="halfspaces: label flip rate in [0, 0.5) (needs --learner gd)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--fresh", action="store_true", help="ignore the points stored in the output folder by earlier runs")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the results of a different command (or with another command's results inside)")
    p.add_argument("--jobs", type=_positive_int, default=None, metavar="N",
                   help="worker processes that measure the grid points (default: TMT_JOBS, else one per core; "
                        "1: this process alone; always one on a GPU or under jax.distributed)")
    _add_distributed(p)
    p.set_defaults(func=cmd_experiment)
