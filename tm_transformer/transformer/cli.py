"""CLI pieces of the transformer engine: ``tmt run --engine transformer``, ``tmt export``, ``tmt inspect``,
``tmt bench``."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import ToolkitError
from .envelope import MANTISSA_BITS

_DTYPES = tuple(MANTISSA_BITS)  # float16, bfloat16, float32, float64
MAX_CLI_STEPS = 10 ** 7
DEFAULT_HEAD_RANGE = 1000
EVICT_HEAD_RANGE = 2 ** 15 - 1  # to the halt with the evicting cache: cells -32767..32767 (BB(5) needs 12,289)


def use_compilation_cache() -> None:
    """JAX's persistent compilation cache for the command line (``$TMT_JAX_CACHE``, default
    ``~/.cache/tm-transformer/jax``): a second ``tmt run`` of the same shapes skips XLA compilation.
    Set only by the CLI, never on import."""
    import os

    import jax

    path = os.environ.get("TMT_JAX_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "tm-transformer", "jax")
    try:
        jax.config.update("jax_compilation_cache_dir", path)
    except Exception:  # an old JAX without the option: compile every time
        pass


def _default_head_range(steps: int | None, tape, cache: str = "full") -> int:
    if steps is None:
        return EVICT_HEAD_RANGE if cache == "evict" else DEFAULT_HEAD_RANGE
    return max(1, min(steps, 10 ** 5)) + len(tape)


def exactness(out, env, cache: str = "full") -> str:
    """Which argument made the run exact: the a-priori envelope, or the per-step certificate beyond it."""
    done = int(out.steps.max()) if len(out.steps) else 0
    if cache == "evict":
        return (f"certificate (evicting cache): all {done:,} steps certified, each top score above the runner-up "
                f"by more than twice the {out.dtype} rounding bound of its score")
    if env.within:
        return f"a-priori envelope ({out.limit:,} steps <= {env.max_steps:,}); every step also certified"
    return (f"certificate: all {done:,} steps certified (beyond the a-priori envelope of {env.max_steps:,} "
            f"steps at head range +-{out.head_range})")


def _announcing_cap(bar, total: int, cache: str, dtype: str):
    """Wrap a progress callback so that the step cap is said once the run is under way (after its first
    segment), not before: input the run refuses must stay a one-line error."""
    said = [False]

    def update(done: int):
        if not said[0]:
            import sys

            print(f"tmt: running to the halt or the step cap of {total:,} steps ({cache} cache, {dtype}); "
                  f"pass --steps to stop earlier", file=sys.stderr)
            said[0] = True
        bar(done)

    return update


def run_transformer(machine, args) -> int:
    from ..cli_machines import print_run
    from ..progress import step_bar
    from .decode import run
    from .envelope import envelope

    if args.dtype not in _DTYPES:
        raise ToolkitError(f"--dtype {args.dtype!r}: expected one of {', '.join(_DTYPES)}")
    use_compilation_cache()
    if args.head_range is not None and args.head_range < 1:
        raise ToolkitError(f"--head-range {args.head_range}: expected a positive integer")
    cache = getattr(args, "cache", None) or ("full" if args.softmax is not None else "evict")
    layout = getattr(args, "layout", None) or ("dense" if cache == "evict" else "packed")
    weights = None
    if getattr(args, "weights", None):
        from .weights import load

        weights = load(args.weights)
        if args.head_range is not None and args.head_range != weights.head_range:
            raise ToolkitError(f"--head-range {args.head_range}: the weights in {args.weights} cover +-{weights.head_range}")
        head_range = weights.head_range
    else:
        head_range = args.head_range or _default_head_range(args.steps, args.tape, cache)
    if args.steps is not None:
        cap = MAX_CLI_STEPS
        if cache == "evict" and weights is None:
            from .evict import evict_limit

            cap = max(cap, evict_limit(args.dtype, head_range))
        if args.steps > cap:
            which = (f"the evicting cache's cap in {args.dtype} at head range +-{head_range}" if cap > MAX_CLI_STEPS
                     else "the transformer engine's limit")
            raise ToolkitError(f"--steps {args.steps}: at most {cap:,} steps ({which}; the reference engine has no "
                               f"such limit)")
    to_halt = args.steps is None
    if args.steps is None:  # (to_halt)
        from .envelope import steps_exact

        from .evict import evict_limit

        total = (weights.M - 1 if weights is not None else evict_limit(args.dtype, head_range) if cache == "evict"
                 else steps_exact(MANTISSA_BITS[args.dtype], head_range))
    else:
        total = args.steps
    with step_bar(total, enabled=to_halt and not args.json, unit="step", desc="steps (total = cap)") as bar:
        out = run(machine, args.steps, args.tape, dtype=args.dtype, beta=args.softmax, head_range=head_range,
                  layout=layout, weights=weights, trace=False, cache=cache,
                  progress=_announcing_cap(bar, total, cache, args.dtype) if to_halt else None)
    result = out.result(0)
    slots = None if out.slots is None else int(out.slots[0])  # evicting cache: keys in use at the end
    env = envelope(args.dtype, out.limit, out.head_range, args.softmax, len(args.tape), M=out.M)
    stopped_short = to_halt and not result.halted
    how = exactness(out, env, cache)
    extra = {"engine": "transformer", "dtype": args.dtype, "layout": layout, "cache": cache,
             "attention": "hardmax" if args.softmax is None else f"softmax beta={args.softmax:g}",
             "exact by": how, "scores": f"largest |q|.|k| {float(out.max_partial_sum[0]):,.0f} <= 2^"
                                        f"{env.mantissa_bits}; smallest top-score gap {float(out.min_gap[0]):g}"}
    if cache == "evict":
        from .evict import describe_arithmetic

        extra["scores"] = (f"largest sum |q_e| max|k_e| {float(out.max_partial_sum[0]):,.0f}; smallest top-score gap "
                           f"{float(out.min_gap[0]):,.6g}; scale M {out.M:,}")
        extra["arithmetic"] = describe_arithmetic(args.dtype)
        extra["slots"] = (f"{slots:,} keys in the cache at the end (one per cell written, plus the "
                          f"start token)")
    if weights is not None:
        extra["weights"] = args.weights
    if stopped_short and cache == "evict":
        why = ("the limit the weights were compiled for" if weights is not None else
               "the start token's recency M (D - 1) must fit int32")
        extra["note"] = (f"did not halt within the evicting cache's cap of {out.limit:,} steps ({why}); pass --steps "
                         f"to stop earlier")
    elif stopped_short:
        extra["note"] = (f"stopped at the {args.dtype} certified limit of {out.limit:,} steps without halting "
                         f"(use float64 or a smaller --head-range to go further)")
    if args.json:
        print(json.dumps({"machine": str(machine), **result.summary(), "engine": "transformer", "dtype": args.dtype,
                          "layout": layout, "cache": cache, "softmax_beta": args.softmax, "head_range": out.head_range,
                          "envelope_steps": env.max_steps, "limit": out.limit, "certified": True,
                          "exact_by": "envelope" if env.within and cache == "full" else "certificate",
                          "stopped_short": stopped_short, "slots": slots if cache == "evict" else None,
                          "max_partial_sum": float(out.max_partial_sum[0]), "min_gap": float(out.min_gap[0]),
                          "min_top_weight": float(out.min_top_weight[0]), "weights": getattr(args, "weights", None)}))
    else:
        print_run(result, machine, extra=extra)
    return 0


def cmd_export(args) -> int:
    from ..cli_machines import _load
    from .compile import compile_machine
    from .weights import Weights, save

    machine = _load(args)
    steps = args.steps
    head_range = _default_head_range(steps, args.tape) if args.head_range is None else args.head_range
    if head_range < 1:
        raise ToolkitError(f"--head-range {head_range}: expected a positive integer")
    path = save(Weights.from_compiled(compile_machine(machine, steps, head_range)), args.output)
    print(f"wrote {path} ({machine}, {steps:,} steps, head range +-{head_range})")
    return 0


def cmd_inspect(args) -> int:
    from pathlib import Path

    from ..cli_machines import _load
    from .compile import compile_machine
    from .introspect import describe, draw_run

    machine = _load(args)
    if args.head_range < 1:
        raise ToolkitError(f"--head-range {args.head_range}: expected a positive integer")
    if args.figure and not args.figure.lower().endswith((".png", ".pdf")):
        raise ToolkitError(f"--figure {args.figure!r}: expected a .png or .pdf name")
    if args.figure and not Path(args.figure).absolute().parent.is_dir():  # said before anything is printed
        raise ToolkitError(f"--figure {args.figure!r}: folder {str(Path(args.figure).parent)!r} does not exist; "
                           "create it first")
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
    if args.steps < 1 or args.batch < 1 or args.repeat < 1:
        raise ToolkitError("--steps, --batch and --repeat must be positive")
    use_compilation_cache()
    if args.cache is not None:
        variants = ("baseline", "packed") + (("evict", "evict_single") if args.cache == "evict" else ())
    else:
        variants = ("baseline", "dense", "packed", "evict", "evict_single") if args.layout is None else (
            "baseline", args.layout, "evict", "evict_single")
    naive = args.naive or "auto"
    if args.naive and not Path(args.naive).is_file():
        raise ToolkitError(f"--naive {args.naive}: no such file")
    out = bench_transformer(args.steps, args.batch, args.dtype, repeat=args.repeat, variants=variants,
                            trace=not args.summaries, naive=None if args.no_naive else naive)
    if out["note"]:
        print(f"# {out['note']}", file=sys.stderr)
    elif out["naive"] is None and not args.no_naive:
        print("# the naive decoder (../shared/baselines/naive_decode.py) was not found: no ratios against it; "
              "pass --naive FILE", file=sys.stderr)
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:28s} {value:,.4g}" if isinstance(value, float) else f"{key:28s} {value}")
    return 0


def register(sub):
    from ..cli_machines import _add_machine_args, _steps

    p = sub.add_parser("export", help="write the compiled transformer's named weights to a safetensors file")
    _add_machine_args(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE.safetensors")
    p.add_argument("--steps", type=_steps, default=10_000, help="steps the weights are compiled for (sets M)")
    p.add_argument("--head-range", type=int, default=None, metavar="R",
                   help="head cells -R..R the weights cover (default: the step limit)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("inspect", help="print the compiled transformer's dimensions, transition table and named weights")
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
    p.add_argument("--layout", choices=["dense", "packed"], default=None,
                   help="time this layout against the baseline (default: both)")
    p.add_argument("--cache", choices=["evict", "full"], default=None,
                   help="time the evicting cache (the default decode, batched and single) or only the full "
                        "cache against the baselines (default: both)")
    p.add_argument("--naive", metavar="FILE", default=None,
                   help="the naive decoder to run beside (default: ../shared/baselines/naive_decode.py when present)")
    p.add_argument("--no-naive", action="store_true", help="do not run the naive decoder")
    p.add_argument("--summaries", action="store_true", help="keep summaries only, no (B, T) trace buffers")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)
