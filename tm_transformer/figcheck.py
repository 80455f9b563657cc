"""A figure check that measures (it does not look): matplotlib's renderer gives every artist's box.

    from tm_transformer import figcheck
    problems = figcheck.check_figure(fig)     # [] or named problems, one line each
    figcheck.assert_readable(fig)             # raises FigureProblem listing them
    figcheck.check_pdf(path)                  # [] or "Type 3 fonts" (journals want TrueType, pdf.fonttype 42)

The rules (each problem's text starts with the rule's name):

* ``text-overlap`` -- two visible texts (titles, axis labels, tick labels, legend entries, annotations,
  offset-box texts such as ``AnchoredText``) whose boxes overlap -- a text rotated by an angle that is not
  a multiple of 90 degrees is its rotated rectangle (separating-axis test), not its bounding box;
* ``into-panel`` -- a text or legend of one panel (or of the figure) that runs into another panel's axes
  area;
* ``clipped`` -- a text or legend that reaches past the figure's edge (figures are saved at their own size);
* ``legend-covers-data`` -- a legend box that holds a plotted point, a line vertex or an error bar's end
  (of any panel), that a line or error bar segment crosses, or that a bar (a patch) or a filled band
  (``fill_between``) reaches into; a clipped artist counts only within its axes area;
* ``series-alike`` -- two labelled series of one panel drawn alike (same colour, marker, line style and
  marker fill: a hollow marker is not a filled one);
* ``small-text`` -- a text below :data:`MIN_POINTS` (6 pt) at the saved size. The size checked is the
  text's own font size; sub- and superscripts inside mathtext (``$n^*$``, ``$\\varepsilon_0$``) are drawn
  by matplotlib at 0.7 of it and are not checked separately: they fall below 6 pt (4.9 pt in a 7 pt label
  at single width, 5.6 pt in an 8 pt tick label at double width).

Inset (child) axes are panels too (their texts are checked; an inset on its parent's area is not
"into-panel"). Boxes are in display pixels after one draw (the layout engine has run); a box overlaps
another when they share more than :data:`TOLERANCE_PX` in both directions (touching is not overlapping).
"""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import cast

import numpy as np

from .errors import ToolkitError

MIN_POINTS = 6.0
TOLERANCE_PX = 0.5

__all__ = ["FigureProblem", "check_figure", "assert_readable", "check_pdf", "MIN_POINTS"]


class FigureProblem(ToolkitError, AssertionError):
    """A figure breaks one or more of the rules; the message lists them, one per line (the CLI joins them
    into its one error line)."""


def _overlap(a, b, tol: float = TOLERANCE_PX) -> bool:
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > tol) and (min(a.y1, b.y1) - max(a.y0, b.y0) > tol)


def _corners(text, box, renderer) -> np.ndarray:
    """The four corners (4, 2) of ``text``'s glyph rectangle in display pixels. A text rotated by an angle
    that is not a multiple of 90 degrees is a rotated rectangle: its unrotated width and height, turned by
    the angle about the centre of its axis-aligned box ``box`` (a rotated rectangle's bounding box is
    centred on it, whatever the anchor or rotation mode)."""
    angle = float(text.get_rotation()) % 360.0
    if abs((angle + 45.0) % 90.0 - 45.0) < 1e-6:
        return np.array([[box.x0, box.y0], [box.x1, box.y0], [box.x1, box.y1], [box.x0, box.y1]], float)
    text.set_rotation(0.0)
    try:
        flat = text.get_window_extent(renderer)
    finally:
        text.set_rotation(angle)
    w, h = flat.width / 2, flat.height / 2
    t = np.deg2rad(angle)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    local = np.array([[-w, -h], [w, -h], [w, h], [-w, h]])
    return local @ rot.T + np.array([(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2])


def _separated(P: np.ndarray, Q: np.ndarray, tol: float = TOLERANCE_PX) -> bool:
    """Separating-axis test of two convex quadrilaterals (corners (4, 2), in order): True when some edge
    normal of either separates them, or their projections share at most ``tol``."""
    for poly in (P, Q):
        edges = np.roll(poly, -1, axis=0) - poly
        for e in edges[:2]:                       # a rectangle has two edge directions
            n = np.array([-e[1], e[0]])
            norm = np.hypot(*n)
            if norm == 0:
                continue
            n = n / norm
            a, b = P @ n, Q @ n
            if min(a.max(), b.max()) - max(a.min(), b.min()) <= tol:
                return True
    return False


def _inside(points: np.ndarray, box, tol: float = TOLERANCE_PX) -> np.ndarray:
    return ((points[:, 0] > box.x0 + tol) & (points[:, 0] < box.x1 - tol)
            & (points[:, 1] > box.y0 + tol) & (points[:, 1] < box.y1 - tol))


def _crosses(p: np.ndarray, q: np.ndarray, box, tol: float = TOLERANCE_PX) -> np.ndarray:
    """Whether each segment p[i] -> q[i] passes through the interior of ``box`` (Liang-Barsky clipping)."""
    x0, x1, y0, y1 = box.x0 + tol, box.x1 - tol, box.y0 + tol, box.y1 - tol
    d = q - p
    t0, t1 = np.zeros(len(p)), np.ones(len(p))
    ok = np.ones(len(p), bool)
    for num_lo, num_hi, den in ((p[:, 0] - x0, x1 - p[:, 0], d[:, 0]), (p[:, 1] - y0, y1 - p[:, 1], d[:, 1])):
        with np.errstate(divide="ignore", invalid="ignore"):
            para = den == 0
            ok &= ~(para & ((num_lo < 0) | (num_hi < 0)))
            ta, tb = -num_lo / den, num_hi / den           # entering / leaving parameters
            lo, hi = np.where(den > 0, ta, tb), np.where(den > 0, tb, ta)
            t0 = np.where(para, t0, np.maximum(t0, lo))
            t1 = np.where(para, t1, np.minimum(t1, hi))
    return ok & (t1 - t0 > 1e-9)


def _name(text) -> str:
    s = text.get_text().replace("\n", " ")
    return repr(s if len(s) <= 40 else s[:37] + "...")


def _shown(artist) -> bool:
    return artist.get_visible() and (artist.axes is None or artist.axes.get_visible())


def _same_area(a, b) -> bool:
    """Twin axes share one area: their texts do not run into "another" panel."""
    return a is not None and b is not None and np.allclose(a.bbox.extents, b.bbox.extents)


def _axis_texts(ax) -> list:
    """The texts ``ax`` draws, each once: title(s), axis labels, offset texts, the tick labels it draws,
    annotations; legend texts are collected with their legend."""
    out = [ax.title, ax._left_title, ax._right_title, *ax.texts]
    for axis in (ax.xaxis, ax.yaxis) if ax.axison else ():
        if not axis.get_visible():
            continue
        out += [axis.label, axis.offsetText]
        for tick in axis._update_ticks():  # the ticks drawn (inside the view limits)
            out += [lab for lab, on in ((tick.label1, tick.label1.get_visible()),
                                        (tick.label2, tick.label2.get_visible())) if on]
    return out


def _legends(fig) -> list:
    out = list(fig.legends)
    for sub in fig.subfigs:
        out += _legends(sub)
    return out


def _figure_texts(fig) -> list:
    out = list(fig.texts)
    for t in (getattr(fig, "_suptitle", None), getattr(fig, "_supxlabel", None), getattr(fig, "_supylabel", None)):
        if t is not None:
            out.append(t)
    for sub in fig.subfigs:
        out += _figure_texts(sub)
    return out


def _data_points(ax, renderer):
    """What ``ax`` plots, in display coordinates: (vertices (k, 2), segments [(p, q) each (s, 2)], areas
    [display Path]). A clipped artist (``get_clip_on()``, the default) shows only its part inside the axes
    area: its vertices outside are dropped and its segments cut to the area (``_clip_segments``); an
    unclipped one is drawn whole. Areas are bars and other patches and filled bands (``fill_between``'s
    PolyCollection)."""
    from matplotlib.collections import LineCollection, PathCollection, PolyCollection

    box = ax.bbox
    verts, segs, areas = [], [], []

    def keep(artist, V: np.ndarray | None = None, seg: tuple[np.ndarray, np.ndarray] | None = None):
        clip = artist.get_clip_on()
        if V is not None and len(V):
            V = V[np.isfinite(V).all(axis=1)]
            verts.append(V[_inside(V, box, -TOLERANCE_PX)] if clip else V)
        if seg is not None and len(seg[0]):
            segs.append(_clip_segments(*seg, box) if clip else seg)

    for line in ax.get_lines():
        if not _shown(line):
            continue
        xy = np.asarray(line.get_transform().transform(np.asarray(line.get_xydata(), float)), float)
        finite = np.all(np.isfinite(xy), axis=1)
        if line.get_marker() not in (None, "None", "", " ") or line.get_linestyle() in ("None", "", " "):
            keep(line, V=xy[finite])
        if line.get_linestyle() not in ("None", "", " ") and len(xy) > 1:
            good = finite[:-1] & finite[1:]
            keep(line, seg=(xy[:-1][good], xy[1:][good]))
    for coll in ax.collections:
        if not _shown(coll):
            continue
        if isinstance(coll, PathCollection):
            off = np.asarray(coll.get_offsets(), float)
            if len(off):
                keep(coll, V=np.asarray(coll.get_offset_transform().transform(off), float))
        elif isinstance(coll, LineCollection):
            tr = coll.get_transform()
            for seg in coll.get_segments():
                if len(seg) < 2:
                    continue
                xy = np.asarray(tr.transform(np.asarray(seg, float)), float)
                keep(coll, V=xy[[0, -1]], seg=(xy[:-1], xy[1:]))
        elif isinstance(coll, PolyCollection):
            tr = coll.get_transform()
            areas += [(path.transformed(tr), coll.get_clip_on()) for path in coll.get_paths()
                      if len(np.asarray(path.vertices))]
    for patch in ax.patches:
        if _shown(patch):
            areas.append((patch.get_path().transformed(patch.get_transform()), patch.get_clip_on()))
    V = np.concatenate(verts) if verts else np.zeros((0, 2))
    return V, segs, areas


def _covers_area(box, areas, axbox, tol: float = TOLERANCE_PX) -> int:
    """How many filled areas (display Paths, each with its clip flag) reach into the interior of ``box``
    (for a clipped area, into ``box`` within the axes area ``axbox``)."""
    from matplotlib.transforms import Bbox

    n = 0
    for path, clip in areas:
        b = Bbox.intersection(box, axbox) if clip else box
        if b is None or b.width <= 2 * tol or b.height <= 2 * tol:
            continue
        inner = Bbox.from_extents(b.x0 + tol, b.y0 + tol, b.x1 - tol, b.y1 - tol)
        n += bool(path.intersects_bbox(inner, filled=True))
    return n


def _clip_segments(p: np.ndarray, q: np.ndarray, box) -> tuple:
    """The parts of segments p -> q (each (s, 2), display coordinates) inside ``box`` (Liang-Barsky): a
    line's part beyond the axes limits is not drawn, so no legend can cover it."""
    if not len(p):
        return p, q
    d = q - p
    t0, t1 = np.zeros(len(p)), np.ones(len(p))
    with np.errstate(divide="ignore", invalid="ignore"):
        for k, lo, hi in ((0, box.x0, box.x1), (1, box.y0, box.y1)):
            for num, den in ((p[:, k] - lo, -d[:, k]), (hi - p[:, k], d[:, k])):
                # the constraint den * t <= num
                r = num / den
                parallel = den == 0
                out = parallel & (num < 0)
                t0 = np.where(~parallel & (den < 0), np.maximum(t0, r), t0)
                t1 = np.where(~parallel & (den > 0), np.minimum(t1, r), t1)
                t1 = np.where(out, -1.0, t1)
    keep = t0 <= t1
    return p[keep] + t0[keep, None] * d[keep], p[keep] + t1[keep, None] * d[keep]


def _style_key(artist):
    """(colour, marker, line style, marker fill or edge colour) of a labelled series, or None when it is not a
    series: filled and hollow markers of one colour are told apart."""
    from matplotlib.collections import PathCollection
    from matplotlib.colors import to_hex
    from matplotlib.container import ErrorbarContainer
    from matplotlib.lines import Line2D

    if isinstance(artist, ErrorbarContainer):
        line = artist.lines[0]
        if line is None:
            bars = artist.lines[2]
            # get_colors: an (N, 4) RGBA array (the stubs: one colour or a sequence of them)
            colour = to_hex(bars[0].get_colors()[0]) if bars else None  # pyright: ignore[reportArgumentType]
            return (colour, "None", "None", None)
        artist = line
    if isinstance(artist, Line2D):
        ls = artist.get_linestyle()
        marker = str(artist.get_marker())
        fill = None
        if marker not in ("None", "", " ", "none"):  # a hollow marker is not a filled one of the same colour
            mfc = artist.get_markerfacecolor()
            fill = "none" if isinstance(mfc, str) and mfc.lower() == "none" else to_hex(mfc, keep_alpha=True)
        return (to_hex(artist.get_color(), keep_alpha=True), marker, "None" if ls in ("", " ") else ls, fill)
    if isinstance(artist, PathCollection):
        fc, ec = np.asarray(artist.get_facecolor()), np.asarray(artist.get_edgecolor())  # (N, 4) RGBA arrays
        paths = artist.get_paths()
        shape = tuple(np.round(np.asarray(paths[0].vertices), 3).ravel()) if paths else ()
        face = to_hex(fc[0], keep_alpha=True) if len(fc) else "none"
        edge = to_hex(ec[0], keep_alpha=True) if len(ec) else "none"
        return (face, hash(shape), "None", edge)
    return None


def _series(ax) -> list:
    from matplotlib.container import ErrorbarContainer

    out = []
    in_containers = set()
    for c in ax.containers:
        if isinstance(c, ErrorbarContainer) and not cast(str, c.get_label()).startswith("_"):  # add_container names it
            out.append((c.get_label(), _style_key(c)))
            in_containers |= {id(a) for a in c.get_children()}
    for a in [*ax.get_lines(), *ax.collections]:
        lab = a.get_label()
        if id(a) in in_containers or not lab or lab.startswith("_") or not _shown(a):
            continue
        key = _style_key(a)
        if key is not None:
            out.append((lab, key))
    return out


def _all_axes(fig) -> list:
    """Every visible axes of ``fig``, inset (child) axes after their parent's."""
    out = []

    def add(ax):
        if ax.get_visible() and ax not in out:
            out.append(ax)
            for child in getattr(ax, "child_axes", ()):
                add(child)
    for ax in fig.get_axes():
        add(ax)
    return out


def _parent_of(ax):
    """The axes ``ax`` is an inset (child) of, or None."""
    fig = ax.get_figure(root=True)
    stack = list(fig.get_axes())
    while stack:
        other = stack.pop()
        children = list(getattr(other, "child_axes", ()))
        if ax in children:
            return other
        stack += children
    return None


def _related(a, b) -> bool:
    """One of the axes is an inset (child) of the other, at any depth: the inset sits on its parent's area
    by design."""
    if a is None or b is None:
        return False
    for x, y in ((a, b), (b, a)):
        p = _parent_of(x)
        while p is not None:
            if p is y:
                return True
            p = _parent_of(p)
    return False


def _offsetbox_texts(artists) -> list:
    """The texts inside offset boxes (``AnchoredText``, ``AnnotationBbox``, ...) among ``artists``."""
    from matplotlib.offsetbox import AnchoredOffsetbox, AnnotationBbox, OffsetBox
    from matplotlib.text import Text

    out = []
    for a in artists:
        if isinstance(a, (AnchoredOffsetbox, AnnotationBbox, OffsetBox)) and a.get_visible():
            out += [t for t in a.findobj(Text) if t is not a and t.get_visible()]
    return out


def check_figure(fig) -> list[str]:
    """The named problems of ``fig`` (a matplotlib Figure), one line each; ``[]`` when it passes every rule.

    The figure is drawn once (without rendering: the layout engine runs) in the rcParams in effect when it
    is called (no style is applied here: check a toolkit-styled figure inside
    :func:`tm_transformer.figstyle.context`, as :func:`tm_transformer.plots.save` does). Inset (child) axes
    and the texts of offset boxes (``AnchoredText``) are checked with the rest."""
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise TypeError(f"expected a matplotlib Figure, got {type(fig).__name__}")
    fig.draw_without_rendering()
    renderer = fig._get_renderer()  # pyright: ignore[reportAttributeAccessIssue]  (private: not in the stubs)
    figbox = fig.bbox
    problems: list[str] = []
    axes = _all_axes(fig)

    # every visible, non-empty text with its owner (an axes, a legend or the figure)
    texts = []  # (text, owner_axes or None, box)
    for ax in axes:
        for t in [*_axis_texts(ax), *_offsetbox_texts(ax.artists)]:
            if t is not None and t.get_visible() and t.get_text().strip():
                texts.append((t, ax, t.get_window_extent(renderer)))
    legends = [(lg, ax) for ax in axes if (lg := ax.get_legend()) is not None and lg.get_visible()]
    legends += [(lg, None) for lg in _legends(fig) if lg.get_visible()]
    for lg, ax in legends:
        for t in [*lg.get_texts(), lg.get_title()]:
            if t.get_visible() and t.get_text().strip():
                texts.append((t, ax, t.get_window_extent(renderer)))
    seen_ids = {id(t) for t, _, _ in texts}
    for t in [*_figure_texts(fig), *_offsetbox_texts(fig.artists)]:
        if id(t) not in seen_ids and t.get_visible() and t.get_text().strip():
            seen_ids.add(id(t))
            texts.append((t, None, t.get_window_extent(renderer)))
    corners = [_corners(t, box, renderer) for t, _, box in texts]

    def rect(b):
        return np.array([[b.x0, b.y0], [b.x1, b.y0], [b.x1, b.y1], [b.x0, b.y1]], float)

    for t, _, _ in texts:
        if t.get_fontsize() < MIN_POINTS - 1e-9:
            problems.append(f"small-text: {_name(t)} is {t.get_fontsize():g} pt (at least {MIN_POINTS:g} pt)")
    for i, j in itertools.combinations(range(len(texts)), 2):
        (t, _, a), (u, _, b) = texts[i], texts[j]
        if _overlap(a, b) and not _separated(corners[i], corners[j]):
            problems.append(f"text-overlap: {_name(t)} overlaps {_name(u)}")
    panels = [ax for ax in axes if ax.axison]
    for (t, owner, box), quad in zip(texts, corners):
        if not (quad[:, 0].min() >= figbox.x0 - TOLERANCE_PX and quad[:, 0].max() <= figbox.x1 + TOLERANCE_PX
                and quad[:, 1].min() >= figbox.y0 - TOLERANCE_PX and quad[:, 1].max() <= figbox.y1 + TOLERANCE_PX):
            problems.append(f"clipped: {_name(t)} reaches past the figure's edge")
        for ax in panels:
            if (ax is not owner and not _same_area(ax, owner) and not _related(ax, owner)
                    and _overlap(box, ax.bbox) and not _separated(quad, rect(ax.bbox))):
                problems.append(f"into-panel: {_name(t)} runs into the axes area of panel "
                                f"{axes.index(ax)} ({_name(ax.title) if ax.get_title() else 'untitled'})")
    for lg, owner in legends:
        box = lg.get_window_extent(renderer)
        where = "the figure's legend" if owner is None else f"the legend of panel {axes.index(owner)}"
        if not (box.x0 >= figbox.x0 - TOLERANCE_PX and box.x1 <= figbox.x1 + TOLERANCE_PX
                and box.y0 >= figbox.y0 - TOLERANCE_PX and box.y1 <= figbox.y1 + TOLERANCE_PX):
            problems.append(f"clipped: {where} reaches past the figure's edge")
        for i, ax in enumerate(axes):
            if (ax is not owner and ax in panels and not _same_area(ax, owner) and not _related(ax, owner)
                    and _overlap(box, ax.bbox)):
                problems.append(f"into-panel: {where} runs into the axes area of panel {i}")
            V, segs, areas = _data_points(ax, renderer)
            n_in = int(_inside(V, box).sum()) if len(V) else 0
            n_cross = sum(int(_crosses(p, q, box).sum()) for p, q in segs if len(p))
            n_area = _covers_area(box, areas, ax.bbox)
            if n_in or n_cross or n_area:
                problems.append(f"legend-covers-data: {where} covers {n_in} plotted points, {n_cross} line "
                                f"segments and {n_area} bars or bands of panel {i}")
    for i, ax in enumerate(axes):
        seen: dict = {}
        for lab, key in _series(ax):
            if key in seen and seen[key] != lab:
                problems.append(f"series-alike: panel {i} draws {lab!r} and {seen[key]!r} alike "
                                f"(colour {key[0]}, marker {key[1]}, line {key[2]}, fill {key[3]})")
            seen.setdefault(key, lab)
    return problems


def assert_readable(fig, name: str = "figure") -> None:
    """Raise :class:`FigureProblem` naming every problem of ``fig`` (see :func:`check_figure`)."""
    problems = check_figure(fig)
    if problems:
        raise FigureProblem(f"{name}: {len(problems)} problem(s)\n  " + "\n  ".join(problems))


def _pdf_objects(data: bytes):
    """The PDF's bytes, then each of its Flate-compressed streams decompressed (object streams hold font
    dictionaries in PDFs that were post-processed)."""
    import re
    import zlib

    yield data
    for m in re.finditer(rb"stream\r?\n", data):
        try:
            yield zlib.decompressobj().decompress(data[m.end():])
        except zlib.error:
            continue


def check_pdf(pdf) -> list[str]:
    """``pdf``: a path or the bytes of a PDF. A problem when it holds Type 3 fonts (bitmaps or outlines a
    journal's production refuses) -- in its plain text or inside a compressed (object) stream; TrueType
    (``/FontFile2``, ``pdf.fonttype: 42``) passes."""
    data = Path(pdf).read_bytes() if isinstance(pdf, (str, Path)) else bytes(pdf)
    if not data.startswith(b"%PDF"):
        return ["pdf-fonts: not a PDF"]
    if any(b"/Type3" in chunk for chunk in _pdf_objects(data)):
        return ["pdf-fonts: the PDF embeds Type 3 fonts (expected TrueType: pdf.fonttype 42)"]
    return []
