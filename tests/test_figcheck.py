"""Issue 25: the figure check measures what a reviewer sees -- each rule fires on a figure built to break
it, the toolkit's figures pass it at both paper widths, and two toolkit plots compose into one figure."""
import io

import matplotlib
import pytest
from matplotlib.figure import Figure

from tm_transformer import figcheck, figstyle, plots


def _fig(w=3.5, h=2.5):
    with figstyle.context():
        return Figure(figsize=(w, h), layout="constrained")


def _rules(fig) -> set:
    with figstyle.context():
        return {p.split(":")[0] for p in figcheck.check_figure(fig)}


def _good():
    fig = _fig()
    ax = fig.add_subplot()
    ax.plot([1, 2, 3], [1, 4, 9], "-", **figstyle.series(0), label="a")
    ax.plot([1, 2, 3], [2, 3, 4], "--", **figstyle.series(1), label="b")
    ax.set(xlabel="x", ylabel="y", title="fine")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig


def test_a_good_figure_passes():
    assert _rules(_good()) == set()
    figcheck.assert_readable(_good())


def test_overlapping_texts_are_named():
    fig = _good()
    fig.axes[0].text(2, 5, "one label")
    fig.axes[0].text(2, 5, "another label")
    assert _rules(fig) == {"text-overlap"}
    with pytest.raises(figcheck.FigureProblem, match="text-overlap: 'one label' overlaps 'another label'"):
        with figstyle.context():
            figcheck.assert_readable(fig)


def test_a_legend_over_the_data_is_named():
    fig = _good()
    fig.axes[0].legend(loc="center")
    assert "legend-covers-data" in _rules(fig)
    fig = _fig()  # an error bar under the legend: its segment crosses the box though no vertex is inside
    ax = fig.add_subplot()
    ax.errorbar([0.5], [0.5], yerr=[[0.5], [0.5]], fmt="o", label="rate")
    ax.plot([0, 1], [0, 0], "-", label="other")
    ax.set(xlim=(0, 1), ylim=(-0.1, 1.1))
    ax.legend(loc="center", bbox_to_anchor=(0.5, 0.75), borderpad=2)
    assert "legend-covers-data" in _rules(fig)


def test_a_clipped_title_is_named():
    fig = Figure(figsize=(3.5, 2.5))  # no layout engine: nothing moves the title in
    ax = fig.add_subplot()
    ax.set_title("a title far too long for a single-column figure, running off its edge")
    assert "clipped" in _rules(fig)
    assert "clipped" not in _rules(_good())


def test_two_series_drawn_alike_are_named():
    fig = _good()
    fig.axes[0].plot([1, 2, 3], [3, 3, 3], "-", **figstyle.series(0), label="c")
    assert "series-alike" in _rules(fig)
    fig = _good()  # the same colour and marker but another line style: apart
    fig.axes[0].plot([1, 2, 3], [3, 3, 3], ":", **figstyle.series(0), label="c")
    assert "series-alike" not in _rules(fig)


def test_text_below_six_points_is_named():
    fig = _good()
    fig.axes[0].set_xlabel("x", fontsize=5)
    assert _rules(fig) == {"small-text"}


def test_a_label_running_into_another_panel_is_named():
    fig = _fig(3.5, 2.0)
    fig.set_layout_engine(None)
    a, b = fig.subplots(1, 2)
    fig.subplots_adjust(wspace=0.05, left=0.1, right=0.98, bottom=0.2)
    b.set_ylabel("a y label of the right panel")
    assert "into-panel" in _rules(fig)


def test_pdf_fonts_type3_refused_truetype_accepted():
    fig = _good()
    out = {}
    for kind in (3, 42):
        buf = io.BytesIO()
        with figstyle.context(), matplotlib.rc_context({"pdf.fonttype": kind}):
            fig.savefig(buf, format="pdf")
        out[kind] = figcheck.check_pdf(buf.getvalue())
    assert out[3] and "Type 3" in out[3][0] and out[42] == []
    assert figstyle.style()["pdf.fonttype"] == 42


# ---- the toolkit's figures ------------------------------------------------------------------------------
NSTAR = [{"x": x, "s": s, "eps": e, "delta": d, "n_star": 10 * x * s, "n_star_lo": 9 * x * s, "n_star_hi": 11 * x * s,
          "claim_f": 5.0 * x, "bound": 20.0 * x} for x in (1, 2, 4, 8) for s in (1, 2) for e in (0.2, 0.1) for d in (0.1, 0.01)]
TESTS = [{"params": {"d": 2, "eps": e}, "delta": dl, "rate": 2 * dl, "ci_lo": dl, "ci_hi": 3 * dl}
         for e in (0.2, 0.1) for dl in (0.1, 0.01, 0.001)]


def _api_figures(width):
    rows = [{"n": n, "rate": 1 / n, "lo": 0.8 / n, "hi": 1.2 / n, "learner": nm} for n in (10, 100, 1000) for nm in "ab"]
    yield "measurement", plots.measurement(rows, x="n", y="rate", lo="lo", hi="hi", series="learner",
                                           reference=lambda n: 2 / n, reference_label="bound", title="mine", width=width)
    yield "nstar", plots.nstar(NSTAR, x="x", series="s", claim="C9", ref="bound", constant=2.0, calibrated=1.0,
                               kappa=2, title="C9: n* vs x", verdict="holds", width=width)
    yield "failure_rates", plots.failure_rates(TESTS, title="C3 with the calibrated constant: fails", width=width)


@pytest.mark.parametrize("width", ["single", "double"])
def test_every_plot_function_passes_at_both_widths(width):
    for name, fig in _api_figures(width):
        assert abs(fig.get_size_inches()[0] - figstyle.width(width)) < 1e-9, name
        with figstyle.context(width):
            figcheck.assert_readable(fig, name)


def test_two_toolkit_plots_compose_into_one_figure_with_ax():
    with figstyle.context("double"):
        fig = Figure(figsize=(figstyle.width("double"), 3.6), layout="constrained")
        left, right = fig.subfigures(1, 2, width_ratios=[1, 1.4])
        ax = left.subplots()
    assert plots.failure_rates(TESTS, ax=ax, width="double") is fig
    assert plots.nstar([r for r in NSTAR if r["eps"] == 0.2], x="x", series="s", claim="C9", ref="bound",
                       constant=2.0, ax=right, width="double") is fig
    assert ax.get_xscale() == "log" and len(right.axes) == 4 and len(fig.axes) == 5
    with figstyle.context("double"):
        figcheck.assert_readable(fig, "composed")
    with pytest.raises(TypeError, match="ax: expected a matplotlib Axes"):
        plots.failure_rates(TESTS, ax=right)
    with pytest.raises(TypeError, match="ax: expected a matplotlib Figure or SubFigure"):
        plots.nstar(NSTAR, x="x", series="s", claim="C9", ax=ax)


def test_paper_widths_and_their_default():
    assert figstyle.WIDTHS == {"single": 3.5, "double": 7.2}
    with figstyle.paper("double"):
        assert plots.measurement([{"n": 1, "y": 1}, {"n": 2, "y": 2}], x="n", y="y").get_size_inches()[0] == 7.2
    assert figstyle.width() == 3.5
    with pytest.raises(ValueError, match="figure width 'a4': expected one of single, double"):
        figstyle.width("a4")
    assert figstyle.style("double")["axes.labelsize"] > figstyle.style("single")["axes.labelsize"] >= 6


def test_colour_and_marker_both_tell_series_apart():
    looks = [tuple(figstyle.series(i).values()) for i in range(16)]
    assert len(set(looks)) == 16 and len({c for c, _ in looks[:8]}) == 8 and len({m for _, m in looks[:8]}) == 8


def test_with_tmt_figcheck_save_refuses_a_figure_that_fails_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("TMT_FIGCHECK", "1")
    fig = _good()
    fig.axes[0].legend(loc="center")
    with pytest.raises(figcheck.FigureProblem, match=r"(?s)bad: 1 problem.*legend-covers-data"):
        plots.save(fig, tmp_path / "bad")
    assert list(tmp_path.iterdir()) == []
    seen = []
    monkeypatch.setattr(plots, "SAVE_HOOKS", [lambda f, paths: seen.append([p.name for p in paths])])
    plots.save(_good(), tmp_path / "good", formats=("pdf", "svg"))
    assert seen == [["good.pdf", "good.svg"]] and figcheck.check_pdf(tmp_path / "good.pdf") == []


def test_a_line_beyond_the_axes_limits_is_not_covered_by_an_outside_legend():
    """Referee (issue 25): the part of a line past the axes limits is not drawn, so a legend beside the axes
    covers nothing; a legend in the middle of two crossing lines still does."""
    from matplotlib.figure import Figure

    from tm_transformer.figcheck import check_figure

    fig = Figure(figsize=(4, 3), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 3], [0, 1.5], label="a line")
    ax.set(xlim=(0, 1), ylim=(0, 1))
    fig.legend(loc="outside right upper")
    assert check_figure(fig) == []
    bad = Figure(figsize=(4, 3), layout="constrained")
    ax = bad.subplots()
    ax.plot([0, 1], [0, 1], label="x")
    ax.plot([0, 1], [1, 0], label="y")
    ax.legend(loc="center")
    assert any(p.startswith("legend-covers-data") for p in check_figure(bad))


def test_an_unclipped_line_past_the_limits_still_counts_against_a_legend():
    """Referee D2: only a clipped artist's part beyond the limits is hidden; with clip_on=False it is drawn."""
    fig = _fig()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0.2, 0.2], label="in")
    ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
    assert _rules(fig) == set()                            # referee's repro: an outside legend covers nothing
    ax.plot([0, 1.15], [0.5, 0.5], label="past", clip_on=False)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
    assert "legend-covers-data" in _rules(fig)


LONG = ["a rather long category %d" % i for i in range(6)]


def test_rotated_tick_labels_are_rotated_rectangles():
    """Referee D1: 45 degree labels whose glyphs do not touch pass (their boxes overlap, their rectangles
    do not); labels rotated a little that really run into each other still fail."""
    fig = _fig()
    ax = fig.add_subplot()
    ax.plot(range(6), range(6))
    ax.set_xticks(range(6), LONG, rotation=45, ha="right", rotation_mode="anchor")
    assert _rules(fig) == set()
    for angle in (10, 20):
        fig = _fig()
        ax = fig.add_subplot()
        ax.plot(range(6), range(6))
        ax.set_xticks(range(6), LONG, rotation=angle)
        assert "text-overlap" in _rules(fig), angle


def test_inset_axes_and_anchored_texts_are_checked():
    from matplotlib.offsetbox import AnchoredText

    fig = _good()
    ins = fig.axes[0].inset_axes([0.6, 0.1, 0.35, 0.35])
    ins.plot([0, 1], [1, 0])
    assert _rules(fig) == set()                       # an inset on its parent's area is by design
    ins.tick_params(labelsize=3)
    assert "small-text" in _rules(fig)
    fig = _good()
    fig.axes[0].add_artist(AnchoredText("a note", loc="lower right", prop={"size": 8}))
    assert _rules(fig) == set()
    fig.axes[0].add_artist(AnchoredText("tiny note", loc="upper left", prop={"size": 4}))
    assert "small-text" in _rules(fig)


@pytest.mark.parametrize("draw", ["bar", "band"])
def test_a_legend_over_bars_or_a_band_covers_data(draw):
    fig = _fig()
    ax = fig.add_subplot()
    if draw == "bar":
        ax.bar([0, 1, 2], [1, 1, 1], width=0.9, label="bars")
    else:
        ax.fill_between([0, 1, 2], [0, 0, 0], [1, 1, 1], label="band", alpha=0.3)
    ax.set(xlim=(-0.5, 2.5), ylim=(0, 1.2))
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    assert _rules(fig) == set()
    ax.legend(loc="lower center")
    assert "legend-covers-data" in _rules(fig)


def test_hollow_and_filled_markers_of_one_colour_are_told_apart():
    fig = _fig()
    ax = fig.add_subplot()
    ax.plot([1, 2, 3], [1, 2, 3], "o-", color="k", label="filled")
    ax.plot([1, 2, 3], [2, 3, 4], "o-", color="k", mfc="none", label="hollow")
    ax.scatter([1, 2], [3, 1], facecolors="none", edgecolors="C0", label="ring blue")
    ax.scatter([1, 2], [1, 3], facecolors="none", edgecolors="C1", label="ring orange")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    assert _rules(fig) == set()
    ax.plot([1, 2, 3], [3, 4, 5], "o-", color="k", mfc="none", label="hollow again")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    assert "series-alike" in _rules(fig)


def test_a_type3_font_inside_a_compressed_object_stream_is_found():
    """Referee D7: a post-processed PDF keeps its font dictionaries in compressed object streams."""
    import zlib

    def pdf(font: bytes) -> bytes:
        body = zlib.compress(b"1 0 " + font)
        head = b"2 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length %d >>\nstream\n" % len(body)
        return b"%PDF-1.5\n" + head + body + b"\nendstream\nendobj\n%%EOF\n"

    assert figcheck.check_pdf(pdf(b"<< /Type /Font /Subtype /Type3 >>"))[0].startswith("pdf-fonts")
    assert figcheck.check_pdf(pdf(b"<< /Type /Font /Subtype /TrueType >>")) == []
