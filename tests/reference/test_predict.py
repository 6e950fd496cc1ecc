"""Predictions from the saved phase II fit: uncertainty, rules, populations, the CLI."""

import json

import numpy as np
import pytest

import pkpd
from pkpd.cli import main
from pkpd.design import Design, RateEngine

FIT = "ustekinumab_phase2"  # the library's reference fit
LABEL = "45 mg SC at weeks 0, 4 then every 12 weeks until week 52"
TOPUP = LABEL + "; if not PASI75 at week 16: 45 mg SC at week 16"
PHASE2 = {"45 mg x1": "45 mg SC at week 0", "90 mg x1": "90 mg SC at week 0",
          "45 mg weekly x4": "45 mg SC weekly x4", "90 mg weekly x4": "90 mg SC weekly x4", "placebo": "placebo"}


@pytest.fixture(scope="module")
def fit():
    return pkpd.load_fit(FIT)


def test_phase2_arms_reproduce_the_fitted_rates(fit):
    ds = pkpd.predict(fit, PHASE2, [12], time_unit="week", endpoints=["PASI75", "PASI90"])
    for row in fit.fitted_rates.itertuples():
        # Same design, same engine: equal to rounding across machines (bit-equal on the one
        # that wrote the file; test_phase2_fit.py checks bit-equality within one process).
        assert ds.rate.sel(regimen=row.arm, endpoint=row.endpoint).item() == pytest.approx(
            row.predicted, rel=1e-12, abs=1e-15)


def test_parameter_interval_contains_the_estimate_and_trial_interval_shrinks_with_n(fit):
    regs = dict(PHASE2, label=LABEL, topup=TOPUP)
    # 1000 draws: where parameter uncertainty dominates (placebo, 5-44% PASI50), the n = 64
    # binomial term widens the interval by a few points only, more than the quantiles' noise.
    small = pkpd.predict(fit, regs, [12, 28, 52], time_unit="week", n_draws=1000, trial_size=64, seed=3)
    large = pkpd.predict(fit, regs, [12, 28, 52], time_unit="week", n_draws=1000, trial_size=1000, seed=3)
    assert bool(((small.lower <= small.rate) & (small.rate <= small.upper)).all())
    assert float((small.upper - small.lower).min()) >= 0
    # Trial-size spread: wider for 64 patients than for 1000. Near 0 or 1 (placebo at 3%,
    # say) the parameter spread dominates both and 1/64 steps make quantiles tie.
    w64 = small.trial_upper - small.trial_lower
    w1000 = large.trial_upper - large.trial_lower
    informative = (small.rate > 0.05) & (small.rate < 0.95)
    assert int(informative.sum()) > 40
    assert bool((w64 > w1000).where(informative, True).all())
    assert float((w64 - w1000).where(informative).mean()) > 0.05
    # ...and the parameter interval itself does not depend on the trial size.
    np.testing.assert_array_equal(small.lower, large.lower)


def test_draws_come_from_the_fit_covariance(fit):
    ds = pkpd.predict(fit, {"a": LABEL}, [12], time_unit="week", n_draws=4000, seed=1)
    names, cov = list(fit.covariance.index), fit.covariance.values
    logs = np.column_stack([np.log(ds[f"draw_{n}"].values) if fit.transforms[n] == "log"
                            else np.log(ds[f"draw_{n}"].values / (1 - ds[f"draw_{n}"].values)) for n in names])
    # sample covariance of 4000 draws: each variance within ~10% (SE of a variance is sqrt(2/n) = 2.2%)
    np.testing.assert_allclose(np.diag(np.cov(logs.T)), np.diag(cov), rtol=0.1)


def test_week16_topup_fires_for_the_week16_non_responders(fit):
    ds = pkpd.predict(fit, {"label": LABEL, "topup": TOPUP}, [16, 28], time_unit="week", endpoints=["PASI75"])
    fired = ds.rule_fired.sel(regimen="topup", rule=0).item()
    non_responders = 1 - ds.rate.sel(regimen="label", time=112.0).item()
    assert fired == pytest.approx(non_responders, abs=1e-12)
    assert 0.2 < fired < 0.6
    assert ds.rule_text.sel(regimen="topup", rule=0).item() == "if not PASI75 at week 16: 45 mg SC at week 16"
    # The top-up helps at week 28 and changes nothing before it is given.
    assert ds.rate.sel(regimen="topup", time=196.0).item() > ds.rate.sel(regimen="label", time=196.0).item()
    assert ds.rate.sel(regimen="topup", time=112.0).item() == pytest.approx(
        ds.rate.sel(regimen="label", time=112.0).item(), abs=1e-12)


def test_a_rule_that_adds_nothing_leaves_the_rates_alone(fit):
    ds = pkpd.predict(fit, {"label": LABEL, "noop": LABEL + "; if PASI50-74 at week 28: 0 mg SC at week 28"},
                      [12, 28, 40, 52], time_unit="week")
    np.testing.assert_allclose(ds.rate.sel(regimen="noop"), ds.rate.sel(regimen="label"), rtol=1e-9, atol=1e-12)
    share = ds.rule_fired.sel(regimen="noop", rule=0).item()
    pasi = ds.rate.sel(regimen="label", time=196.0)
    assert share == pytest.approx((pasi.sel(endpoint="PASI50") - pasi.sel(endpoint="PASI75")).item(), abs=1e-9)


def test_rules_agree_with_a_per_patient_monte_carlo(fit):
    # Independent check of the interval logic: draw each patient's response scale s and
    # follow the two rules patient by patient on the same nodes' depths.
    regimen = pkpd.parse_regimen(
        "90 mg SC at weeks 0, 4 then every 12 weeks until week 52; if not PASI50 at week 8: 90 mg SC at week 8; "
        "if PASI50-89 at week 28: switch to 90 mg SC every 8 weeks from week 36 until week 52")
    model = fit.model
    nodes = pkpd.sample_population(model, 256, seed=0, method="sobol")
    times = np.array([8.0, 28.0, 44.0, 52.0]) * 7
    eng = RateEngine(model, {"r": regimen}, times, nodes, Design())
    analytic = eng.rates(endpoints=model.select_endpoints(["PASI50", "PASI75", "PASI90"]))[0]
    fired = eng.evaluate()[1][0]
    # Each of the four dosing histories on its own (its own engine and mesh), at the engine's times.
    histories = [frozenset(), frozenset({0}), frozenset({1}), frozenset({0, 1})]
    depths = [np.exp(RateEngine(model, {"v": regimen.history(h)}, eng.eval_times, nodes, Design()).latent()[0].level)
              for h in histories]
    variant = {h: i for i, h in enumerate(histories)}
    omega = model.values["omega_response"]
    rng = np.random.default_rng(11)
    n_per_node = 400
    s = np.exp(omega * rng.standard_normal((n_per_node, nodes.n)))
    t_index = {t: i for i, t in enumerate(eng.eval_times)}
    state = np.zeros(s.shape, dtype=int)  # bit j set: rule j fired
    masks = {frozenset(): 0, frozenset({0}): 1, frozenset({1}): 2, frozenset({0, 1}): 3}
    inverse = {v: k for k, v in masks.items()}

    def depth_of(t):
        d = np.empty(s.shape)
        for code, fired_set in inverse.items():
            d = np.where(state == code, depths[variant[fired_set]][:, t_index[t]][None, :], d)
        return d
    improvement = 1 - np.exp(-s * depth_of(56.0))
    rule0 = improvement < 0.5
    state = np.where(rule0, 1, 0)
    improvement = 1 - np.exp(-s * depth_of(196.0))
    rule1 = (improvement >= 0.5) & (improvement < 0.9)
    state = state + np.where(rule1, 2, 0)
    assert rule0.mean() == pytest.approx(fired[0], abs=4 * np.sqrt(0.25 / rule0.size))
    assert rule1.mean() == pytest.approx(fired[1], abs=4 * np.sqrt(0.25 / rule1.size))
    for k, t in enumerate(times):
        imp = 1 - np.exp(-s * depth_of(t))
        for e, x in enumerate((0.5, 0.75, 0.9)):
            mc = (imp >= x).mean()
            assert mc == pytest.approx(analytic[k, e], abs=4 * np.sqrt(0.25 / imp.size)), (t, x)


def test_subgroups_partition_the_population(fit):
    ds = pkpd.predict(fit, {"label": LABEL, "banded": "45 mg if weight <= 100 kg else 90 mg SC at weeks 0, 4 "
                            "then every 12 weeks until week 52"}, [12, 52], time_unit="week", subgroups=100)
    assert ds.subgroup.values.tolist() == ["all", "<= 100 kg", "> 100 kg"]
    np.testing.assert_array_equal(ds.rate_by_subgroup.sel(subgroup="all"), ds.rate)
    share = ds.subgroup_share.sel(subgroup=["<= 100 kg", "> 100 kg"])
    mixed = (ds.rate_by_subgroup.sel(subgroup=["<= 100 kg", "> 100 kg"]) * share).sum("subgroup")
    np.testing.assert_allclose(mixed, ds.rate, rtol=1e-12)
    # The weight band changes nothing at or under 100 kg and helps the heavier patients.
    light, heavy = ds.rate_by_subgroup.sel(subgroup="<= 100 kg"), ds.rate_by_subgroup.sel(subgroup="> 100 kg")
    np.testing.assert_array_equal(light.sel(regimen="banded"), light.sel(regimen="label"))
    assert bool((heavy.sel(regimen="banded") > heavy.sel(regimen="label")).all())


def test_heavier_populations_respond_less_to_a_fixed_dose(fit):
    base = pkpd.predict(fit, {"a": LABEL}, [12], time_unit="week").rate
    heavy = pkpd.predict(fit, {"a": LABEL}, [12], time_unit="week", weight={"median": 120.0, "cv": 0.1}).rate
    assert bool((heavy < base).all())


def test_dose_response_rises_and_ranking_orders(fit):
    dr = pkpd.dose_response(fit, [0, 22.5, 45, 90, 180], week=12)
    assert dr.dose.values.tolist() == [0, 22.5, 45, 90, 180]
    assert dr.attrs["schedule"] == "{dose} mg SC at week 0"
    assert dr.regimen_text.sel(dose=22.5).item() == "22.5 mg SC at week 0"
    assert float(dr.rate.diff("dose").min()) > 0
    ds = pkpd.predict(fit, PHASE2, [12], time_unit="week")
    ranked = pkpd.compare_regimens(ds, 12, "PASI75")
    assert ranked["regimen"].tolist() == ["90 mg weekly x4", "45 mg weekly x4", "90 mg x1", "45 mg x1", "placebo"]
    with pytest.raises(pkpd.PkpdError, match=r"Week 13 is not among the predicted weeks"):
        pkpd.compare_regimens(ds, 13)


@pytest.mark.parametrize("kwargs, message", [
    (dict(level=1.5), r"level must be > 0 and < 1, got 1.5"),
    (dict(n_draws=-1), r"n_draws must be a whole number >= 0, got -1"),
    (dict(trial_size=0), r"trial_size must be a whole number >= 1, got 0. It is a number of patients"),
    (dict(subgroups={"x": (100, 50)}), r"Subgroup 'x': low 100 kg must be below high 50 kg"),
    (dict(subgroups={"x": (500, 600)}), r"Subgroup 'x' \(500, 600\] kg holds none"),
    (dict(weight={"median": 90}), r"missing \['cv'\]"),
    (dict(endpoints=["PASI80"]), r"Unknown endpoint 'PASI80'"),
])
def test_bad_predict_input(fit, kwargs, message):
    with pytest.raises(pkpd.PkpdError, match=message):
        pkpd.predict(fit, {"a": LABEL}, [12], time_unit="week", **kwargs)


def test_simulate_refuses_rules_and_trials_refuse_rules(fit):
    with pytest.raises(pkpd.PkpdError, match=r"has response-guided rules"):
        pkpd.simulate("ustekinumab_pk", TOPUP, [1.0])
    with pytest.raises(pkpd.PkpdError, match=r"does not follow response-guided rules"):
        pkpd.simulate_trial(fit.model, {"a": TOPUP}, [12], 10, time_unit="week")


def test_cli_predict_json_parses_and_reports_rules(capsys, tmp_path):
    png = tmp_path / "p.png"
    code = main(["predict", "--fit", FIT, "--regimen", TOPUP, "--regimen", "90 mg SC weekly x4", "--at-week",
                 "12", "28", "52", "--draws", "40", "--trial-size", "64", "--json", "--quiet", "--plot", str(png)])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["predictions"]) == 2 * 3 * 4
    row = out["predictions"][0]
    assert {"regimen", "week", "endpoint", "rate", "lower", "upper", "trial_lower", "trial_upper"} <= set(row)
    assert row["lower"] <= row["rate"] <= row["upper"]
    assert out["rules"][0]["rule"] == "if not PASI75 at week 16: 45 mg SC at week 16"
    assert 0 < out["rules"][0]["fired"] < 1
    assert png.stat().st_size > 20_000


@pytest.mark.parametrize("argv, message", [
    (["--regimen", "45 mg SC at wek 0", "--at-week", "12"], "word 5 'wek'"),
    (["--regimen", "45 mg SC at week 0", "--at-week", "12", "60", "--horizon-weeks", "52"],
     "Week 60 is outside the simulated range [0, 52] weeks"),
    (["--regimen", "45 mg SC at week 0", "--at-week", "-1", "12"], "Week -1 is outside the simulated range"),
])
def test_cli_predict_errors_are_one_line_with_exit_code_2(argv, message, capsys):
    assert main(["predict", "--fit", FIT] + argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_cli_predict_missing_fit_file(capsys, tmp_path):
    assert main(["predict", "--fit", str(tmp_path / "none.json"), "--regimen", "placebo", "--at-week", "12"]) == 2
    err = capsys.readouterr().err
    assert "No fit file" in err and err.count("\n") == 1
