"""Issue 13, item 3: the public plotting API -- each function takes a small table and returns a Figure."""
import matplotlib
import pytest
from matplotlib.figure import Figure

from tm_transformer import figstyle, parse_machine, plots

NSTAR_ROWS = [{"x": x, "s": 1, "eps": 0.2, "delta": 0.1, "n_star": 10 * x, "n_star_lo": 9 * x, "n_star_hi": 11 * x,
               "claim_f": 5.0 * x, "bound": 20.0 * x} for x in (1, 2, 4, 8)]


def _texts(fig) -> str:
    return " ".join(t.get_text() for ax in fig.axes for t in [ax.title, ax.xaxis.label, ax.yaxis.label])


def test_measurement_from_a_table_and_from_records(tmp_path):
    rows = [{"n": n, "rate": 1 / n, "lo": 0.8 / n, "hi": 1.2 / n, "learner": name}
            for n in (10, 100, 1000) for name in ("a", "b")]
    fig = plots.measurement(rows, x="n", y="rate", lo="lo", hi="hi", series="learner", reference=lambda n: 2 / n,
                            reference_label="bound", title="mine")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"  # columns span a factor >= 20
    assert len(ax.get_lines()) == 3 and "mine" in _texts(fig)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["learner = a", "learner = b", "bound"]
    assert ax.get_lines()[0].get_xdata().tolist() == [10, 100, 1000]
    written = plots.save(fig, tmp_path / "sub" / "m")
    assert [p.name for p in written] == ["m.pdf", "m.png"] and all(p.stat().st_size > 1000 for p in written)
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["m.pdf", "m.png"]  # no temporary left


def test_measurement_names_a_missing_column_and_refuses_an_empty_table():
    with pytest.raises(ValueError, match="column 'rate' is missing"):
        plots.measurement([{"n": 1}], x="n", y="rate")
    with pytest.raises(ValueError, match="empty"):
        plots.measurement([], x="n", y="rate")


def test_nstar_and_failure_rates():
    fig = plots.nstar(NSTAR_ROWS, x="x", series="s", claim="C9", ref="bound", constant=2.0, calibrated=1.0, kappa=2,
                      title="t", verdict="holds", reading="r")
    top, bottom = fig.axes[:2]  # one (eps, delta): one column, n* above the constant needed
    assert isinstance(fig, Figure) and fig.get_suptitle() == "t: holds"
    assert top.get_title() == r"$\varepsilon$ = 0.2, $\delta$ = 0.1"
    assert [round(y, 6) for y in bottom.get_lines()[0].get_ydata()] == [2.0] * 4  # n*/f
    assert top.containers[0].lines[0].get_ydata().tolist() == [10.0, 20.0, 40.0, 80.0]  # n*
    claim = [ln for ln in top.get_lines() if ln.get_linestyle() == "-"]
    assert claim[0].get_ydata().tolist() == [10.0, 20.0, 40.0, 80.0]  # the claim at C = 2: 2 x claim_f
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["$n^*$ measured (bar: interval)", "claim: C9 at $C$ = 2", "bound", r"2 $\times$ calibrated $C$"]
    tests = [{"params": {"d": 2, "eps": 0.1}, "delta": dl, "rate": 2 * dl, "ci_lo": dl, "ci_hi": 3 * dl}
             for dl in (0.1, 0.01)]
    fig = plots.failure_rates(tests, series=("d", "eps"))
    assert isinstance(fig, Figure)
    assert {t.get_text() for t in fig.axes[0].get_legend().get_texts()} == {r"$d$ = 2, $\varepsilon$ = 0.1",
                                                                          r"failure = $\delta$"}


def test_bounds_frontier_run_and_spacetime():
    assert isinstance(plots.bound_ratios(), Figure)
    row = {"dtype": "float16", **{f"envelope_R{R}": R for R in (4, 100, 1000)}, **{f"probe_R{R}": R + 1 for R in (4, 100, 1000)},
           "envelope_free_range": 20, "certified_free_range": 21, "real_free_range": 22}
    fig = plots.precision_frontier([row], [{"steps": 100, "real_beta": 1.2}])
    assert isinstance(fig, Figure) and len(fig.axes[0].get_lines()) == 4
    fig = plots.precision_frontier([{**row, "evict_tested_steps": 511, "evict_certified": True}])
    assert len(fig.axes[0].get_lines()) == 5 and any("evicting-cache runs, all certified" == ln.get_label() for ln in fig.axes[0].get_lines())
    from tm_transformer.transformer import compile_machine, run

    m = parse_machine("1RB1LB_1LA1RZ")
    r = run(m, 6, head_range=8, layout="dense", record=True)
    fig = plots.transformer_run(r, compile_machine(m, 6, 8).layout.dim_names())
    assert isinstance(fig, Figure)
    with pytest.raises(ValueError, match="record=True"):
        plots.transformer_run(run(m, 6, head_range=8))
    assert isinstance(plots.spacetime(m, 6), Figure)


def test_plots_leave_rcparams_alone_and_use_the_style():
    before = dict(matplotlib.rcParams)
    fig = plots.measurement([{"n": 1, "y": 1}, {"n": 2, "y": 2}], x="n", y="y")
    assert fig.axes[0].xaxis.label.get_fontsize() == figstyle.style()["axes.labelsize"]
    assert dict(matplotlib.rcParams) == before
    cycle = [c["color"].lower() for c in figstyle.style()["axes.prop_cycle"]]
    assert cycle == [c.lower() for c in figstyle.COLOURS]  # your own lines get the toolkit's colours


class _Frame:
    """Duck-typed DataFrame: what the plots read from one is ``to_dict("records")``."""

    def __init__(self, rows):
        self.rows = rows

    def to_dict(self, orient):
        assert orient == "records"
        return [dict(r) for r in self.rows]


def test_measurement_takes_a_dataframe_orders_series_by_value_and_keeps_zeros_linear():
    rows = [{"n": n, "y": float(n), "k": k} for n in (1, 2, 3) for k in (10, 2)]
    ax = plots.measurement(_Frame(rows), x="n", y="y", series="k").axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["k = 2", "k = 10"]  # 2 before 10
    ax = plots.measurement([{"n": n, "y": y} for n, y in ((1, 0.0), (10, 0.5), (100, 1.0))], x="n", y="y").axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"  # a zero would vanish from a log axis


def test_every_plot_names_what_is_missing():
    rows = [{"n": 1, "y": 1, "lo": 0, "hi": 2}]
    with pytest.raises(ValueError, match="column 'learner' is missing from row 0"):
        plots.measurement(rows, x="n", y="y", series="learner")
    with pytest.raises(ValueError, match="lo and hi go together"):
        plots.measurement(rows, x="n", y="y", lo="lo")
    with pytest.raises(ValueError, match="column 'ci' is missing"):
        plots.measurement(rows, x="n", y="y", lo="lo", hi="ci")
    with pytest.raises(ValueError, match="column 'n_star_hi' is missing"):
        plots.nstar([{k: v for k, v in NSTAR_ROWS[0].items() if k != "n_star_hi"}], x="x", series="s", claim="C9")
    test = {"params": {"eps": 0.1}, "delta": 0.1, "rate": 0.2, "ci_lo": 0.1, "ci_hi": 0.3}
    with pytest.raises(ValueError, match="column 'd' is missing from row 0 and from its params"):
        plots.failure_rates([test], series=("d", "eps"))
    with pytest.raises(ValueError, match="column 'ci_hi' is missing"):
        plots.failure_rates([{k: v for k, v in test.items() if k != "ci_hi"}], series=("eps",))
    row = {"dtype": "float16", **{f"envelope_R{R}": R for R in (4, 100, 1000)}}
    with pytest.raises(ValueError, match="column 'dtype' is missing"):
        plots.precision_frontier([{k: v for k, v in row.items() if k != "dtype"}])
    with pytest.raises(ValueError, match="column 'envelope_R100' is missing"):
        plots.precision_frontier([{k: v for k, v in row.items() if k != "envelope_R100"}])
    with pytest.raises(ValueError, match="column 'real_beta' is missing"):
        plots.precision_frontier([row], [{"steps": 10}])
    assert isinstance(plots.precision_frontier(_Frame([row]), _Frame([{"steps": 10, "real_beta": 1.0}])), Figure)
    with pytest.raises(TypeError, match=r"expected a TransformerRun from run\(\.\.\., record=True\), got list"):
        plots.transformer_run([row])


def test_save_refuses_an_unknown_format_before_writing_anything(tmp_path):
    fig = plots.measurement([{"n": 1, "y": 1}, {"n": 2, "y": 2}], x="n", y="y")
    with pytest.raises(ValueError, match=r"formats \['bad'\]: expected some of .*pdf.*png"):
        plots.save(fig, tmp_path / "x", formats=("pdf", "bad"))
    with pytest.raises(ValueError, match="formats"):
        plots.save(fig, tmp_path / "x", formats=())
    with pytest.raises(TypeError, match="expected a matplotlib Figure"):
        plots.save(fig.axes[0], tmp_path / "x")
    assert list(tmp_path.iterdir()) == []                      # nothing half-written

    draw = fig.savefig

    def png_fails(path, **kw):
        if kw["format"] == "png":
            raise RuntimeError("disk full")
        draw(path, **kw)

    fig.savefig = png_fails                                     # the PDF is drawn, then the PNG fails
    with pytest.raises(RuntimeError, match="disk full"):
        plots.save(fig, tmp_path / "x")
    assert list(tmp_path.iterdir()) == []                      # no temporary, no lone pdf


def _pixels(path):
    import matplotlib.image

    img = (matplotlib.image.imread(str(path))[..., :3] * 255).round().astype(int)
    return {tuple(p) for p in img.reshape(-1, 3)}


def test_save_draws_your_own_figure_in_your_rcparams_and_ours_in_the_style(tmp_path):
    """Referee D5: a figure of the user's keeps matplotlib's "C1" (orange) when saved by plots.save; a figure
    the toolkit made is drawn in the style (its C1 is Okabe-Ito vermillion); both PDFs embed TrueType."""
    from matplotlib.figure import Figure

    from tm_transformer import figcheck

    mine = Figure(figsize=(1, 1), dpi=50)
    mine.add_subplot().plot([0, 1], [0, 1], color="C1", lw=8)
    ours, axes = plots.new(1, 1.0, 1.0)
    axes[0, 0].plot([0, 1], [0, 1], color="C1", lw=8)
    (png, pdf), (png2, _) = (plots.save(f, tmp_path / n, formats=("png", "pdf"), dpi=50)
                             for f, n in ((mine, "mine"), (ours, "ours")))
    assert (255, 127, 14) in _pixels(png) and (213, 94, 0) not in _pixels(png)
    assert (213, 94, 0) in _pixels(png2)
    assert figcheck.check_pdf(pdf) == []


def test_save_drops_fonttools_warnings_keeps_its_errors_and_restores_the_level(tmp_path, caplog):
    """Referee D4: fontTools' subsetting chatter on every PDF is dropped during a save, not for good."""
    import logging

    from matplotlib.artist import Artist
    from matplotlib.figure import Figure

    class Noisy(Artist):
        def draw(self, renderer):
            logging.getLogger("fontTools.ttLib").warning("'created' timestamp seems very low")
            logging.getLogger("fontTools.subset").error("a real fontTools error")

    log = logging.getLogger("fontTools")
    log.setLevel(logging.WARNING)
    try:
        fig = Figure(figsize=(1, 1))
        fig.add_artist(Noisy())
        with caplog.at_level(logging.WARNING):
            plots.save(fig, tmp_path / "noisy", formats=("pdf",))
        messages = [r.getMessage() for r in caplog.records]
        assert "a real fontTools error" in messages and not any("timestamp" in m for m in messages)
        assert log.level == logging.WARNING
    finally:
        log.setLevel(logging.NOTSET)


def test_panels_into_a_figure_without_a_layout_engine_warn():
    """Referee D6: a plot of several panels needs constrained layout (its legend sits outside the panels)."""
    import warnings

    from matplotlib.figure import Figure

    bare = Figure(figsize=(7.2, 3.4))
    with pytest.warns(UserWarning, match="no layout engine.*constrained"):
        plots.bound_ratios(ax=bare.subfigures(1, 2)[1])
    fine = Figure(figsize=(7.2, 3.4), layout="constrained")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        plots.bound_ratios(ax=fine.subfigures(1, 2)[1], width="double")


def test_the_first_real_failure_does_not_hide_the_certified_square():
    """Referee D8: at one free range the cross sits beside the open square (and under it), not on it."""
    row = {"dtype": "float16", "envelope_R4": 60, "envelope_R100": 300, "envelope_R1000": 900,
           "envelope_free_range": 60, "certified_free_range": 120, "real_free_range": 120}
    fig = plots.precision_frontier([row])
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
    square, cross = lines["certified frontier"], lines["first real failure"]
    (xs,), (xc,) = square.get_xdata(), cross.get_xdata()
    assert xc / xs >= 1.2 and square.get_zorder() > cross.get_zorder()


def test_icl_at_one_column_leaves_no_empty_slot_and_wraps_no_label_inside():
    """Referee D8: at single width the error panel spans the bottom row (no empty grid slot) and a
    learner's "(m, V)" is never split across lines."""
    rows = [{"kind": "cost", "learner": "conditional", "m": 1, "V": 3, "n": n, "mean_steps": 6.0 * n * n,
             "steps_bound": 20.0 * n * n, "prompt_length": 4 * n} for n in (1, 4, 16)]
    rows += [{"kind": "error", "n": n, "rate": 0.3 / n, "ci_lo": 0.1 / n, "ci_hi": 0.6 / n, "mc_rate": 0.3 / n,
              "exact_probability": 0.3 / n} for n in (2, 4, 8)]
    fig = plots.icl(rows, 0.2, width="single")
    err = [ax for ax in fig.axes if ax.get_visible() and ax.get_ylabel().startswith("P(TV")][0]
    assert err.get_subplotspec().colspan == range(0, 2)
    assert sum(ax.get_visible() for ax in fig.axes) == 3
    tag = [t.get_text() for t in fig.legends[0].get_texts() if t.get_text().startswith("conditional")][0]
    assert "$m = 1,\\ V = 3$" in tag


def test_nstar_claims_constant_line_never_sits_on_the_axis_edge():
    """Referee D8: the bottom row's line at C (here the smallest value drawn) is inside the limits, not on the
    lower spine where it reads as a doubled axis."""
    rows = [{"V": V, "m": 1, "eps": 0.2, "delta": 0.1, "n_star": 10 * V, "n_star_lo": 10 * V - 1,
             "n_star_hi": 10 * V + 1, "claim_f": 10.0 * V / (1 + V)} for V in (2, 3, 8)]
    fig = plots.nstar(rows, x="V", series="m", claim="C1", constant=0.5)
    bottom = [ax for ax in fig.axes if ax.get_visible() and ax.get_ylabel() == "$n^*/f$"][0]
    lo, hi = bottom.get_ylim()
    assert lo < 0.5 and (0.5 - lo) / (hi - lo) > 0.07   # matplotlib's margin alone: under 5%
