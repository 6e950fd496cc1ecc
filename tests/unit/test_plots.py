"""Figures: what is drawn equals the dataset it came from, and every mark is explained on the figure.

Numbers are read from the datasets passed in (never hard-coded), so the tests hold when
the engines' last digits move.
"""

import json
import re
import sys

import numpy as np
import pytest
from scipy.stats import beta

import pkpd
from pkpd.cli import main

LABEL = "45 mg SC at weeks 0, 4 then every 12 weeks until week 52"
TOPUP = LABEL + "; if not PASI75 at week 16: 45 mg SC at week 16"
REGIMENS = {"label": LABEL, "label + top-up": TOPUP, "q8w": "90 mg SC at weeks 0, 4 then every 8 weeks until week 52"}
WEEKS = [12, 28, 52]


@pytest.fixture(scope="module")
def fit():
    return pkpd.load_fit("ustekinumab_phase2")


@pytest.fixture(scope="module")
def sparse(fit):
    return pkpd.predict(fit, REGIMENS, WEEKS, time_unit="week", n_draws=20, trial_size=64)


@pytest.fixture(scope="module")
def dense(fit):
    return pkpd.predict(fit, REGIMENS, pkpd.densify_times(WEEKS, time_unit="week"), n_draws=20, trial_size=64)


def panel(fig, gid):
    matches = [ax for ax in fig.axes if ax.get_gid() == gid]
    assert len(matches) == 1, [ax.get_gid() for ax in fig.axes]
    return matches[0]


def drawn(ax, gid, label=None):
    return [a for a in ax.get_children() if a.get_gid() == gid and (label is None or a.get_label() == label)]


def legend_texts(fig):
    return [t.get_text().replace("\n", " ") for legend in fig.legends for t in legend.get_texts()]


def band_edges(collection, xs):
    """(lower, upper) of a fill_between polygon at each x."""
    vertices = collection.get_paths()[0].vertices
    lo, hi = [], []
    for x in xs:
        ys = vertices[np.isclose(vertices[:, 0], x, rtol=0, atol=1e-9), 1]
        lo.append(ys.min())
        hi.append(ys.max())
    return np.array(lo), np.array(hi)


def segments(collection):
    """(x, low, high) of each vertical (or horizontal) segment of a LineCollection."""
    return np.array([(s[0, 0], s[0, 1], s[1, 1]) for s in collection.get_segments()])


# -- response over time -----------------------------------------------------------------

def test_a_prediction_at_a_few_weeks_is_drawn_as_points_with_labelled_interval_bars(sparse):
    fig = pkpd.plot_response(sparse)
    assert [ax.get_gid() for ax in fig.axes if ax.get_gid() != "doses"] == list(sparse.endpoint.values)
    legend = legend_texts(fig)
    assert "95% interval from parameter uncertainty (20 draws)" in legend
    assert "95% range observed in a trial arm of 64" in legend
    assert fig._suptitle.get_text() == "Ustekinumab: PASI response over time"
    ax = panel(fig, "PASI75")
    offsets = []
    for name in REGIMENS:
        sel = dict(regimen=name, endpoint="PASI75")
        (points,) = drawn(ax, "rate", name)
        assert points.get_linestyle() == "None" and points.get_marker() == "o"  # no line between weeks 12, 28, 52
        x = points.get_xdata()
        offset = x - np.asarray(WEEKS)
        assert np.ptp(offset) < 1e-12
        offsets.append(offset[0])
        np.testing.assert_array_equal(points.get_ydata(), 100 * sparse.rate.sel(**sel).values)
        (bars,) = drawn(ax, "parameter band", name)
        np.testing.assert_allclose(segments(bars)[:, 1:], 100 * np.c_[sparse.lower.sel(**sel), sparse.upper.sel(**sel)])
        (trial,) = drawn(ax, "trial band", name)
        np.testing.assert_allclose(segments(trial)[:, 1:],
                                   100 * np.c_[sparse.trial_lower.sel(**sel), sparse.trial_upper.sel(**sel)])
    # regimens sharing a week sit side by side, centred on it
    assert len(set(offsets)) == 3 and abs(sum(offsets)) < 1e-12
    low, high = ax.get_xlim()
    assert low < 0 and high > 52 + max(offsets)  # from week 0, every point inside


def test_a_dense_prediction_draws_curves_bands_reported_weeks_and_doses(dense):
    fig = pkpd.plot_response(dense, marks=WEEKS)
    legend = legend_texts(fig)
    for text in ("label + top-up", "predicted rate", "95% interval from parameter uncertainty (20 draws)",
                 "95% range observed in a trial arm of 64", "week 12, 28, 52 (reported)", "dose",
                 "dose for the patients a response-guided rule fires for"):
        assert text in legend
    assert panel(fig, "PASI90").get_title() == "PASI90: at least 90% improvement"
    ax = panel(fig, "PASI75")
    weeks = dense.week.values
    for name in REGIMENS:
        sel = dict(regimen=name, endpoint="PASI75")
        (line,) = drawn(ax, "rate", name)
        np.testing.assert_array_equal(line.get_xdata(), weeks)  # every grid point: a top-up is no triangle
        np.testing.assert_array_equal(line.get_ydata(), 100 * dense.rate.sel(**sel).values)
        (band,) = drawn(ax, "parameter band", name)
        lo, hi = band_edges(band, weeks)
        np.testing.assert_allclose(lo, 100 * dense.lower.sel(**sel).values)
        np.testing.assert_allclose(hi, 100 * dense.upper.sel(**sel).values)
        trial = drawn(ax, "trial band", name)
        np.testing.assert_array_equal(trial[0].get_ydata(), 100 * dense.trial_lower.sel(**sel).values)
        np.testing.assert_array_equal(trial[1].get_ydata(), 100 * dense.trial_upper.sel(**sel).values)
        (marks,) = drawn(ax, "marks", name)
        np.testing.assert_array_equal(marks.get_xdata(), WEEKS)
        np.testing.assert_array_equal(marks.get_ydata(), 100 * dense.rate.sel(time=[w * 7.0 for w in WEEKS], **sel))
    assert weeks.size > 80 and ax.get_ylim() == (0, 100) and ax.get_xlim()[0] < 0
    assert sorted(line.get_xdata()[0] for line in drawn(ax, "mark line")) == WEEKS
    strip = [a for a in fig.axes if a.get_gid() == "doses"][0]
    (doses,) = drawn(strip, "doses", "1")
    np.testing.assert_array_equal(doses.get_xdata(), [0, 4, 16, 28, 40, 52])
    (topup,) = drawn(strip, "rule doses", "1")
    np.testing.assert_array_equal(topup.get_xdata(), [16])
    assert not drawn(strip, "rule doses", "0")


def test_response_endpoints_are_any_of_the_dataset(dense):
    fig = pkpd.plot_response(dense, endpoints=["PASI100"], bands=())
    assert [ax.get_gid() for ax in fig.axes if ax.get_gid() != "doses"] == ["PASI100"]
    ax = panel(fig, "PASI100")
    assert not drawn(ax, "parameter band") and not drawn(ax, "trial band")
    (line,) = drawn(ax, "rate", "q8w")
    np.testing.assert_array_equal(line.get_ydata(), 100 * dense.rate.sel(regimen="q8w", endpoint="PASI100"))
    assert "95% interval from parameter uncertainty (20 draws)" not in legend_texts(fig)


@pytest.mark.parametrize("kwargs, message", [
    (dict(endpoints=["PASI80"]), r"Endpoint 'PASI80' is not in the dataset; its endpoints: \['PASI50', 'PASI75'"),
    (dict(bands=["model"]), r"Unknown band 'model'; allowed: 'parameter' \(lower/upper\), 'trial'"),
    (dict(marks=[13]), r"Week 13 \(marks=\) is not among the dataset's times; predict on pkpd.densify_times"),
    (dict(observed=[1, 2]), r"observed must be a pandas DataFrame with columns regimen, week, endpoint, rate"),
    (dict(endpoints=[]), r"endpoints is empty; give some of the dataset's endpoints \['PASI50'"),
])
def test_response_plot_refuses_bad_input(sparse, kwargs, message):
    with pytest.raises(pkpd.PkpdError, match=message):
        pkpd.plot_response(sparse, **kwargs)


def test_a_band_the_dataset_lacks_is_refused(fit):
    ds = pkpd.predict(fit, {"label": LABEL}, [12], time_unit="week")
    with pytest.raises(pkpd.PkpdError, match=r"Band 'trial' is not in the dataset \(no trial_lower/trial_upper\); "
                                             r"predict with trial_size="):
        pkpd.plot_response(ds, bands=["trial"])


def test_fit_figure_dodges_arms_and_says_what_points_bars_and_lines_are(fit):
    fig = pkpd.plot_fit(fit)
    legend = legend_texts(fig)
    for text in ("observed responders (krueger2007_phase2), 95% Clopper-Pearson interval", "fitted model",
                 "95% range of responders in an arm of 64 under the fitted model", *fit.trial.arms):
        assert text in legend
    assert fig._suptitle.get_text() == "Ustekinumab: PASI response, observed and fitted"
    table = fit.fitted_rates
    for end in ("PASI75", "PASI90"):
        ax = panel(fig, end)
        rows = table[table["endpoint"] == end]
        xs = []
        for row in rows.itertuples():
            (point,) = drawn(ax, "observed", row.arm)
            x, y = point.get_xdata()[0], point.get_ydata()[0]
            xs.append(x)
            assert y == 100 * row.observed
            (interval,) = drawn(ax, "observed interval", row.arm)
            k, n = row.responders, row.n
            expected = [beta.ppf(0.025, k, n - k + 1), beta.ppf(0.975, k + 1, n - k)]
            np.testing.assert_allclose(segments(interval)[0, 1:], 100 * np.array(expected))
            (box,) = drawn(ax, "arm range", row.arm)
            assert box.get_y() == pytest.approx(100 * row.lower) and box.get_height() == pytest.approx(
                100 * (row.upper - row.lower))
            assert box.get_x() < x < box.get_x() + box.get_width()
            (line,) = drawn(ax, "rate", row.arm)  # the fitted curve passes through the fitted rate
            at = np.flatnonzero(line.get_xdata() == row.week)
            assert line.get_ydata()[at] == pytest.approx(100 * row.predicted, rel=1e-12)
        # five arms share week 12: side by side, centred on it, not on top of each other
        assert len(set(xs)) == 5 and np.mean(xs) == pytest.approx(12) and max(abs(np.array(xs) - 12)) < 1


# -- concentrations ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def arms():
    return pkpd.simulate("ustekinumab_pk", {"45 mg x1": "45 mg SC at week 0", "45 mg label": LABEL,
                                            "placebo": "placebo"}, np.arange(0, 24 * 7 + 1.0), n_subjects=200, seed=3)


def test_concentrations_log_limit_keeps_the_band_placebo_is_a_note_legend_below(arms):
    fig = pkpd.plot_concentrations(arms)
    ax = panel(fig, "concentration")
    assert ax.get_yscale() == "log"
    assert ax.get_title() == "Ustekinumab: concentration in serum, median and 5%-95% of 200 virtual patients"
    assert not drawn(ax, "median", "placebo") and not drawn(ax, "band", "placebo")
    legend = legend_texts(fig)
    assert "placebo: no drug (concentration 0), not drawn on the log axis" in legend and "placebo" not in legend
    assert {"45 mg x1", "45 mg label", "median of 200 virtual patients", "5%-95% of 200 virtual patients",
            "dose"} <= set(legend)
    low, high = ax.get_ylim()
    troughs, peaks = [], []
    for name in ("45 mg x1", "45 mg label"):
        c = arms.concentration.sel(regimen=name)
        (median,) = drawn(ax, "median", name)
        np.testing.assert_array_equal(median.get_ydata(), c.quantile(0.5, dim="subject").values)
        np.testing.assert_array_equal(median.get_xdata(), arms.week.values)
        (band,) = drawn(ax, "band", name)
        lower, upper = c.quantile([0.05, 0.95], dim="subject").values
        lo, hi = band_edges(band, arms.week.values[1:])
        np.testing.assert_allclose(lo, lower[1:])
        np.testing.assert_allclose(hi, upper[1:])
        troughs.append(lower[arms.week.values >= 1].min())  # after the first dose's climb: troughs and the tail
        peaks.append(upper.max())
    assert min(troughs) / 2.5 <= low <= min(troughs)  # the 5% line is not cut at its lowest, nor far above it
    assert max(peaks) <= high <= 2.5 * max(peaks)
    doses = drawn(panel(fig, "doses"), "doses")
    np.testing.assert_array_equal(doses[0].get_xdata(), [0])
    np.testing.assert_array_equal(doses[1].get_xdata(), [0, 4, 16])
    fig.draw_without_rendering()
    legend_box = fig.legends[0].get_window_extent()
    assert all(legend_box.y1 <= a.get_window_extent().y0 for a in fig.axes)  # under the panels, not on the bands


def test_a_tail_below_a_millionth_of_the_peak_is_cut_and_the_figure_says_so():
    ds = pkpd.simulate("ustekinumab_pk", {"45 mg x1": "45 mg SC at week 0"}, np.arange(0, 104 * 7 + 1.0),
                       n_subjects=200, seed=3)
    fig = pkpd.plot_concentrations(ds)
    lower, upper = ds.concentration.isel(regimen=0).quantile([0.05, 0.95], dim="subject").values
    assert lower.min() < 1e-6 * upper.max()  # the case: a two-year washout
    low, _ = panel(fig, "concentration").get_ylim()
    assert 1e-6 * upper.max() / 2.5 <= low <= 1e-6 * upper.max()
    notes = [t for t in legend_texts(fig) if t.startswith("concentrations below ")]
    assert len(notes) == 1 and notes[0].endswith(" mg/L not shown") and float(notes[0].split()[2]) == low


def test_typical_patient_title_and_plain_ticks_on_a_short_range():
    ds = pkpd.simulate("ustekinumab_pk", {"label": LABEL}, np.arange(0, 365.0))
    fig = pkpd.plot_concentrations(ds)
    ax = panel(fig, "concentration")
    assert ax.get_title() == "Ustekinumab: concentration in serum, the typical patient (90 kg)"
    c = ds.concentration.values[0, 0]
    low, high = ax.get_ylim()
    assert c[ds.week.values >= 1].min() / 2.5 <= low <= c[ds.week.values >= 1].min() and np.log10(high / low) < 2
    fig.draw_without_rendering()
    labels = [t.get_text() for minor in (False, True) for t, v in
              zip(ax.yaxis.get_ticklabels(minor=minor), ax.yaxis.get_ticklocs(minor=minor))
              if low <= v <= high and t.get_text()]
    assert len(labels) >= 4
    assert all(re.fullmatch(r"\d+(\.\d+)?", text) for text in labels), labels  # 0.5, 2, never 3x10^0


def test_concentrations_short_simulations_read_in_days_and_linear_axes_keep_placebo():
    ds = pkpd.simulate("ustekinumab_pk", {"45 mg": "45 mg SC at week 0", "placebo": "placebo"}, np.arange(0, 15.0))
    fig = pkpd.plot_concentrations(ds, log=False)
    ax = panel(fig, "concentration")
    assert ax.get_yscale() == "linear" and panel(fig, "doses").get_xlabel() == "time (days)"
    (placebo,) = drawn(ax, "median", "placebo")
    np.testing.assert_array_equal(placebo.get_ydata(), 0.0)


@pytest.mark.parametrize("kwargs, message", [
    (dict(quantiles=(0.05, 0.95)), r"quantiles must be three numbers \(low, middle, high\)"),
    (dict(quantiles=(0.5, 0.05, 0.95)), r"quantiles must increase, e.g. \(0.05, 0.5, 0.95\)"),
])
def test_concentration_plot_refuses_bad_input(arms, kwargs, message):
    with pytest.raises(pkpd.PkpdError, match=message):
        pkpd.plot_concentrations(arms, **kwargs)


def test_placebo_alone_on_a_log_axis_is_refused():
    ds = pkpd.simulate("ustekinumab_pk", {"placebo": "placebo"}, [0.0, 7.0])
    with pytest.raises(pkpd.PkpdError, match=r"Every regimen \(placebo\) has zero concentrations, which a log "
                                             r"axis cannot show; pass log=False"):
        pkpd.plot_concentrations(ds)


# -- dose-response and comparison -------------------------------------------------------

def test_dose_response_log_dose_axis_zero_panel_words_and_intervals(fit):
    doses = [0, 5, 15, 45, 90, 270]
    dr = pkpd.dose_response(fit, doses, "{dose} mg SC at week 0", week=12, n_draws=20, trial_size=64)
    fig = pkpd.plot_dose_response(dr, endpoints=["PASI75", "PASI90"])
    ax, zero = panel(fig, "dose-response"), panel(fig, "zero dose")
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "dose (mg), given SC at week 0"
    assert [t.get_text() for t in zero.get_xticklabels()] == ["0"]
    assert fig._suptitle.get_text() == "Ustekinumab: PASI response at week 12 by dose"
    legend = legend_texts(fig)
    assert {"PASI75", "PASI90", "95% interval from parameter uncertainty (20 draws)",
            "95% range observed in a trial arm of 64", "0: no drug (left panel; a log axis has no 0)"} <= set(legend)
    assert not any("{dose}" in t for t in legend + [ax.get_xlabel()])
    for end in ("PASI75", "PASI90"):
        rate = 100 * dr.rate.sel(endpoint=end).isel(time=0).values
        (line,) = drawn(ax, "rate", end)
        np.testing.assert_array_equal(line.get_xdata(), doses[1:])
        np.testing.assert_array_equal(line.get_ydata(), rate[1:])
        (band,) = drawn(ax, "parameter band", end)
        lo, hi = band_edges(band, doses[1:])
        np.testing.assert_allclose(lo, 100 * dr.lower.sel(endpoint=end).isel(time=0).values[1:])
        np.testing.assert_allclose(hi, 100 * dr.upper.sel(endpoint=end).isel(time=0).values[1:])
        (point,) = drawn(zero, "rate", end)
        assert point.get_ydata()[0] == rate[0]
        (bar,) = drawn(zero, "parameter band", end)
        np.testing.assert_allclose(segments(bar)[0, 1:], [100 * dr.lower.sel(endpoint=end).isel(time=0).values[0],
                                                          100 * dr.upper.sel(endpoint=end).isel(time=0).values[0]])
    low, high = ax.get_xlim()
    assert low < 5 and high > 270


def test_dose_response_narrow_range_stays_linear_and_unusual_schedules_read_as_words(fit):
    dr = pkpd.dose_response(fit, [30, 45, 90], "{dose} mg SC at weeks 0, 4", week=12)
    fig = pkpd.plot_dose_response(dr)
    ax = panel(fig, "dose-response")
    assert ax.get_xscale() == "linear" and ax.get_xlabel() == "dose (mg), given SC at weeks 0, 4"
    assert not [a for a in fig.axes if a.get_gid() == "zero dose"]
    dr.attrs["schedule"] = "90 mg SC at week 0 then {dose} mg every 12 weeks until week 24"
    assert panel(pkpd.plot_dose_response(dr), "dose-response").get_xlabel() == (
        "dose D (mg), given as: 90 mg SC at week 0 then D mg every 12 weeks until week 24")
    with pytest.raises(pkpd.PkpdError, match=r"Endpoint 'EASI75' is not in the dataset"):
        pkpd.plot_dose_response(dr, endpoints=["EASI75"])
    with pytest.raises(pkpd.PkpdError, match=r"A log dose axis needs positive doses; these are all 0. Pass log=False"):
        pkpd.plot_dose_response(pkpd.dose_response(fit, [0], week=12), log=True)


def test_comparison_ranks_regimens_with_labelled_intervals(dense):
    fig = pkpd.plot_comparison(dense, week=52, endpoint="PASI75")
    ranked = pkpd.compare_regimens(dense, 52, "PASI75")
    ax = panel(fig, "comparison")
    assert [t.get_text() for t in ax.get_yticklabels()] == list(ranked["regimen"])
    assert ax.get_xlabel() == "PASI75 responders at week 52 (%)" and ax.get_xlim() == (0, 100)
    assert ax.get_title() == "Ustekinumab: regimens ranked by PASI75 at week 52"
    (points,) = drawn(ax, "rate")
    np.testing.assert_array_equal(points.get_offsets()[:, 0], 100 * ranked["rate"].to_numpy())
    (bars,) = drawn(ax, "parameter band")
    np.testing.assert_allclose(np.array([(s[0, 0], s[1, 0]) for s in bars.get_segments()]),
                               100 * ranked[["lower", "upper"]].to_numpy())
    (trial,) = drawn(ax, "trial band")
    np.testing.assert_allclose(np.array([(s[0, 0], s[1, 0]) for s in trial.get_segments()]),
                               100 * ranked[["trial_lower", "trial_upper"]].to_numpy())
    values = [t.get_text() for t in panel(fig, "values").get_yticklabels()]
    top = ranked.iloc[0]
    assert values[0] == (f"{100 * top.rate:.0f}% ({100 * top.lower:.0f}-{100 * top.upper:.0f}) "
                         f"[{100 * top.trial_lower:.0f}-{100 * top.trial_upper:.0f}]")
    assert {"95% interval from parameter uncertainty (20 draws)", "95% range observed in a trial arm of 64",
            "numbers at the right: rate (parameter interval) [trial range]"} <= set(legend_texts(fig))
    with pytest.raises(pkpd.PkpdError, match=r"Week 53 is not among the predicted weeks"):
        pkpd.plot_comparison(dense, week=53)


# -- the grid, the command line, files --------------------------------------------------

def test_densify_times_is_even_days_from_zero_with_the_requested_times():
    days = pkpd.densify_times(WEEKS, time_unit="week")
    assert {84.0, 196.0, 364.0} <= set(days) and days[0] == 0 and days[-1] == 364
    np.testing.assert_array_equal(np.setdiff1d(days, [84.0, 196.0, 364.0]) % 4, 0)
    short = pkpd.densify_times([10.5], 30)
    assert {10.5, 30.0} <= set(short) and np.all(np.setdiff1d(short, [10.5, 30.0]) % 2 == 0)
    with pytest.raises(pkpd.PkpdError, match=r"horizon 10 week\(s\) is before the last time 12; give a horizon at"):
        pkpd.densify_times([12], 10, time_unit="week")
    with pytest.raises(pkpd.PkpdError, match=r"points must be a whole number >= 2, got 1"):
        pkpd.densify_times([12], points=1)


def test_cli_predict_plot_computes_once_on_a_dense_grid_and_reports_its_weeks(fit, monkeypatch, capsys, tmp_path):
    predict_module, plot_module = sys.modules["pkpd.predict"], sys.modules["pkpd.plot"]
    calls, figures = [], []
    real_predict, real_plot = predict_module.predict, plot_module.plot_response

    def counting_predict(*args, **kwargs):
        calls.append((args, kwargs))
        calls[-1] += (real_predict(*args, **kwargs),)
        return calls[-1][-1]

    def keeping_plot(*args, **kwargs):
        figures.append(real_plot(*args, **kwargs))
        return figures[-1]
    monkeypatch.setattr(predict_module, "predict", counting_predict)
    monkeypatch.setattr(plot_module, "plot_response", keeping_plot)
    png = tmp_path / "p.png"
    assert main(["predict", "--fit", "ustekinumab_phase2", "--regimen", TOPUP, "--at-week", "12", "28", "52",
                 "--draws", "20", "--trial-size", "64", "--json", "--quiet", "--plot", str(png)]) == 0
    assert len(calls) == 1
    (args, kwargs, ds) = calls[0]
    assert {84.0, 196.0, 364.0} <= set(ds.time.values) and ds.sizes["time"] > 80
    rows = json.loads(capsys.readouterr().out)["predictions"]
    assert sorted({r["week"] for r in rows}) == WEEKS and len(rows) == 3 * 4
    for r in rows:
        sel = dict(regimen=TOPUP, time=7.0 * r["week"], endpoint=r["endpoint"])
        assert [r[k] for k in ("rate", "lower", "upper", "trial_lower", "trial_upper")] == [
            float(ds[k].sel(**sel)) for k in ("rate", "lower", "upper", "trial_lower", "trial_upper")]
    # the grid adds no integration points: rates and parameter intervals as at the weeks alone
    alone = real_predict(fit, {TOPUP: TOPUP}, WEEKS, time_unit="week", n_draws=20)
    for key in ("rate", "lower", "upper"):
        np.testing.assert_allclose(ds[key].sel(time=alone.time.values), alone[key], rtol=1e-9, atol=1e-12)
    (fig,) = figures
    legend = legend_texts(fig)
    assert {"95% interval from parameter uncertainty (20 draws)", "95% range observed in a trial arm of 64",
            "week 12, 28, 52 (reported)"} <= set(legend)
    assert [ax.get_gid() for ax in fig.axes if ax.get_gid() != "doses"] == ["PASI50", "PASI75", "PASI90", "PASI100"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_predict_endpoint_option_chooses_what_is_reported_and_drawn(monkeypatch, capsys, tmp_path):
    figures = []
    real_plot = sys.modules["pkpd.plot"].plot_response
    monkeypatch.setattr(sys.modules["pkpd.plot"], "plot_response",
                        lambda *a, **k: figures.append(real_plot(*a, **k)) or figures[-1])
    assert main(["predict", "--fit", "ustekinumab_phase2", "--regimen", LABEL, "--at-week", "12", "--endpoint",
                 "PASI90", "PASI100", "--json", "--plot", str(tmp_path / "p.png")]) == 0
    rows = json.loads(capsys.readouterr().out)["predictions"]
    assert [r["endpoint"] for r in rows] == ["PASI90", "PASI100"]
    assert [ax.get_gid() for ax in figures[0].axes if ax.get_gid() != "doses"] == ["PASI90", "PASI100"]
    assert main(["predict", "--fit", "ustekinumab_phase2", "--regimen", LABEL, "--at-week", "12", "--endpoint",
                 "PASI80"]) == 2
    assert "PASI80" in capsys.readouterr().err


def test_cli_simulate_plot_names_placebo_in_a_note(monkeypatch, capsys, tmp_path):
    figures = []
    real_plot = sys.modules["pkpd.plot"].plot_concentrations
    monkeypatch.setattr(sys.modules["pkpd.plot"], "plot_concentrations",
                        lambda *a, **k: figures.append(real_plot(*a, **k)) or figures[-1])
    assert main(["simulate", "--regimen", "90 mg SC weekly x4", "--regimen", "placebo", "--n", "20", "--weeks", "12",
                 "--plot", str(tmp_path / "c.png")]) == 0
    legend = legend_texts(figures[0])
    assert "placebo: no drug (concentration 0), not drawn on the log axis" in legend
    assert "90 mg SC weekly x4" in legend and "placebo" not in legend


def test_figures_are_written_as_png_only(sparse, tmp_path):
    with pytest.raises(pkpd.PkpdError, match=r"Figures are written as PNG; give a path ending in .png, got '.*r.pdf'"):
        pkpd.plot_response(sparse, tmp_path / "r.pdf")
    assert not list(tmp_path.iterdir())
    pkpd.plot_response(sparse, tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
