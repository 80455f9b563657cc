"""Running checks into a results folder: tidy CSV tables, figures, ``manifest.json``, ``verdicts.json``
and a Markdown report. Everything is written into a temporary folder first and moved into place at the
end, so an interrupted run leaves nothing half-written."""
from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

from .checks import CHECKS, CheckResult
from .manifest import manifest, write_json
from .outdir import STORE, commit, staging_for
from .nstar import LOOK_FRACTION, LOOK_MIN_TRIALS
from .protocol import KAPPA
from .stats import ALPHA

CLAIM_CHECK = {"C1": "contexts", "C2": "sequences", "C3": "halfspaces", "C4": "coin"}
# checks of the toolkit itself (not claims of the paper): their verdict 'fails' means the toolkit
# misbehaved, and `tmt reproduce` / `tmt experiment` exit 1 (a claim's 'fails' is a finding: exit 0)
SELF_CHECKS = {"ICL": "icl"}


def _write_csv(path: Path, rows: list[dict]) -> None:
    rows = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    if not rows:
        path.write_text("")
        return
    keys = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k) for k in keys})


# seconds of each check of a full run on the 2-core CPU (one core's time per check, summed over the worker
# processes' tasks: benchmarks/full_reproduce_manifest.json, 2026-11-27 22:03): only the weights of the overall
# progress bar (their ratios matter)
FULL_SECONDS = {"symbolic": 2, "contexts": 1184, "sequences": 673, "halfspaces": 452, "coin": 8, "transformer": 268,
                "icl": 195}


def _overall_bar(names: list[str], quick: bool, progress: bool):
    """(bar, weights): a bar on a terminal, log lines without one (one per finished check, one every
    TMT_PROGRESS_EVERY s with the ETA), None with --no-progress or TMT_PROGRESS=0 (tm_transformer.progress)."""
    from tm_transformer.progress import overall_bar

    weights = {n: FULL_SECONDS.get(n, 60) / (10 if quick else 1) for n in names}
    bar = overall_bar(max(1, round(sum(weights.values()))), enabled=progress)
    return None if bar is None else (bar, weights)


def _finished(bar, name: str) -> None:
    """Say in a log that check ``name`` is done, with how many of the run's checks are (a bar on a
    terminal shows progress already)."""
    if bar is None or not hasattr(bar[0], "note"):
        return
    lines, weights = bar
    lines.finished = getattr(lines, "finished", 0) + 1
    if lines.finished == len(weights):
        lines.n = lines.total  # the estimated weights are rounded: the last check ends the run at 100%
    lines.note(f"{name} done ({lines.finished}/{len(weights)} checks)")


def run_checks(names: list[str], out: Path, quick: bool, seed: int, progress: bool = True,
               options: dict | None = None, fresh: bool = False, jobs: int = 1, command: str | None = None,
               overwrite: bool = False) -> dict:
    """Run ``names`` into ``out``. Every measured point goes into the point store ``out/.tmt-points.jsonl``
    as soon as it is done (:mod:`experiments.store`), so a re-run after an interruption resumes, and a
    re-run of a finished command only redraws; ``fresh`` ignores the store. Under jax.distributed every
    process runs the checks and process 0 alone writes. ``jobs`` > 1 (the CLI's default: one per core, or
    ``TMT_JOBS``) measures in that many worker processes first (:mod:`experiments.parallel`; one process on a GPU or
    under jax.distributed): the same results. ``command`` (e.g. ``tmt reproduce --quick``) is recorded in the
    folder's marker (:mod:`experiments.outdir`); the replacement rules are checked again when the results
    are committed (``overwrite`` as the command line's --overwrite), as another run may have written there."""
    import tempfile

    from . import distributed, parallel, store

    out = Path(out)
    writes = distributed.writer()
    staging = staging_for(out) if writes else Path(tempfile.mkdtemp(prefix="tmt-process-"))
    if writes and not fresh:
        _recover_store(out)
    asked_fresh = fresh
    jit_dir = None
    workers = writes and parallel.usable(jobs, names, quick, options or {})
    try:
        t0 = time.perf_counter()
        bar = _overall_bar(names, quick, progress)
        timings: dict[str, float] = {}
        whole: dict[str, CheckResult] = {}
        earlier, hits, measured_by_workers, records, wall1 = frozenset(), set(), 0, [], None
        if workers:
            earlier = _prepare_shared_store(out / STORE, fresh)
            fresh = False  # the store is now this run's (emptied above where fresh)

            shares: dict[str, float] = {}  # each check's total task cost, for its share of the bar
            for n, _, c in parallel.tasks(names, quick, options or {}):
                shares[n] = shares.get(n, 0.0) + c

            phase1_end = [t0]

            def on_done(record, cost):
                if record["phase"] == 1:
                    phase1_end[0] = time.perf_counter()
                if bar is not None:
                    if record["phase"] == 2:  # a grid check whole: its last tenth
                        bar[0].update(round(0.1 * bar[1][record["check"]]))
                        _finished(bar, record["check"])
                        return
                    share = shares[record["check"]]
                    grid_part = record["check"] in parallel.GRID_CHECKS  # the rest comes in phase 2
                    bar[0].update(round((0.9 if grid_part else 1.0) * bar[1][record["check"]] * cost / share))
                    if not grid_part:
                        _finished(bar, record["check"])

            jit_dir = tempfile.mkdtemp(prefix="tmt-jit-")
            # phase 1 (grid parts, checks without a grid) and phase 2 (each grid check whole, queued when its
            # last part is done) in one pool of workers
            records = parallel.measure(names, staging, quick, seed, options or {}, out / STORE, earlier, jobs, on_done,
                                       cache_dir=jit_dir)
            wall1 = round(phase1_end[0] - t0, 1)
            for r in records:
                timings[r["check"]] = round(timings.get(r["check"], 0.0) + r["seconds"], 1)
                hits |= r["hits"]
                measured_by_workers += r["measured"]
                if r["result"] is not None:
                    whole[r["check"]] = r["result"]
        with store.opened(out / STORE, fresh=fresh, write=writes, earlier=earlier if workers else None) as points:
            if not distributed.same_everywhere(points.fingerprint()):
                from tm_transformer.errors import ToolkitError

                raise ToolkitError(f"--out {str(out)!r}: the processes see different point stores; give them one "
                                   "shared output folder, or add --fresh")
            results: dict[str, CheckResult] = {}
            for name in names:
                t = time.perf_counter()
                if name in whole:
                    results[name] = whole[name]
                else:
                    results[name] = CHECKS[name](staging, quick=quick, seed=seed,
                                                 progress=bar is not None and not workers,
                                                 **(options or {}).get(name, {}))
                timings[name] = round(timings.get(name, 0.0) + time.perf_counter() - t, 1)
                if bar is not None:
                    bar[0].update(0 if workers else round(bar[1][name]))
                    if name not in whole:
                        _finished(bar, name)
                _write_csv(staging / f"{name}.csv", results[name].rows)
                if results[name].tests:
                    _write_csv(staging / f"{name}_tests.csv", results[name].tests)
            if bar is not None:
                bar[0].close()
            if workers:
                reuse = {"measured": points.measured + measured_by_workers, "reused": len(hits | points.hits),
                         "fresh": asked_fresh, "store": STORE}
            else:
                reuse = {"measured": points.measured, "reused": points.reused, "fresh": fresh, "store": STORE}
            elapsed = time.perf_counter() - t0
            verdicts = []
            for claim, check in {**CLAIM_CHECK, **SELF_CHECKS}.items():
                if check not in results:
                    continue
                vs = [v for v in results[check].verdicts if v.claim == claim]
                main = vs[0]
                entry = main.as_dict()
                entry["evidence"] = [f"{check}.csv", *([f"{check}_tests.csv"] if results[check].tests else []),
                                     *results[check].figures]
                if len(vs) > 1:  # every reading carries the same keys as the primary one
                    entry["other_readings"] = [v.as_dict() for v in vs[1:]]
                verdicts.append(entry)
            config = {"checks": names, "quick": quick, "kappa": KAPPA, "alpha": ALPHA, "options": options or {}}
            man = manifest(config, seed)
            man["seconds"] = {"total": round(elapsed, 1), **timings}
            man["points"] = reuse
            man["processes"] = _processes()
            if workers:
                man["parallel"] = {"jobs": jobs, "phase1_seconds": wall1,
                                   "tasks": [{"check": r["check"], "phase": r.get("phase", 2), "parts": r["parts"],
                                              "seconds": r["seconds"],
                                              "points_measured": r["measured"], "process": r["process"]}
                                             for r in records]}
            write_json(staging / "manifest.json", man)
            write_json(staging / "verdicts.json", verdicts)
            (staging / "report.md").write_text(render(results, verdicts, man))
        if writes:
            if (out / STORE).exists():
                # a copy goes with the results it made; the original stays in OUT until the final rename has
                # succeeded, so a failed commit (a user's file appeared in OUT, an OSError) or a kill between
                # the steps never loses a measured point
                shutil.copy2(out / STORE, staging / STORE)
            commit(staging, out, command, overwrite)  # replaces only tmt's own earlier results; never a user's files
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        if jit_dir is not None:
            shutil.rmtree(jit_dir, ignore_errors=True)
    return {"verdicts": verdicts, "manifest": man, "out": str(out)}


def _prepare_shared_store(path: Path, fresh: bool) -> frozenset:
    """Before workers append to the store: empty it (``fresh``) or cut a torn last line; returns the digests
    it holds (the points of earlier runs)."""
    from . import store

    if fresh:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        return frozenset()
    store._drop_torn_line(path)
    return frozenset(store.PointStore(path).points) if path.is_file() else frozenset()


def _recover_store(out: Path) -> None:
    """A run killed between commit's two renames (OUT renamed aside, the new folder not yet in place) left
    OUT missing and its store in the aside folder ``.OUT.old-*/results``: copy the newest such store back
    into OUT, so the re-run resumes from it."""
    if out.exists():
        return
    aside = sorted(out.absolute().parent.glob(f".{out.absolute().name}.old-*/results/{STORE}"),
                   key=lambda p: p.stat().st_mtime)
    if aside:
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy2(aside[-1], out / STORE)


def _processes() -> dict:
    import jax

    return {"count": jax.process_count(), "devices": jax.device_count(), "local_devices": jax.local_device_count()}


def _fmt(x):
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def _why_section(verdicts: list) -> list[str]:
    """Per claim and reading: the argument, the learners and targets it rests on, C_needed and its trend."""
    lines = ["", "## Why, for every constant", ""]
    for v in verdicts:
        for r in [v] + v.get("other_readings", []):
            if "argument" not in r:
                continue
            protocol = f" (calibrated protocol: {r['protocol_verdict']})" if r.get("protocol_verdict") else ""
            lines += [f"### {v['claim']}: {r['reading']} -- **{r['verdict']}**{protocol}", ""]
            if r.get("decided_by"):
                lines.append(f"- decided by: {r['decided_by']}")
            lines.append(f"- learners: {', '.join(r['learners'])}; targets: {', '.join(map(str, r['targets']))}")
            for a in r["argument"]:
                if a["kind"] == "symbolic":
                    extra = f" (ratio `{a['ratio']}`, limit {a['limit']})" if a.get("role") == "refutes" else ""
                    lines.append(f"- symbolic ({a.get('role')}): {a['statement']}{extra}; bound: `{a['bound_statement']}`, "
                                 f"{a['provenance']}" + (f"; valid for {a['valid_for']}" if a.get("valid_for") else "")
                                 + (f"; proof: {a['proof']}" if a.get("proof") else ""))
                elif a.get("statement"):
                    lines.append(f"- simulation ({a.get('role')}): {a['statement']}")
            for t in r["trend"]:
                lines.append(f"- trend along {t['direction']} at {t['fixed']}: {t['fitted_rate']} -> "
                             f"{'**grows**' if t['grows'] else 'bounded'} (targets {', '.join(t['targets'])}; "
                             f"learners {', '.join(t['learners'])})")
            if r.get("delta_threshold"):
                lines += ["", "The delta below which n = C d/eps is too few (read uniformly in delta): for every learner "
                          "on its worst input distribution, by Ehrenfeucht et al. (min(1/100, exp(-C d/(1 - eps))), valid "
                          "for eps <= 1/8), and for the version-space midpoint on isotropic Gaussian inputs, exactly "
                          "((1 - 2 eps)^n at d = 2; one distribution, so it can fail earlier or later):", "",
                          "| C | d | eps | n = ceil(C d/eps) | every learner, worst distribution, fails below | "
                          "midpoint, Gaussian inputs, fails below |",
                          "|---|---|---|---|---|---|"]
                for t in r["delta_threshold"]:
                    mid = f"{t['midpoint_fails_below']:.3g}" if t["midpoint_fails_below"] is not None else "-"
                    lines.append(f"| {t['C']} | {t['d']} | {t['eps']:g} | {t['n']} | {t['every_learner_fails_below']:.3g} | "
                                 f"{mid} |")
            rows = r["needed_constant"]
            if rows:
                lines += ["", "| params | target | learner | n* | interval | exact | C_needed |", "|---|---|---|---|---|---|---|"]
                for row in rows:
                    hi = row["n_star_hi"] if row["n_star_hi"] is not None else "uncertified"
                    lines.append(f"| {row['params']} | {row['target']} | {row['learner']} | {row['n_star']} | "
                                 f"[{row['n_star_lo']}, {hi}] | {'yes' if row['exact'] else 'no'} | {row['C_needed']:.3g} |")
            lines.append("")
    return lines


def render(results: dict, verdicts: list, man: dict) -> str:
    lines = ["# Inference-time capabilities: the paper's claims checked numerically", "",
             "Claims of Sharma (2025), arXiv 2506.08060, checked against simulated in-context estimators. "
             "A verdict rests on two things that do not depend on a chosen constant: a symbolic argument from `bounds` "
             "(a proven lower bound for every estimator whose ratio to the claim diverges: *fails*; a proven upper "
             "bound under the claim with a stated constant: *holds*) and the measured sample complexity n* (the smallest "
             "n after which *every* n' has failure <= delta; exact where it can be enumerated) divided by the claim's "
             "form, C_needed, whose trend along each direction must agree (growing: fails; bounded: holds). "
             "One rule decides every claim and reading (`experiments.decision`): a failed consistency check (Monte-Carlo "
             "against exact values, n* under a proven upper bound) or evidence that disagrees makes it *inconclusive*. "
             f"The calibrated protocol is kept as a further check: the constant calibrated at the easy end of the grid, "
             f"tested everywhere else at {KAPPA:g}x with exact one-sided binomial tests, Holm-corrected per check at "
             f"level {ALPHA} (column *protocol*). A simulated n* is certified on a scan of fresh trials with "
             f"simultaneous {100 * (1 - ALPHA):g}% Clopper-Pearson intervals; with {LOOK_MIN_TRIALS:,} trials or more "
             f"per scanned n each n is looked at twice (a {LOOK_FRACTION}th of its trials, then all of them only where "
             f"the first look leaves delta undecided; each look at level alpha / (2 x points)), and the search's counts "
             "stop once their failures exceed delta x trials (the search's answer is the same).",
             "", f"Run: {'quick' if man['config']['quick'] else 'full'}, seed {man['seed']}, commit `{man['git_commit']}`, "
             f"{man['device']}, {man['seconds']['total']} s.", "", "## Verdicts", "",
             "| claim | reading | verdict | constant | evidence |", "|---|---|---|---|---|"]
    for v in verdicts:
        rows = [v] + v.get("other_readings", [])
        for r in rows:
            detail = (_fmt(r["constant"]) if r["constant"] is not None else r.get("note", "")) if r["verdict"] == "holds" \
                else "" if not r["failing"] else "; ".join(f["statement"] for f in r["failing"][:3]) \
                if "statement" in r["failing"][0] else (
                f"calibrated C = {_fmt(r['constant'])} fails at " + "; ".join(
                    (f"{f['params']}: exact failure probability {f['rate']:.3g} > delta {f['delta']:g} at n = {f['n']}"
                     if f.get("exact") else
                     f"{f['params']}: rate {f['rate']:.3g} (99% CI {f['ci'][0]:.3g}-{f['ci'][1]:.3g}) > delta {f['delta']:g} at n = {f['n']}")
                    for f in r["failing"][:3]))
            cells = [v["claim"], r["reading"], f"**{r['verdict']}**", detail, ", ".join(v["evidence"][:2])]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += _why_section(verdicts)
    for name, res in results.items():
        lines += ["", f"## {name}", ""]
        if res.summary:
            lines += [res.summary, ""]
        for v in res.verdicts:
            lines.append(f"- {v.claim} ({v.reading}): **{v.verdict}**. {v.note}")
        for fig in res.figures:
            if fig.endswith(".png"):
                lines.append(f"\n![{fig}]({fig})")
        lines += ["", f"Table: `{name}.csv`" + (f", tests: `{name}_tests.csv`" if res.tests else "")]
    lines += ["", "## Reproduce", "", f"`{man['command']}` with the versions in `manifest.json`."]
    return "\n".join(lines) + "\n"
