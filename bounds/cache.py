"""A disk cache for symbolic results: the same sympy computation, from the same inputs, done once.

Deriving the catalogue's tail bounds (``sympy.solve`` + ``simplify``) and a claim's refutations and
supports (limits, scans) costs seconds per process, and gives the same answer every time: a pure function
of its inputs, of the source that computes it and of sympy's version. :func:`cached` keeps each answer as a
JSON file named by a sha256 over all four, so any change to any of them is a miss and the answer is
computed again; a hit returns exactly what the computation returned (JSON round trip, checked on write).

The folder is ``TMT_DERIVED_CACHE`` (default ``~/.cache/tm-transformer/derived``; ``0`` turns the cache
off). A folder that cannot be written, or a file that cannot be read, only costs the computation.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable


def folder() -> Path | None:
    """The cache folder, or None when ``TMT_DERIVED_CACHE=0``."""
    value = os.environ.get("TMT_DERIVED_CACHE")
    if value == "0":
        return None
    if value:
        return Path(value)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tm-transformer" / "derived"


@lru_cache(maxsize=None)
def _sources_digest(paths: tuple[str, ...]) -> str:
    import sympy

    h = hashlib.sha256(f"sympy {sympy.__version__}".encode())
    for p in sorted(paths):
        h.update(Path(p).name.encode() + b"\0" + Path(p).read_bytes() + b"\0")
    return h.hexdigest()


def key_digest(kind: str, key, sources: Iterable[Path]) -> str:
    """sha256 over ``kind``, ``key`` (JSON, sorted keys), every source file's name and bytes, and sympy's
    version."""
    text = json.dumps([kind, key], sort_keys=True, separators=(",", ":"))
    src = _sources_digest(tuple(str(Path(s).resolve()) for s in sources))
    return hashlib.sha256((src + "\0" + text).encode()).hexdigest()


def cached(kind: str, key, sources: Iterable[Path], compute: Callable[[], object]):
    """``compute()`` (a JSON value), or its answer from an earlier process with the same ``kind``, ``key``,
    ``sources`` (files whose code computes it) and sympy version."""
    where = folder()
    if where is None:
        return compute()
    path = where / f"{kind}-{key_digest(kind, key, sources)[:32]}.json"
    try:
        return json.loads(path.read_text())["value"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    value = compute()
    text = json.dumps({"kind": kind, "value": value})
    if json.loads(text)["value"] != value:  # only what JSON keeps exactly is cached
        return value
    try:
        where.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{kind}-", dir=where)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)  # whole or not at all, whatever runs beside it
    except OSError:
        pass
    return value
