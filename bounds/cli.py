"""``tmt bounds list|show|eval|compare``."""
from __future__ import annotations

import json
import math
from typing import Any, cast

from tm_transformer.errors import ToolkitError


def _assignments(pairs: list[str], allowed=None, what: str = "", taken=None) -> dict[str, Any]:
    """``var=value`` pairs as a dict; each variable at most once and, when ``allowed`` (sympy symbols) is
    given, only variables in it (``what`` names the bound(s) in the message; ``taken`` maps a variable the
    command fills in itself to the reason)."""
    from .variables import display_name, symbol

    out, seen = {}, {}
    for item in pairs:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ToolkitError(f"argument {item!r}: expected var=value, e.g. eps=0.1")
        sym = symbol(name)
        if sym in seen:
            raise ToolkitError(f"argument {item!r}: {display_name(sym)} is already given as {seen[sym]!r}; "
                               "expected each variable once")
        if taken and sym in taken:
            raise ToolkitError(f"argument {item!r}: {taken[sym]}; leave {display_name(sym)} out")
        if allowed is not None and sym not in allowed:
            names = ", ".join(sorted(display_name(v) for v in allowed)) or "none"
            raise ToolkitError(f"argument {item!r}: {what} {'use' if what.startswith('neither') else 'does not use'} "
                               f"{display_name(sym)}; expected {names}")
        seen[sym] = item
        try:
            out[name] = float(value)
        except ValueError:
            raise ToolkitError(f"argument {item!r}: value {value!r} is not a number") from None
    return out


def catalogue_rows() -> list[dict]:
    """[{name, kind, summary}] of every catalogue bound. Kept in the derived cache (:mod:`.cache`, keyed by
    the bounds package's sources), so a listing after the first needs no sympy (its import alone is 0.4 s)."""
    from .cache import cached, package_sources

    def rows():
        from . import catalogue

        return [{"name": b.name, "kind": b.kind, "summary": b.summary} for b in catalogue().values()]

    return cast(list[dict], cached("catalogue-list", None, package_sources(), rows))


def cmd_list(args):
    rows = catalogue_rows()
    if args.json:
        print(json.dumps(rows))
    else:
        for r in rows:
            print(f"{r['name']:24s} {r['kind']:6s} {r['summary']}")
    return 0


def _printed(kind: str, args, fields: tuple[str, ...], render) -> int:
    """Print ``render()`` (the command's whole output, a string), kept in the derived cache (:mod:`.cache`)
    under the command's arguments ``fields`` and the bounds package's sources: the same command again
    answers without sympy. A bad input raises from ``render`` and is never kept."""
    from .cache import cached, package_sources

    names = [r["name"] for r in catalogue_rows()]
    if args.name not in names:  # as get() says it, without building the catalogue
        raise ToolkitError(f"unknown bound {args.name!r}: expected one of {', '.join(names)}")
    print(cached(kind, [kind, *(getattr(args, f) for f in fields)], package_sources(), render), end="")
    return 0


def cmd_show(args):
    return _printed("bounds-show", args, ("name", "latex", "json"), lambda: _show_text(args))


def _show_text(args) -> str:
    from . import get

    b = get(args.name)
    if args.latex:
        return f"% {b.name}: {b.summary} ({b.provenance})\n{b.latex()}\n{b.derivation.latex()}\n"
    info = b.describe()
    if args.json:
        info["derivation"] = b.derivation.text()
        return json.dumps(info) + "\n"
    lines = [f"{b.name}: {b.summary}",
             f"  kind        {b.kind}",
             f"  statement   {b.statement()}",
             f"  reading     {b.reading}",
             f"  provenance  {b.provenance}",
             "  variables   " + ", ".join(f"{k} in {v}" for k, v in info["variables"].items())]
    if info["assumptions"]:
        lines.append("  assumes     " + "; ".join(info["assumptions"]))
    lines += ["  derivation", b.derivation.text()]
    return "\n".join(lines) + "\n"


def cmd_eval(args):
    return _printed("bounds-eval", args, ("name", "values", "solve_for", "exact", "json"), lambda: _eval_text(args))


def _eval_text(args) -> str:
    from . import get

    from .variables import n, symbol

    b = get(args.name)
    allowed = set(b.variables)
    if args.solve_for:
        var = symbol(args.solve_for)
        if var not in allowed:
            raise ToolkitError(f"--solve-for {args.solve_for}: bound {b.name!r} does not depend on it; expected "
                               f"one of {', '.join(b.variable_names)}")
        allowed = (allowed - {var}) | {n}
    taken = {var: f"{args.solve_for} is what --solve-for finds"} if args.solve_for else None
    values = _assignments(args.values, allowed, f"bound {b.name!r}", taken)
    if args.solve_for:
        if "n" not in values:
            raise ToolkitError(f"--solve-for {args.solve_for} needs the number of examples as n=...")
        target = values.pop("n")
        value = b.solve_for(args.solve_for, target, **values)
        out = {"bound": b.name, "solve_for": args.solve_for, "n": target, **values, "value": value}
    else:
        value = b.evaluate(exact=args.exact, **values)
        out = {"bound": b.name, **values, "value": float(value.evalf(30)) if args.exact else value}
        if args.exact:
            out["exact"] = str(value)
        if b.quantity == "n" and math.isfinite(out["value"]):
            out["examples"] = math.ceil(out["value"])
    if args.json:
        return json.dumps(out) + "\n"
    what = args.solve_for or b.quantity
    return f"{what} = {out['value']:.10g}" + (f"   (exact: {out['exact']})" if "exact" in out else "") + "\n"


def cmd_compare(args):
    from . import compare, get

    from .variables import symbol

    a, b = get(args.a), get(args.b)
    along = symbol(args.along)
    allowed = (set(a.variables) | set(b.variables)) - {along}
    values = _assignments(args.values, allowed, f"neither {a.name!r} nor {b.name!r}",
                          {along: f"{args.along} is the variable compared along"})
    c = compare(a, b, args.along, **values)
    d = c.as_dict()
    if args.json:
        print(json.dumps(d))
        return 0
    print(f"{c.a} / {c.b} along {c.along}" + (f"  (fixed: {d['fixed']})" if d["fixed"] else ""))
    print(f"  ratio     {d['ratio']}")
    print(f"  limit     {c.along} -> {d['limit_point']}: {d['limit'] if d['limit'] is not None else 'sympy finds none'}"
          + (f"  (= {d['limit_value']:.6g})" if d["limit_value"] is not None else ""))
    if d["fixed"] and (d["a_dominates"] or d["crossings"]):
        print(f"  crossings {', '.join(f'{x:.6g}' for x in d['crossings']) or 'none'}")
        print(f"  {c.a} > {c.b} on " + (", ".join(f"[{lo:.4g}, {hi:.4g}]" for lo, hi in d["a_dominates"]) or "nowhere in the grid"))
    return 0


def register(sub):
    p = sub.add_parser("bounds", help="sample bounds: list, show, evaluate, invert, compare")
    bsub = p.add_subparsers(dest="bounds_command", required=True, parser_class=type(p))
    q = bsub.add_parser("list", help="names and one-line descriptions")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_list)
    q = bsub.add_parser("show", help="statement, assumptions, provenance and derivation")
    q.add_argument("name")
    q.add_argument("--latex", action="store_true")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_show)
    q = bsub.add_parser("eval", help="evaluate (or invert with --solve-for) a bound")
    q.add_argument("name")
    q.add_argument("values", nargs="*", metavar="var=value")
    q.add_argument("--solve-for", metavar="VAR")
    q.add_argument("--exact", action="store_true", help="compute in rationals")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_eval)
    q = bsub.add_parser("compare", help="ratio, limit and dominance region of two bounds")
    q.add_argument("a")
    q.add_argument("b")
    q.add_argument("--along", required=True, metavar="VAR")
    q.add_argument("values", nargs="*", metavar="var=value")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_compare)
