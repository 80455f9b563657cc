"""A run's grid points measured by several worker processes at once, then composed by one.

One process on a CPU keeps its cores busy only part of the time: compilation, the search's Python and the
inversion tables run on one core while the other waits. ``tmt reproduce`` therefore measures in two
phases:

1. **Workers** (one process per core by default, cores / workers host devices each) take *tasks* off a queue, the costliest first:
   a part of a check's grid (contexts by (V, m), sequences by (reading, l), halfspaces by d and the
   learners' comparison), whose n* searches go into the run's point store (:mod:`experiments.store`,
   shared: one ``O_APPEND`` write per point), or a whole check without a grid to split (the transformer,
   ICL, the coin, the symbolic ratios), whose result comes back to the parent.
2. **The grid checks whole**, each taken by the next free worker as soon as its last part is done (before
   any phase-1 task left), as a single process would run them: every n* search is found in the store, so
   what is left is the calibrated claim's test points, the verdicts and the figures; the other workers go
   on with phase 1 meanwhile. The parent then writes the tables, the manifest and the report.

The workers share compiled code through JAX's persistent compilation cache, in a temporary folder of
the run (:func:`share_compiled_code`).

A point is computed by the same code from the same inputs either way, and a trial's result does not
depend on the device count (:mod:`experiments.devices`), so the results equal a one-process run's bit
for bit (tests). An interrupted run resumes from the store as before (losing at most the points in flight,
one per worker); a worker whose parent dies exits. Each worker gets cores / workers host devices.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

# The grid checks' parts and their cost in seconds on the 2-core CPU (measured per (V, m) and (reading, l)
# in the full run of 2026-11-27 21:17; only their order matters: the costliest start first). Quick runs use
# the same parts.
CONTEXT_COST = {(16, 16): 500, (8, 16): 180, (4, 16): 120, (16, 4): 115, (8, 4): 85, (16, 1): 50, (4, 4): 48,
                (8, 1): 37, (4, 1): 22}
SEQUENCE_COST = {("linf", 10): 85, ("tv", 10): 88, ("linf", 9): 46, ("linf", 8): 46, ("tv", 9): 33, ("tv", 8): 29,
                 ("tv", 6): 27, ("tv", 5): 26, ("linf", 7): 24, ("linf", 6): 24}
HALFSPACE_COST = {("d", 3): 215, ("d", 4): 140, ("learners",): 75, ("d", 2): 1}
WHOLE_COST = {"transformer": 265, "icl": 195, "coin": 7, "symbolic": 2}
CHECK_COST = {"sequences": 110, "contexts": 50, "halfspaces": 15}  # phase 2: the test points, measured
SMALL = 45  # parts cheaper than this are grouped into tasks of about this cost
GRID_CHECKS = ("contexts", "sequences", "halfspaces")
KNOWN = (*GRID_CHECKS, *WHOLE_COST)  # the checks a worker can run (others: the parent alone)


def _parts(name: str, quick: bool, options: dict) -> list[tuple[tuple, float]]:
    """(part, cost) of a grid check: the values its ``only`` argument selects by."""
    if name == "contexts":
        Vs, ms = ([2, 3, 8], [1, 4]) if quick else ([2, 3, 4, 8, 16], [1, 4, 16])
        return [((V, m), CONTEXT_COST.get((V, m), 5)) for V in Vs for m in ms]
    if name == "sequences":
        ls = [1, 2, 4, 8] if quick else list(range(1, 11))
        return [((r, l), SEQUENCE_COST.get((r, l), 30)) for r in ("tv", "linf") for l in ls]
    ds = [2] if quick or options.get("learner", "consistent") != "consistent" or options.get("noise") else [2, 3, 4]
    parts: list[tuple[tuple, float]] = [(("d", d), HALFSPACE_COST.get(("d", d), 20)) for d in ds]
    return parts + [(("learners",), HALFSPACE_COST[("learners",)])]


def tasks(names: list[str], quick: bool, options: dict) -> list[tuple[str, tuple | None, float]]:
    """(check, parts or None for the whole check, cost), costliest first; small parts of a check grouped."""
    out = []
    for name in names:
        if name not in GRID_CHECKS:
            out.append((name, None, WHOLE_COST.get(name, 30)))
            continue
        group, cost = [], 0.0
        for part, c in sorted(_parts(name, quick, options.get(name, {})), key=lambda pc: pc[1]):
            if c >= SMALL:
                out.append((name, (part,), c))
                continue
            group.append(part)
            cost += c
            if cost >= SMALL:
                out.append((name, tuple(group), cost))
                group, cost = [], 0.0
        if group:
            out.append((name, tuple(group), cost))
    return sorted(out, key=lambda t: -t[2])


def default_jobs() -> int:
    """Worker processes for a run: ``TMT_JOBS`` if set, else one per core available to this process."""
    want = os.environ.get("TMT_JOBS", "").strip()
    if want:
        if not want.isdecimal() or int(want) < 1:
            from tm_transformer.errors import ToolkitError

            raise ToolkitError(f"TMT_JOBS={want!r}: expected a positive integer number of worker processes")
        return int(want)
    from .devices import cores

    return cores()


def usable(jobs: int, names: list[str], quick: bool, options: dict) -> bool:
    """Whether workers may be used: more than one asked for, at least two tasks (one whole check gains nothing
    from a worker), checks a worker knows, one process (no jax.distributed run, whether started from flags or
    the environment), and the CPU backend (processes would contend for one accelerator's memory)."""
    if jobs <= 1 or not all(n in KNOWN for n in names) or len(tasks(names, quick, options)) < 2:
        return False
    from . import distributed

    import jax

    if distributed.settings() is not None or jax.process_count() > 1:
        return False
    return jax.default_backend() == "cpu"


def _start_worker(parent: int, xla_flags: str, devices: int) -> None:
    """In each worker, before its first JAX computation: its share of the host devices; Ctrl-C is the
    parent's to handle; exit when the parent is gone."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["XLA_FLAGS"] = xla_flags
    os.environ["TMT_HOST_DEVICES"] = str(devices)

    def watch():
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def share_compiled_code(cache_dir: str | None) -> None:
    """Let the workers of a run share compiled executables (JAX's persistent compilation cache, in a
    folder of the run's that is removed at its end): each part of a grid compiles the same few shapes, and
    one worker's compilation then serves the others. An executable is the same code whichever process
    compiled it."""
    if not cache_dir:
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


def _run_task(name: str, parts, staging: str, quick: bool, seed: int, options: dict, store_path: str,
              earlier: frozenset, cache_dir: str | None = None) -> dict:
    from . import store
    from .checks import CHECKS

    share_compiled_code(cache_dir)
    t = time.perf_counter()
    with store.opened(Path(store_path), shared=True, earlier=earlier) as points:
        kw = dict(quick=quick, seed=seed, progress=False, **options)
        if parts is None:
            result = CHECKS[name](Path(staging), **kw)
        else:
            CHECKS[name](Path(staging), only=frozenset(parts), **kw)
            result = None
    return {"check": name, "parts": None if parts is None else [list(p) for p in parts], "result": result,
            "seconds": round(time.perf_counter() - t, 1), "measured": points.measured, "hits": points.hits,
            "process": os.getpid()}


def _worker_flags(devices: int) -> str:
    """XLA_FLAGS for a worker: the parent's, with ``devices`` host devices (the cores shared out evenly)."""
    flags = " ".join(f for f in os.environ.get("XLA_FLAGS", "").split()
                     if "xla_force_host_platform_device_count" not in f)
    return f"{flags} --xla_force_host_platform_device_count={devices}".strip()


def measure(names: list[str], staging: Path, quick: bool, seed: int, options: dict, store_path: Path,
            earlier: frozenset, jobs: int, on_done=None, cache_dir: str | None = None) -> list[dict]:
    """Run :func:`tasks` in ``jobs`` worker processes; returns each task's record (``result``: the
    CheckResult of a whole check, else None; ``phase``: 1 for the tasks of :func:`tasks`, 2 for a grid check
    run whole). A worker that frees up takes a grid check whose parts are all done, whole, first (phase 2:
    its n* are in the store, and what is left -- test points, verdicts, figures -- then overlaps with the
    rest of phase 1), else the costliest phase-1 task left. ``on_done(record, cost)`` is called as each
    finishes."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    queue = [(name, parts, cost, 1) for name, parts, cost in tasks(names, quick, options)]  # costliest first
    parts_left: dict[str, int] = {}  # grid check -> its phase-1 tasks not yet done
    for name, parts, _, _ in queue:
        if parts is not None:
            parts_left[name] = parts_left.get(name, 0) + 1
    ctx = multiprocessing.get_context("spawn")  # never fork a process that has started JAX
    done = []
    workers = min(jobs, len(queue))
    from .devices import cores

    devices = max(1, cores() // workers)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_start_worker,
                               initargs=(os.getpid(), _worker_flags(devices), devices))
    running: dict = {}

    def start_next():
        name, parts, cost, phase = queue.pop(0)
        future = pool.submit(_run_task, name, parts, str(staging), quick, seed, options.get(name, {}), str(store_path),
                             earlier, cache_dir)
        running[future] = (cost, phase)

    try:
        while queue and len(running) < workers:  # one task per worker in flight: the queue decides what is next
            start_next()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for f in finished:
                cost, phase = running.pop(f)
                record = f.result()  # a worker's error is raised here
                record["phase"] = phase
                done.append(record)
                if on_done is not None:
                    on_done(record, cost)
                if record["parts"] is not None:
                    parts_left[record["check"]] -= 1
                    if parts_left[record["check"]] == 0:  # its n* are all in the store: next in line
                        queue.insert(0, (record["check"], None, CHECK_COST.get(record["check"], 30), 2))
            while queue and len(running) < workers:
                start_next()
    except BaseException:
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:  # do not wait for the tasks in flight
            proc.terminate()
        raise
    pool.shutdown(wait=True)
    return done
