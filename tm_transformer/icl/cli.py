"""``tmt icl LEARNER (--examples FILE | --random N) [--m M] [--V V] [--seed S] [--engine transformer|reference] [--json]``.

The examples file is JSON::

    {"examples": [[0, 1], [1, 0], [0, 1]], "query": 0, "m": 2, "V": 2}

``examples``: a list of pairs (context, token) for ``conditional``, (input, label) for ``threshold``;
``query``: the query context / input; ``m`` and ``V`` are optional (``--m`` / ``--V`` override them;
defaults: conditional m = 2, V = 2; threshold m = 8, V = 2). A key given twice is refused.

Exit status: 0 when the answer equals the direct computation (and, with the transformer, the reference
simulator's run), 1 when it does not -- the same with ``--json`` -- and 2 on bad input (one line).
With ``--engine reference``, ``equals_reference`` is null: the run is the reference, nothing is compared.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..errors import ToolkitError
from .learners import LEARNERS, get_learner
from .run import ENGINES, Dataset, check_dataset, random_dataset, run_icl

DEFAULTS = {"conditional": (2, 2), "threshold": (8, 2)}
MAX_RANDOM = 100_000


INT64 = 2 ** 63


def _int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ToolkitError(f"{what}: expected an integer, got {json.dumps(value)}")
    if not -INT64 <= value < INT64:
        shown = str(value)
        shown = shown if len(shown) <= 24 else shown[:20] + f"... ({len(shown)} digits)"
        raise ToolkitError(f"{what}: {shown} is out of range (expected a small integer of the alphabet, 0..m-1 / 0..V-1)")
    return value


def _no_duplicates(pairs: list) -> dict:
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ToolkitError(f"key {key!r} is given twice")
        seen[key] = value
    return seen


def load_examples(path: str) -> tuple[Dataset, int | None, int | None]:
    """(dataset, m or None, V or None) from a JSON examples file; one line naming the first problem."""
    p = Path(path)
    try:
        text = p.read_text()
    except UnicodeDecodeError:
        raise ToolkitError(f"--examples {path}: not a text file (expected JSON)") from None
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise ToolkitError(f"--examples {path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except ToolkitError as exc:
        raise ToolkitError(f"--examples {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise ToolkitError(f"--examples {path}: expected an object {{\"examples\": [[c, y], ...], \"query\": c}}")
    unknown = sorted(set(doc) - {"examples", "query", "m", "V"})
    if unknown:
        raise ToolkitError(f"--examples {path}: unknown field {unknown[0]!r} (expected examples, query, m, V)")
    for key in ("examples", "query"):
        if key not in doc:
            raise ToolkitError(f"--examples {path}: missing field {key!r}")
    if not isinstance(doc["examples"], list):
        raise ToolkitError(f"--examples {path}: 'examples' must be a list of pairs [c, y]")
    pairs = []
    for i, pair in enumerate(doc["examples"]):
        if not isinstance(pair, list) or len(pair) != 2:
            raise ToolkitError(f"--examples {path}: example {i} is {json.dumps(pair)}, expected a pair [c, y]")
        pairs.append([_int(pair[0], f"--examples {path}: example {i}"), _int(pair[1], f"--examples {path}: example {i}")])
    query = _int(doc["query"], f"--examples {path}: query")
    m = _int(doc["m"], f"--examples {path}: field 'm'") if "m" in doc else None
    V = _int(doc["V"], f"--examples {path}: field 'V'") if "V" in doc else None
    return Dataset(np.asarray(pairs, dtype=np.int64).reshape(-1, 2), query), m, V


def cmd_icl(args) -> int:
    learner = get_learner(args.learner)
    m0, V0 = DEFAULTS[learner.name]
    if args.examples is not None:
        data, fm, fV = load_examples(args.examples)
        m, m_from = _pick(args.m, "--m {}", fm, f"field 'm' = {{}} in {args.examples}", m0)
        V, V_from = _pick(args.V, "--V {}", fV, f"field 'V' = {{}} in {args.examples}", V0)
        check_dataset(learner, data, m, V, where=f"--examples {args.examples}: ", names=(m_from, V_from))
    else:
        m, m_from = _pick(args.m, "--m {}", None, "", m0)
        V, V_from = _pick(args.V, "--V {}", None, "", V0)
        learner.check_sizes(m, V, m_from, V_from)
        data = random_dataset(learner, args.random, m, V, np.random.default_rng(args.seed))
    res = run_icl(learner, [data], m, V, engine=args.engine)[0]
    status = 0 if res.equals_direct and res.equals_reference is not False else 1
    if args.json:
        print(json.dumps(res.summary()))
        return status
    what = "counts of each token after the query context" if learner.name == "conditional" else "predicted label"
    extra = ("" if learner.name == "conditional" else f" (learned threshold {res.extra})")
    print(f"learner           {learner.name} (m={m}, V={V}): {learner.description}")
    print(f"examples          {data.n}, query {data.query}")
    print(f"answer            {res.answer}   ({what}){extra}")
    print(f"prediction        {res.prediction}")
    print(f"steps             {res.steps:,}")
    print(f"prompt length     {res.prompt_length:,} tokens")
    print(f"engine            {res.engine}" + (" (float32, every step certified)" if res.engine == "transformer" else ""))
    ref = "n/a (this run is the reference)" if res.equals_reference is None else "yes" if res.equals_reference else "NO"
    print(f"equals reference  {ref}")
    print(f"equals direct     {'yes' if res.equals_direct else 'NO'}")
    return status


def _pick(flag, flag_name: str, field, field_name: str, default: int) -> tuple[int, str]:
    """(value, where it came from): the flag over the file's field over the default."""
    if flag is not None:
        return flag, flag_name
    if field is not None:
        return field, field_name
    return default, flag_name


def _count(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) > MAX_RANDOM:
        raise argparse.ArgumentTypeError(f"expected a number of examples 0..{MAX_RANDOM:,}, got {text!r}")
    return int(text)


def _size(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative seed, got {value}")
    return value


def register(sub):
    p = sub.add_parser("icl", help="run an in-context learner (a Turing machine) on a prompt of examples, in the transformer")
    p.add_argument("learner", choices=list(LEARNERS), help="conditional (next-token counts, C1) | threshold (C3/C4)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--examples", metavar="FILE", help='JSON {"examples": [[c, y], ...], "query": c, "m": M, "V": V}')
    src.add_argument("--random", type=_count, metavar="N", help="N random examples (and a random query)")
    p.add_argument("--m", type=_size, default=None, help="contexts (conditional, default 2) / input values (threshold, default 8)")
    p.add_argument("--V", type=_size, default=None, help="tokens (conditional, default 2); threshold: 2")
    p.add_argument("--seed", type=_seed, default=0, help="seed of --random (default 0)")
    p.add_argument("--engine", choices=list(ENGINES), default="transformer")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_icl)
