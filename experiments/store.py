"""The point store: every measurement kept as soon as it is made, so an interrupted run resumes.

A run of checks opens a store, one JSON line per measured point, in its output folder
(``OUT/.tmt-points.jsonl``). A point is keyed by a digest of everything that determines it: what was
measured (the Monte-Carlo count's setting, sample size, parameters, trials, seed and stream tag; or an
n* search's setting, parameters, learner, targets, trials, seed), and the code version -- a digest of
the sources that compute it (the engine, the n* search, the exact enumerations, the bounds) and of the
JAX and NumPy versions. Re-running the same command finds every point already measured and measures
only the rest; a point whose inputs or code changed has another key and is measured again.

Lines are appended and flushed one at a time, so a crash loses at most the point in flight (a torn
last line is ignored on reading, and cut back to the last newline before the next point is appended). Only the writing process (process 0 of a distributed run) appends.

Several worker processes of one run (:mod:`experiments.parallel`) share the file: each record is one
``write`` to a descriptor opened with ``O_APPEND``, so records from different processes never interleave
(on a local file system; a crash then loses at most one point per worker).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import IO, cast

import numpy as np


# the modules whose sources compute a point (the engine, the n* search, the exact enumerations, the
# statistics) and the bounds package (n*'s horizons and its `exact` flag come from the bounds)
_MODULES = ("montecarlo", "sampling", "settings.base", "settings.coin", "settings.contexts", "settings.sequences",
            "settings.halfspaces", "streams", "reduced", "fair_splits", "tree_counts", "exact", "nstar", "nstar_result",
            "stats", "devices")
_active: "PointStore | None" = None


def source_files() -> list[Path]:
    """The source files hashed into :func:`code_version`: found from the imported modules' ``__file__``
    (never from guessed paths, which differ between a clone, an editable install and a wheel)."""
    import importlib

    import tm_transformer.bounds as bounds

    package = __name__.rpartition(".")[0]
    # the toolkit's modules are source files: each has a __file__
    files = [Path(cast(str, importlib.import_module(f"{package}.{m}").__file__)).resolve() for m in _MODULES]
    files += sorted(Path(bounds.__file__).resolve().parent.rglob("*.py"))
    return files


# the toolkit's modules that only draw (no measurement reads them): a change to a figure redraws, never
# re-measures
PRESENTATION = ("plots.py", "figstyle.py", "figcheck.py")


def toolkit_sources() -> list[Path]:
    """Every source file of the ``tm_transformer`` package proper (the transformer, the simulators, the DSL,
    the formats, the learners, ...; not the :data:`PRESENTATION` modules): what checks 6 and 7 digest, so
    a change anywhere they could reach measures them again (over-inclusion costs a re-measurement,
    omission a stale result)."""
    import tm_transformer

    root = Path(tm_transformer.__file__).resolve().parent
    # bounds/ and experiments/ (links in a checkout, folders when installed) are not the package proper
    return sorted(p for p in root.rglob("*.py") if p.name not in PRESENTATION
                  and p.relative_to(root).parts[0] not in ("bounds", "experiments"))


def digest_files(files: list[Path], root: Path | None = None) -> str:
    """sha256 over the JAX/NumPy versions and each file's name (relative to ``root`` where given) and bytes."""
    import jax

    h = hashlib.sha256(f"jax {jax.__version__} numpy {np.__version__}".encode())
    for f in files:
        name = f.relative_to(root).as_posix() if root is not None else f.name
        h.update(name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


@lru_cache(maxsize=None)
def code_version() -> str:
    """A digest of the sources that compute a point (:func:`source_files`), and of the numerical packages'
    versions."""
    return digest_files(source_files())


def _plain(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, (tuple, set, frozenset)):
        return sorted(o) if isinstance(o, (set, frozenset)) else list(o)
    if hasattr(o, "__array__"):  # a jax array
        return np.asarray(o).tolist()
    raise TypeError(f"not a point key: {type(o).__name__}")


def digest(kind: str, key: dict) -> str:
    text = json.dumps({"kind": kind, "key": key, "code": code_version()}, sort_keys=True, default=_plain)
    return hashlib.sha256(text.encode()).hexdigest()


def _drop_torn_line(path: Path) -> None:
    """Truncate a last line without its newline (a write cut short) back to the last newline, so the next
    appended record starts a line of its own instead of being glued onto the fragment."""
    try:
        with path.open("rb+") as f:
            size = f.seek(0, os.SEEK_END)
            if size == 0:
                return
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return
            keep, pos, step = 0, size, 1 << 16
            while pos > 0:
                start = max(0, pos - step)
                f.seek(start)
                chunk = f.read(pos - start)
                i = chunk.rfind(b"\n")
                if i >= 0:
                    keep = start + i + 1
                    break
                pos = start
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
    except FileNotFoundError:
        return


class PointStore:
    """Points of one output folder. ``fresh``: ignore (and overwrite) what is there; ``write``: append
    new points to the file (False on every process but 0 of a distributed run); ``shared``: other processes
    append to the same file meanwhile (never truncate it; one ``O_APPEND`` write per record); ``earlier``:
    the digests that count as reused when found (default: every point read at opening) -- a run's workers
    pass the points held before the run, so that what another worker measured is not counted as reused."""

    def __init__(self, path: Path, fresh: bool = False, write: bool = True, shared: bool = False,
                 earlier: "set[str] | None" = None):
        self.path, self.write, self.shared = Path(path), write, shared
        self.points: dict[str, object] = {}
        self.reused = self.measured = 0
        self.hits: set[str] = set()  # the earlier points found
        if not fresh and self.path.is_file():
            with self.path.open() as f:
                for line in f:
                    try:
                        rec = json.loads(line)
                        self.points[rec["digest"]] = rec["value"]
                    except (ValueError, KeyError, TypeError):
                        continue  # a torn line from an interrupted write
        self._file, self._mode = None, "w" if fresh else "a"  # opened at the first new point
        self.earlier = set(self.points) if earlier is None else set(earlier)

    def get(self, kind: str, key: dict):
        d = digest(kind, key)
        hit = self.points.get(d)
        if hit is not None and d in self.earlier:
            self.hits.add(d)
        return hit

    def put(self, kind: str, key: dict, value) -> None:
        d = digest(kind, key)
        self.points[d] = value
        if not self.write:
            return
        what = {k: key[k] for k in ("setting", "tag", "n", "params", "learner", "target") if key.get(k) is not None}
        rec = {"digest": d, "kind": kind, "what": what, "value": value, "at": round(time.time(), 1)}
        line = json.dumps(rec, default=_plain) + "\n"
        if self.shared:
            data = line.encode()
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            written = os.write(cast(int, self._file), data)  # shared: a file descriptor (O_APPEND)
            if written != len(data):  # a short write (a full disk): never leave half a record behind others
                raise OSError(f"{self.path}: wrote {written} of {len(data)} bytes of a point")
            os.fsync(self._file)
        else:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                if self._mode == "a":
                    _drop_torn_line(self.path)
                self._file = self.path.open(self._mode)
            file = cast(IO[str], self._file)  # not shared: a text file
            file.write(line)
            file.flush()
            os.fsync(file.fileno())

    def fingerprint(self) -> str:
        """A digest of the keys held (processes of one run must hold the same points)."""
        return hashlib.sha256("\n".join(sorted(self.points)).encode()).hexdigest()[:16]

    def close(self) -> None:
        if self._file is not None:
            if self.shared:
                os.close(cast(int, self._file))
            else:
                cast(IO[str], self._file).close()
            self._file = None


@contextmanager
def opened(path: Path, fresh: bool = False, write: bool = True, shared: bool = False, earlier=None):
    """Make a store the active one (``memo`` uses it) for the duration of a run."""
    global _active
    s = PointStore(path, fresh, write, shared, earlier)
    previous, _active = _active, s
    try:
        yield s
    finally:
        _active = previous
        s.close()


def memo(kind: str, key: dict, compute, encode=lambda v: v, decode=lambda v: v):
    """``compute()``, or the stored value of the point (kind, key) in the active store (none: compute)."""
    s = _active
    if s is None:
        return compute()
    hit = s.get(kind, key)
    if hit is not None:
        s.reused += 1
        return decode(hit)
    value = compute()
    s.measured += 1
    s.put(kind, key, json.loads(json.dumps(encode(value), default=_plain)))
    return value
