"""Exposure metrics as labelled data: intervals, units and provenance, summaries by weight band,
bad input refused by name (the values themselves: tests/accuracy/test_exposure.py)."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import pkpd
from helpers import make_model

LABEL = "45 mg SC at weeks 0, 4 then every 12 weeks until week 52"


def test_dosing_intervals_run_from_dose_to_dose_and_windows_are_shared():
    ds = pkpd.exposure("ustekinumab_pk", {"label": LABEL, "weekly": "90 mg SC weekly x4", "placebo": "placebo"},
                       n_subjects=5)
    assert ds.sizes == {"regimen": 3, "subject": 5, "interval": 6}
    assert ds.start_week.sel(regimen="label").values.tolist() == [0, 4, 16, 28, 40, 52]
    assert ds.end_week.sel(regimen="label").values.tolist() == [4, 16, 28, 40, 52, 64]
    # Fewer intervals than another regimen: NaN in the ones it lacks; placebo has none.
    weekly = ds.AUC.sel(regimen="weekly").values
    assert np.all(weekly[:, :4] > 0) and np.all(np.isnan(weekly[:, 4:]))
    assert ds.end_week.sel(regimen="weekly").values[:4].tolist() == [1, 2, 3, 4]
    assert np.all(np.isnan(ds.Cmax.sel(regimen="placebo")))
    # A horizon cuts the dosing intervals (a dose on it starts none).
    cut = pkpd.exposure("ustekinumab_pk", LABEL, horizon=40, time_unit="week")
    assert cut.end_week.values[0].tolist() == [4, 16, 28, 40]
    # Windows: the same for every regimen, in time_unit, placebo at zero.
    win = pkpd.exposure("ustekinumab_pk", {"label": LABEL, "placebo": "placebo"}, intervals=[(0, 4), (16, 28)],
                        time_unit="week")
    assert win.start.values.tolist() == [[0, 112], [0, 112]] and win.end.values.tolist() == [[28, 196], [28, 196]]
    assert np.all(win.AUC.sel(regimen="placebo") == 0)
    assert win.attrs["intervals"] == "windows" and ds.attrs["intervals"] == "dosing"


def test_metrics_carry_units_and_provenance_and_round_trip_through_netcdf(tmp_path):
    ds = pkpd.exposure("ustekinumab_pk", LABEL, n_subjects=20, seed=3)
    units = {k: ds[k].attrs["units"] for k in ("AUC", "Cmax", "Tmax", "Cmin", "Ctrough", "Cavg", "weight", "CL")}
    assert units == {"AUC": "mg*day/L", "Cmax": "mg/L", "Tmax": "day", "Cmin": "mg/L", "Ctrough": "mg/L",
                     "Cavg": "mg/L", "weight": "kg", "CL": "L/day"}
    assert ds.start.attrs["units"] == "day" and ds.end_week.attrs["units"] == "week"
    assert ds.attrs["engine"] == "closed_form" and ds.attrs["seed"] == "3" and ds.attrs["model"] == "ustekinumab_pk"
    assert "exact" in ds.attrs["accuracy"]
    # The same virtual patients as simulate's.
    sim = pkpd.simulate("ustekinumab_pk", LABEL, [0, 1], n_subjects=20, seed=3)
    np.testing.assert_array_equal(ds.CL.values, sim.CL.values)
    path = tmp_path / "e.nc"
    ds.to_netcdf(path)
    back = xr.load_dataset(path)
    xr.testing.assert_identical(back, ds)


def test_summaries_are_the_quantiles_of_each_weight_band():
    ds = pkpd.exposure("ustekinumab_pk", {"45": LABEL, "90": LABEL.replace("45 mg", "90 mg")}, n_subjects=300,
                       seed=1)
    s = pkpd.summarize_exposure(ds, bands=[80, 100], quantiles=[0.05, 0.5, 0.95])
    assert s.band.values.tolist() == ["all", "<= 80 kg", "> 80 and <= 100 kg", "> 100 kg"]
    assert s.band_lower.values.tolist() == [0, 0, 80, 100] and s.band_upper.values.tolist()[1:3] == [80, 100]
    # Against pandas on the long table.
    table = ds[["AUC", "Ctrough"]].to_dataframe().reset_index()
    weight = table["subject"].map(pd.Series(ds.weight.values))
    table["band"] = pd.cut(weight, [0, 80, 100, np.inf], labels=[1, 2, 3]).astype(int)
    for (regimen, band, interval), group in table.groupby(["regimen", "band", "interval"]):
        for key in ("AUC", "Ctrough"):
            got = s[key].sel(regimen=regimen, interval=interval).isel(band=band).values
            np.testing.assert_allclose(got, group[key].quantile([0.05, 0.5, 0.95]).values, rtol=1e-12)
    counts = np.bincount(np.digitize(ds.weight.values, [80, 100], right=True), minlength=3)
    assert s.n.values.tolist() == [300, *counts.tolist()]
    np.testing.assert_allclose(s.share.values, s.n.values / 300)
    assert s.AUC.attrs["units"] == "mg*day/L" and s.start.attrs["units"] == "day"
    all_ = s.AUC.sel(band="all", quantile=0.5).values
    np.testing.assert_allclose(all_, np.median(ds.AUC.values, axis=1), rtol=1e-12)
    # Linear kinetics: the 90 mg regimen's percentiles are twice the 45 mg ones.
    np.testing.assert_allclose(s.AUC.sel(regimen="90"), 2 * s.AUC.sel(regimen="45"), rtol=1e-12)


def test_nonlinear_models_use_the_ode():
    m = make_model(elimination="michaelis_menten")
    ds = pkpd.exposure(m, "100 mg SC every 14 days x3")
    assert ds.attrs["engine"] == "ode" and "Gauss-Legendre" in ds.attrs["accuracy"]
    assert np.all(ds.Cmin <= ds.Ctrough) and np.all(ds.Ctrough < ds.Cmax)


@pytest.mark.parametrize("regimens, kw, message", [
    (LABEL, dict(intervals=[(4, 2)], time_unit="week"),
     r"Interval \(4, 2\) weeks: each needs finite times with 0 <= start < end. Give \(start, end\) pairs in weeks"),
    (LABEL, dict(intervals=[(-1, 2)]), r"Interval \(-1, 2\) days: each needs finite times with 0 <= start < end"),
    (LABEL, dict(intervals=(0, 4)), r"intervals must be a non-empty list of \(start, end\) pairs, got \(0, 4\)"),
    (LABEL, dict(intervals=[(0, 4)], horizon=10), "horizon= ends the last dosing interval; windows given with "
                                                  "intervals= have their own ends. Give one of them."),
    ("45 mg SC every 12 weeks", {}, "Regimen '45 mg SC every 12 weeks' repeats without end; give horizon= "
                                    r"\(in days; --horizon-weeks of pkpd exposure\), the end of its last dosing"),
    ("45 mg SC at weeks 0, 4", dict(time_unit="week"),
     r"its last dose \(day 28\) is not part of a repeat, so its dosing interval has no end; give horizon= "
     r"\(in weeks; --horizon-weeks of pkpd exposure\) or intervals="),
    ("placebo", {}, "No regimen gives a dose before the horizon"),
    (LABEL, dict(horizon=-3), r"horizon \(days\) must be > 0, got -3"),
    (LABEL, dict(time_unit="month"), "Unknown time unit 'month'"),
    (LABEL + "; if not PASI75 at week 16: 45 mg SC at week 16", {}, "has response-guided rules"),
    (LABEL, dict(n_subjects=0), "Number of virtual patients must be a whole number >= 1"),
])
def test_bad_input_is_refused_by_name(regimens, kw, message):
    with pytest.raises(pkpd.PkpdError, match=message):
        pkpd.exposure("ustekinumab_pk", regimens, **kw)


def test_bad_ode_step_and_datasets_are_refused():
    m = make_model(elimination="michaelis_menten")
    with pytest.raises(pkpd.PkpdError, match=r"ode_step \(days\) must be > 0, got 0"):
        pkpd.exposure(m, "100 mg SC every 14 days x3", ode_step=0)
    data = pkpd.read_nonmem(pd.DataFrame({"ID": [1], "TIME": [0], "AMT": [45], "CMT": [1]}), time_unit="day")
    with pytest.raises(pkpd.PkpdError, match="exposure works on regimens"):
        pkpd.exposure("ustekinumab_pk", data)


@pytest.mark.parametrize("kw, message", [
    (dict(bands=[100, 80]), r"Weight-band limits must increase strictly, got \[100.0, 80.0\] kg"),
    (dict(bands=-5), r"Weight-band limit \(kg\) must be > 0, got -5"),
    (dict(quantiles=[0.5, 0.05]), r"quantiles must be increasing numbers in \[0, 1\]"),
    (dict(quantiles=[95]), r"quantiles must be increasing numbers in \[0, 1\], e.g. \(0.05, 0.5, 0.95\); got \[95\]"),
])
def test_bad_summary_options_are_refused(kw, message):
    ds = pkpd.exposure("ustekinumab_pk", LABEL, n_subjects=3)
    with pytest.raises(pkpd.PkpdError, match=message):
        pkpd.summarize_exposure(ds, **kw)


def test_summaries_need_the_exposure_dataset_and_weights_for_bands():
    sim = pkpd.simulate("ustekinumab_pk", LABEL, [0, 7])
    with pytest.raises(pkpd.PkpdError, match=r"needs the dataset of pkpd.exposure; this one lacks \['AUC'"):
        pkpd.summarize_exposure(sim)
    no_weight = pkpd.exposure(make_model(), "100 mg SC every 7 days x2", n_subjects=4)
    assert "weight" not in no_weight
    with pytest.raises(pkpd.PkpdError, match="Weight bands need body weights"):
        pkpd.summarize_exposure(no_weight, bands=100)
    assert pkpd.summarize_exposure(no_weight).band.values.tolist() == ["all"]


def test_windows_and_horizons_read_time_unit():
    runs = [pkpd.exposure("ustekinumab_pk", LABEL, intervals=[(0, w), (w, 16 * f)], time_unit=u)
            for w, f, u in ((4, 1, "week"), (28, 7, "day"), (672, 168, "hour"))]
    for other in runs[1:]:
        xr.testing.assert_identical(other, runs[0])
    assert runs[0].end.values.tolist() == [[28.0, 112.0]]
    h = [pkpd.exposure("ustekinumab_pk", LABEL, horizon=x, time_unit=u) for x, u in ((30, "week"), (210, "day"))]
    xr.testing.assert_identical(h[0], h[1])
    assert h[0].end_week.values[0].tolist() == [4, 16, 28, 30]
