"""CLI pieces of the transformer engine: ``tmt run --engine transformer``, ``tmt inspect``, ``tmt bench``."""
from __future__ import annotations

import json

from ..errors import ToolkitError

_DTYPES = ("float16", "bfloat16", "float32", "float64")


def run_transformer(machine, args) -> int:
    from ..cli import print_run
    from .decode import run
    from .envelope import envelope

    if args.dtype not in _DTYPES:
        raise ToolkitError(f"--dtype {args.dtype!r}: expected one of {', '.join(_DTYPES)}")
    if args.steps > 10 ** 7:
        raise ToolkitError(f"--steps {args.steps}: the transformer engine runs at most 10,000,000 steps "
                           f"(pass --steps explicitly; the reference engine has no such limit)")
    head_range = args.head_range or max(1, min(args.steps, 10 ** 5)) + len(args.tape)
    result = run(machine, args.steps, args.tape, dtype=args.dtype, beta=args.softmax, head_range=head_range).results[0]
    env = envelope(args.dtype, args.steps, head_range, args.softmax, len(args.tape))
    extra = {"engine": "transformer", "dtype": args.dtype, "attention": "hardmax" if args.softmax is None else f"softmax beta={args.softmax:g}",
             "envelope": f"exact for <= {env.max_steps:,} steps at head range +-{head_range}"}
    if args.json:
        print(json.dumps({"machine": str(machine), **result.summary(), "engine": "transformer", "dtype": args.dtype,
                          "softmax_beta": args.softmax, "head_range": head_range, "envelope_steps": env.max_steps}))
    else:
        print_run(result, machine, extra=extra)
    return 0


def cmd_inspect(args) -> int:
    from ..cli import _load
    from .compile import compile_machine
    from .inspect import describe, draw_run

    machine = _load(args)
    cm = compile_machine(machine, args.steps, args.head_range)
    print(describe(cm, show_weights=not args.brief))
    if args.figure:
        path = draw_run(machine, args.steps, args.figure, args.tape, head_range=args.head_range)
        print(f"wrote {path}")
    return 0


def cmd_bench(args) -> int:
    from .bench import bench_transformer

    if args.what != "transformer":
        raise ToolkitError(f"unknown benchmark {args.what!r}: expected 'transformer'")
    if args.steps < 1 or args.batch < 1:
        raise ToolkitError("--steps and --batch must be positive")
    out = bench_transformer(args.steps, args.batch, args.dtype, repeat=args.repeat)
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:28s} {value:,.4g}" if isinstance(value, float) else f"{key:28s} {value}")
    return 0


def register(sub):
    from ..cli import _add_machine_args, _steps

    p = sub.add_parser("inspect", help="print the compiled transformer's dimensions and named weights")
    _add_machine_args(p)
    p.add_argument("--steps", type=_steps, default=100, help="steps the weights are compiled for (sets M)")
    p.add_argument("--head-range", type=int, default=16, help="head cells -R..R the weights cover")
    p.add_argument("--brief", action="store_true", help="dimensions only")
    p.add_argument("--figure", help="FILE.png|.pdf: attention targets and residual stream over the run")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("bench", help="benchmarks (transformer)")
    p.add_argument("what", help="transformer")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--dtype", default="float32", choices=_DTYPES)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)
