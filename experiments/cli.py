"""``tmt reproduce`` and ``tmt experiment``."""
from __future__ import annotations

import json
from pathlib import Path

from tm_transformer.errors import ToolkitError

ORDER = ["symbolic", "contexts", "sequences", "halfspaces", "coin", "transformer"]


def _print_verdicts(result: dict):
    for v in result["verdicts"]:
        extra = f"C = {v['constant']:.3g}" if v["verdict"] == "holds" else f"fails at {len(v['failing'])} point(s), e.g. {v['failing'][0]['params']}"
        print(f"{v['claim']:3s} {v['verdict']:6s} {extra}   [{v['reading']}]")
        for o in v.get("other_readings", []):
            print(f"    {o['verdict']:6s} under: {o['reading']}")
    print(f"wrote {result['out']}/report.md, verdicts.json, manifest.json ({result['manifest']['seconds']['total']} s)")


def cmd_reproduce(args) -> int:
    from .report import run_checks

    result = run_checks(ORDER, Path(args.out), args.quick, args.seed, progress=not args.no_progress)
    if args.json:
        print(json.dumps(result["verdicts"]))
    else:
        _print_verdicts(result)
    return 0


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
    out = Path(args.out or f"results/{args.name}")
    result = run_checks([args.name], out, not args.full, args.seed, progress=not args.no_progress, options=options)
    if args.json:
        print(json.dumps(result["verdicts"]))
    else:
        _print_verdicts(result)
    return 0


def register(sub):
    p = sub.add_parser("reproduce", help="run every check: report, verdicts.json, figures")
    p.add_argument("--quick", action="store_true", help="small grids (a few minutes), same verdicts")
    p.add_argument("--out", default="results", help="output folder (default: results)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("experiment", help=f"run one check: {', '.join(ORDER)}")
    p.add_argument("name", help=" | ".join(ORDER))
    p.add_argument("--full", action="store_true", help="the full grid (default: quick)")
    p.add_argument("--out", help="output folder (default: results/NAME)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target", choices=["uniform", "dirichlet"], help="contexts: next-token distributions")
    p.add_argument("--random-contexts", action="store_true", help="contexts: draw contexts at random")
    p.add_argument("--learner", choices=["consistent", "perceptron", "midpoint", "gd"],
                   help="halfspaces: consistent (default), perceptron, version-space midpoint (d=2), one GD step")
    p.add_argument("--noise", type=float, help="halfspaces: label flip rate in [0, 0.5) (needs --learner gd)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_experiment)
