"""A disk cache for symbolic results: the same sympy computation, from the same inputs, done once.

Deriving the catalogue's tail bounds (``sympy.solve`` + ``simplify``) and a claim's refutations and
supports (limits, scans) costs seconds per process, and gives the same answer every time: a pure function
of its inputs, of the source that computes it and of the versions of sympy, mpmath, numpy and scipy.
:func:`cached` keeps each answer as a JSON file named by a sha256 over all of them, so any change to any
of them is a miss and the answer is computed again; a hit returns exactly what the computation returned
(JSON round trip, checked on write).

The folder is ``TMT_DERIVED_CACHE`` (default ``~/.cache/tm-transformer/derived``; ``0`` turns the cache
off). A folder that cannot be written, a file that cannot be read, or an answer JSON cannot hold, only
costs the computation. A sympy expression is kept as its ``srepr`` and read back by :func:`from_srepr`,
which builds it from an allow-list of sympy classes and literals: never ``eval`` (a cache file is data,
not code).
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable


def folder() -> Path | None:
    """The cache folder, or None when ``TMT_DERIVED_CACHE=0``."""
    value = os.environ.get("TMT_DERIVED_CACHE")
    if value == "0":
        return None
    if value:
        return Path(value)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tm-transformer" / "derived"


def package_sources() -> list[Path]:
    """The bounds package's own source files and the transformer's precision envelope (the catalogue's
    ``tm_precision`` is derived from it): what its derivations (and a claim's arguments, built on them) are
    keyed by, the variables' assumptions included."""
    here = Path(__file__).resolve().parent
    envelope = Path(__file__).resolve().parents[1] / "tm_transformer" / "transformer" / "envelope.py"
    if not envelope.is_file():  # installed: bounds/ is tm_transformer/bounds
        envelope = here.parent / "transformer" / "envelope.py"
    return sorted(here.glob("*.py")) + [envelope]


@lru_cache(maxsize=None)
def _sources_digest(paths: tuple[str, ...]) -> str:
    from importlib import metadata

    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    # the numerical packages the symbolic scans also use (read from metadata: no import of scipy here)
    h = hashlib.sha256(" ".join(f"{p} {version(p)}" for p in ("sympy", "mpmath", "numpy", "scipy")).encode())
    for p in sorted(paths):
        h.update(Path(p).name.encode() + b"\0" + Path(p).read_bytes() + b"\0")
    return h.hexdigest()


def key_digest(kind: str, key, sources: Iterable[Path]) -> str:
    """sha256 over ``kind``, ``key`` (JSON, sorted keys), every source file's name and bytes, and the versions
    of sympy, mpmath, numpy and scipy."""
    text = json.dumps([kind, key], sort_keys=True, separators=(",", ":"))
    src = _sources_digest(tuple(str(Path(s).resolve()) for s in sources))
    return hashlib.sha256((src + "\0" + text).encode()).hexdigest()


def cached(kind: str, key, sources: Iterable[Path], compute: Callable[[], object]):
    """``compute()`` (a JSON value), or its answer from an earlier process with the same ``kind``, ``key``,
    ``sources`` (files whose code computes it) and versions of sympy, mpmath, numpy and scipy."""
    where = folder()
    if where is None:
        return compute()
    path = where / f"{kind}-{key_digest(kind, key, sources)[:32]}.json"
    try:
        return json.loads(path.read_text())["value"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    value = compute()
    try:
        text = json.dumps({"kind": kind, "value": value}, allow_nan=False)
        if json.loads(text)["value"] != value:  # only what JSON keeps exactly is cached
            return value
    except (TypeError, ValueError):
        return value
    try:
        where.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{kind}-", dir=where)
    except OSError:
        return value
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)  # whole or not at all, whatever runs beside it
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    return value


# the sympy classes an ``srepr`` of the catalogue's expressions uses (anything else is refused)
_SYMPY_NAMES = ("Symbol", "Integer", "Rational", "Float", "Add", "Mul", "Pow", "log", "exp", "sqrt", "Max", "Min",
                "LambertW", "pi", "E", "oo", "zoo", "nan", "Abs", "floor", "ceiling", "Le", "Ge", "Lt", "Gt", "Eq")


def from_srepr(text: str) -> Any:
    """The sympy expression whose ``sympy.srepr`` is ``text``, built without ``eval``: calls of the
    allow-listed sympy classes on literals (numbers, strings, booleans, keyword assumptions) only.
    Raises ValueError on anything else."""
    import sympy as sp

    def build(node) -> Any:  # a sympy object or a literal
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool)):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -build(node.operand)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _SYMPY_NAMES:
            fn = getattr(sp, node.func.id, None)
            if fn is None:
                raise ValueError(f"srepr: sympy has no {node.func.id}")
            args = [build(a) for a in node.args]
            kw = {k.arg: build(k.value) for k in node.keywords if k.arg is not None}
            if len(kw) != len(node.keywords):
                raise ValueError("srepr: ** arguments")
            return fn(*args, **kw) if callable(fn) else fn
        if isinstance(node, ast.Name) and node.id in _SYMPY_NAMES and not callable(getattr(sp, node.id, len)):
            return getattr(sp, node.id)
        raise ValueError(f"srepr: {ast.dump(node)[:80]} is not a sympy literal")

    try:
        return build(ast.parse(text, mode="eval").body)
    except (SyntaxError, RecursionError, TypeError, AttributeError, ArithmeticError) as exc:
        raise ValueError(f"srepr: {exc}") from None
