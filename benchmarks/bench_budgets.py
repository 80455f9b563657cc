"""The time budgets the README promises, measured: each command run as a user runs it (a fresh process),
its wall time set against its budget.

    python benchmarks/bench_budgets.py                 # the CLI and the quick run (about 4 min on 2 cores)
    python benchmarks/bench_budgets.py --tests         # also the tests: not-slow and the whole suite (~25 min)

Budgets (issues 26 and 27): ``tmt --version`` and a bad input under 0.5 s; ``tmt reproduce --quick`` within
3 minutes on a quiet 2-core machine, and its re-run with nothing changed (every point read back) in seconds;
``pytest -m "not slow"`` under 5 minutes, the whole suite under 15. A measurement is only as quiet as the
machine: the load average before each command is printed beside it, and a row over budget says so (exit 1)
rather than failing a timed unit test.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TMT = [sys.executable, "-c", "from tm_transformer.cli import main; import sys; sys.exit(main())"]


def timed(argv: list[str], cwd: Path, ok_codes=(0,)) -> float:
    """Wall seconds of ``argv`` in a fresh process; raises if it exits with a code not in ``ok_codes``."""
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds = time.perf_counter() - start
    if done.returncode not in ok_codes:
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
        raise SystemExit(f"{' '.join(argv[3:] if argv[:3] == TMT else argv)} exited {done.returncode}: {last}")
    return seconds


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tests", action="store_true", help="also time the test suite (not-slow, then whole)")
    p.add_argument("--keep", metavar="DIR", help="keep the quick run's results in DIR/r (a new folder)")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="tmt-budgets-")) if args.keep is None else Path(args.keep)
    if args.keep is not None:
        work.mkdir(parents=True)  # a new folder: never mixed with earlier results
    rows = []

    def measure(name, command, budget, **kw):
        load = os.getloadavg()[0]
        seconds = timed(command, **{"cwd": work, **kw})
        rows.append((name, seconds, budget, load))
        print(f"{name:<40} {seconds:9.2f} s  budget {budget:7.1f} s  ratio {seconds / budget:5.2f}  "
              f"load before {load:.1f}", flush=True)

    try:
        measure("tmt --version", TMT + ["--version"], 0.5)
        measure("tmt run (a bad machine: one line, exit 2)", TMT + ["run", "1RB"], 0.5, ok_codes=(2,))
        measure("tmt reproduce --quick", TMT + ["reproduce", "--quick", "--out", "r", "--no-progress"], 180)
        measure("tmt reproduce --quick (re-run, nothing changed)",
                TMT + ["reproduce", "--quick", "--out", "r", "--no-progress"], 30)
        if args.tests:
            pytest = [sys.executable, "-m", "pytest", "-q", "-n", "auto", "--maxprocesses", "4", "-p", "no:cacheprovider"]
            measure('pytest -m "not slow"', pytest + ["-m", "not slow"], 300, cwd=ROOT)
            measure("pytest (the whole suite, as CI runs it)", pytest, 900, cwd=ROOT)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    over = [r for r in rows if r[1] > r[2]]
    print(f"{len(rows) - len(over)} of {len(rows)} within budget"
          + ("" if not over else "; over: " + ", ".join(r[0] for r in over)))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
