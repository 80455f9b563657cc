"""Certified steps/s of the evicting cache against the number of keys it holds, with and without skipping.

    python benchmarks/bench_evict_slots.py [--slots 4096 16384 65536 131072] [--dtype bfloat16] [--out DIR]

One machine, ``1RA1RA`` (it writes a new cell at every step), so a run of T steps ends with T keys in
the cache; at head range 2^17 every run has the same slots, so the points
differ only in how many are in use. Per point the default decode (blocks whose score bound cannot win
are skipped) and the exhaustive pass (``skip=False``: every block in use visited, the path it replaces)
are timed in this process, each compiled and run once first; between consecutive counts T1 < T2 the
rate is (T2 - T1) / (t(T2) - t(T1)), the steps run while the cache grew from T1 to T2 keys (every run's
fixed cost, setup and transfers, cancels). Writes ``evict_slots.json`` and the figure
``evict_slots.pdf``/``.png`` (steps/s against keys in the cache, log-log).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402

from tm_transformer import parse_machine  # noqa: E402
from tm_transformer.provenance import toolkit_commit  # noqa: E402
from tm_transformer.transformer.bench import best_time  # noqa: E402
from tm_transformer.transformer.decode import run  # noqa: E402

MACHINE = "1RA1RA"


def measure(slots: list[int], dtype: str, head_range: int) -> list[dict]:
    """Per pair of consecutive slot counts T1 < T2, the marginal rate (T2 - T1) / (t(T2) - t(T1)): the
    steps run while the cache grew from T1 to T2 keys, free of every run's fixed cost (setup, transfers)."""
    m = parse_machine(MACHINE)
    rows = []
    for skip in (True, False):
        kw = dict(dtype=dtype, cache="evict", layout="dense", head_range=head_range, trace=False, skip=skip)
        times = {T: best_time(lambda: run(m, T, **kw), 1) for T in slots}
        for T1, T2 in zip(slots, slots[1:]):
            rows.append({"keys_from": T1, "keys_to": T2, "skip": skip, "seconds_from": times[T1],
                         "seconds_to": times[T2], "steps_per_s": (T2 - T1) / max(times[T2] - times[T1], 1e-9)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def draw(rows: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    from tm_transformer import figstyle

    with figstyle.context("single"):
        fig = Figure(figsize=(figstyle.ONE_COLUMN, 2.4), layout="constrained")
        ax = fig.add_subplot()
        for i, (skip, name) in enumerate(((True, "blocks skipped (default)"), (False, "every block visited"))):
            pts = sorted(((r["keys_from"] * r["keys_to"]) ** 0.5, r["steps_per_s"]) for r in rows if r["skip"] == skip)
            ax.plot(*zip(*pts), label=name, **figstyle.series(i))
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("keys in the cache (geometric middle of each interval)")
        ax.set_ylabel("certified steps/s")
        ax.legend(loc="lower left", frameon=False)
        for ext in ("pdf", "png"):
            fig.savefig(path.with_suffix(f".{ext}"), dpi=300)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slots", type=int, nargs="+", default=[4096, 16384, 65536, 131072])
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--head-range", type=int, default=2 ** 17)
    ap.add_argument("--out", default="benchmarks")
    args = ap.parse_args(argv)
    if max(args.slots) > args.head_range:
        ap.error(f"--slots up to {max(args.slots)} need --head-range >= that")
    rows = measure(args.slots, args.dtype, args.head_range)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"machine": MACHINE, "dtype": args.dtype, "head_range": args.head_range, "jax": jax.__version__,
            "python": platform.python_version(), "device": str(jax.devices()[0].device_kind),
            "commit": toolkit_commit(), "rows": rows}
    (out / "evict_slots.json").write_text(json.dumps(meta, indent=1))
    draw(rows, out / "evict_slots")
    print(f"wrote {out / 'evict_slots.json'} and evict_slots.pdf/.png")


if __name__ == "__main__":
    main()
