"""Publication-quality figures: one style (:mod:`tm_transformer.figstyle`), saved as PDF and PNG side by side.

The figures themselves are drawn by :mod:`tm_transformer.plots` (functions of result tables that return
a Figure, public); this module keeps the checks' helpers :func:`new` and :func:`save`.

No pyplot and no backend choice: :func:`new` makes a matplotlib ``Figure`` (it displays inline in a
notebook and saves under any backend). The style applies from :func:`new` to :func:`save` and the
caller's rcParams are restored when the last open figure is saved, so drawing a check's figures leaves
a notebook's own plots as they were.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Callable, Iterable

from tm_transformer.figstyle import COLOURS, context, style, width_name

__all__ = ["COLOURS", "STYLE", "NSTAR", "new", "save", "save_drawn", "nstar", "halfspace_failures"]  # noqa: F822 (STYLE: __getattr__)

# the checks' n* figures: name -> the check whose table feeds it, the rows it draws (``reading``), and how
# (:func:`tm_transformer.plots.nstar`); ``tmt figures`` redraws them from the same table (experiments.redraw)
NSTAR = {
    "contexts_nstar": dict(check="contexts", claim="C1", x="V", series="m", ref="union_bound",
                           title=r"C1, $n^*$ vs $V$ (hardest target found)"),
    "sequences_nstar_tv": dict(check="sequences", claim="C2", reading="tv", x="l", series="V", ref="tv_bound",
                               title=r"C2 (TV), $n^*$ vs $\ell$"),
    "sequences_nstar_linf": dict(check="sequences", claim="C2", reading="linf", x="l", series="V",
                                 ref="seq_union_bound", title=r"C2 (per sequence), $n^*$ vs $\ell$"),
    "halfspaces_nstar": dict(check="halfspaces", claim="C3", x="delta", series="d", ref="optimal_rate",
                             title=r"C3, $n^*$ vs $\delta$"),
    "coin_nstar": dict(check="coin", claim="C4", x="delta", series="convention", ref="hoeffding_bound",
                       title=r"C4, $n^*$ vs $\delta$ (worst $p$)"),
}


def nstar_rows(name: str, rows: list[dict]) -> list[dict]:
    """The rows of a check's table that the figure ``name`` draws: its reading's, not the learner
    comparison's (``comparison`` rows of halfspaces)."""
    spec = NSTAR[name]
    return [r for r in rows if (spec.get("reading") is None or r.get("reading") == spec["reading"])
            and r.get("comparison") not in (True, "True")]


def nstar(name: str, rows: list[dict], constant=None, calibrated=None, verdict: str = "", **kw):
    """The figure ``name`` of :data:`NSTAR` (:func:`tm_transformer.plots.nstar`) from its check's rows."""
    from tm_transformer import plots

    from .protocol import KAPPA

    spec = {k: v for k, v in NSTAR[name].items() if k not in ("check", "reading")}
    return plots.nstar(nstar_rows(name, rows), constant=constant, calibrated=calibrated, kappa=KAPPA,
                       verdict=verdict, **spec, **kw)


def halfspace_failures(tests: list[dict], protocol_verdict: str, **kw):
    """``halfspaces_failure_vs_delta``: the calibrated C3 at every test point (:func:`tm_transformer.plots.failure_rates`)."""
    from tm_transformer import plots

    from .protocol import KAPPA

    return plots.failure_rates(tests, series=("d", "eps"), ylabel=rf"P(error > $\varepsilon$) at $n$ = {KAPPA:g} $C d/\varepsilon$",
                               title=f"C3, calibrated constant: {protocol_verdict}" if protocol_verdict else "", **kw)


def __getattr__(name):
    if name == "STYLE":  # the style as rcParams (kept for callers of the old module constant)
        return style()
    raise AttributeError(name)


_styled = {"stack": None, "open": 0}


def new(ncols: int = 1, width: float = 3.4, height: float = 2.6):
    """(Figure, row of ``ncols`` axes), ``width`` inches per panel, made in the style."""
    from matplotlib.figure import Figure

    if _styled["stack"] is None:
        stack = ExitStack()
        stack.enter_context(context())
        _styled["stack"] = stack
    _styled["open"] += 1
    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    setattr(fig, "_tmt_styled", True)  # save() closes the style when the last figure made here is saved
    setattr(fig, "_tmt_style", width_name())  # plots.save draws it in the style
    axes = fig.subplots(1, ncols, squeeze=False)
    return fig, axes[0]


def _formats(formats) -> list[str]:
    """``formats``, or by default ``TMT_FIGURE_FORMATS`` (comma-separated), else pdf and png."""
    return list(formats or [f for f in os.environ.get("TMT_FIGURE_FORMATS", "pdf,png").split(",") if f])


def save(fig, out_dir: Path, name: str, formats=None) -> list[str]:
    """Write ``name``.pdf and ``name``.png (or ``formats``; default: ``TMT_FIGURE_FORMATS``, comma-separated,
    else pdf,png) into ``out_dir`` through :func:`tm_transformer.plots.save` (the toolkit's one save: each
    file to a temporary name, then renamed), in the style; ``fig`` is any Figure. Returns the file names."""
    from tm_transformer import plots

    formats = _formats(formats)
    try:
        return [p.name for p in plots.save(fig, Path(out_dir) / name, formats=formats)]
    finally:
        if getattr(fig, "_tmt_styled", False):
            fig._tmt_styled = False
            _styled["open"] = max(0, _styled["open"] - 1)
        if _styled["open"] == 0 and _styled["stack"] is not None:
            _styled["stack"].close()
            _styled["stack"] = None


def _drawing_sources() -> list[Path]:
    """The code every figure of a check is drawn by: this module, the plots, the style and its file."""
    import tm_transformer.figstyle as figstyle
    import tm_transformer.plots as plots

    here = Path(plots.__file__).resolve().parent
    return [Path(__file__).resolve(), Path(plots.__file__).resolve(), Path(figstyle.__file__).resolve(),
            *sorted((here / "styles").glob("*.mplstyle"))]


def _figure_key(name: str, formats: list[str], inputs, sources: Iterable[Path]) -> str | None:
    """sha256 over what the files of the figure ``name`` are a function of: its ``inputs`` (the check's
    numbers), the code that draws them (``sources`` and :func:`_drawing_sources`), the formats, the width
    and the versions of matplotlib and fontTools (and of the numerical packages,
    :func:`tm_transformer.bounds.cache.key_digest`). None: the figure cannot be keyed (inputs JSON cannot
    hold), so it is drawn."""
    from importlib import metadata

    import matplotlib

    from tm_transformer.bounds.cache import key_digest

    def version(pkg):
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    def plain(o):  # numpy arrays and scalars as numbers (every digit); anything else cannot be keyed
        if hasattr(o, "tolist"):
            return o.tolist()
        raise TypeError(type(o).__name__)

    try:
        data = json.dumps(inputs, sort_keys=True, default=plain)
    except (TypeError, ValueError):
        return None
    # the settings in force (a user's matplotlibrc or notebook rcParams show through the style's own keys)
    settings = sorted((k, repr(v)) for k, v in matplotlib.rcParams.items())
    key = [name, formats, width_name(), version("matplotlib"), version("fonttools"), settings, data]
    return key_digest("figure", key, [*_drawing_sources(), *sources])


def save_drawn(out_dir: Path, name: str, draw: Callable[[], object], inputs, sources: Iterable[Path] = (),
               formats=None) -> list[str]:
    """``draw()`` (a Figure) saved as ``name`` by :func:`save` -- or, where an earlier run drew ``name`` from
    the same ``inputs`` (the JSON-able numbers the figure is a function of) with the same code (``sources``:
    the caller's modules; the drawing modules and the style always count) and versions, the files it drew,
    copied: a re-run with nothing changed does not redraw. The files live in the derived cache
    (``TMT_DERIVED_CACHE``, :mod:`tm_transformer.bounds.cache`; ``0`` turns it off), under
    ``figures/<sha256>/``. Always drawn when the figure check is on (``TMT_FIGCHECK=1``) or a
    ``plots.SAVE_HOOKS`` function wants to see the figure. Returns the file names."""
    from tm_transformer import plots
    from tm_transformer.bounds.cache import folder

    formats = [str(f).lower().lstrip(".") for f in _formats(formats)]  # as plots.save names the files
    where = folder()
    key = None
    if where is not None and not plots.SAVE_HOOKS and os.environ.get("TMT_FIGCHECK") != "1":
        key = _figure_key(name, formats, inputs, sources)
    if where is None or key is None:
        return save(draw(), out_dir, name, formats)
    kept = where / "figures" / key[:32]
    files = [f"{name}.{ext}" for ext in formats]
    if _intact(kept, files):
        try:
            return _copy_all(kept, Path(out_dir), files)
        except OSError:
            pass  # an unreadable cache entry only costs the drawing
    written = save(draw(), out_dir, name, formats)
    tmp = None
    try:  # keep a copy: a temporary folder renamed into place, so a reader never sees half an entry
        kept.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=kept.parent))
        for f in written:
            shutil.copyfile(Path(out_dir) / f, tmp / f)
        (tmp / _DIGESTS).write_text(json.dumps({f: _sha256(tmp / f) for f in written}))
        os.replace(tmp, kept)
    except OSError:  # another process kept it first, or it cannot be written: ours is dropped
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return written


_DIGESTS = "sha256.json"  # an entry's file digests: a damaged or truncated copy is drawn again, never served


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _intact(entry: Path, files: list[str]) -> bool:
    """Whether the cache entry holds ``files``, each with the digest recorded when it was kept."""
    try:
        digests = json.loads((entry / _DIGESTS).read_text())
        return all(isinstance(digests, dict) and digests.get(f) == _sha256(entry / f) for f in files)
    except (OSError, ValueError):
        return False


def _copy_all(source: Path, out_dir: Path, files: list[str]) -> list[str]:
    """Copy ``files`` from ``source`` into ``out_dir`` all or nothing (temporary names, then renamed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmps = [out_dir / f".{f}.tmp-copy" for f in files]
    try:
        for f, tmp in zip(files, tmps):
            shutil.copyfile(source / f, tmp)  # a new file (today's time), not the first run's
        for f, tmp in zip(files, tmps):
            os.replace(tmp, out_dir / f)
    finally:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
    return files
