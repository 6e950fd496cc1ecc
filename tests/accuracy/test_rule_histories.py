"""Response-guided rules: the dosing histories a patient can follow are computed as they are met,
once each, for the nodes where some patients follow them (issue 10). Checked against patients
followed one by one on a fine grid of z, for the three kinds of scores (linear, mixture,
tabulated), and for the cost: k + 1 histories when responses only rise between checks."""

import numpy as np
import pytest
from scipy.special import ndtr

import pkpd
from pkpd.design import Design, RateEngine
from pkpd.endpoints import LinearScore, Mixture, TabulatedScore

LABEL = "45 mg if weight <= 100 kg else 90 mg SC at weeks 0, 4 then every 12 weeks"


def monthly(k, rule="if not PASI75 at week {w}: 45 mg SC at week {w}", base=LABEL):
    return base + "".join("; " + rule.format(w=4 * m) for m in range(1, k + 1))


def structure(tmp_path, kind):
    """The library's PASI model with another response structure (values near the phase II fit)."""
    model = pkpd.load_model({"pasi_turnover": "ustekinumab_pasi", "pasi_nonresponders": "ustekinumab_pasi_nonresponders",
                             "pasi_sensitivity": "ustekinumab_pasi_sensitivity"}[kind])
    assert model.pd["type"] == kind
    fit = pkpd.load_fit("ustekinumab_phase2").values
    return model.replace({k: fit[k] for k in ("kout", "IC50", "Pmax", "omega_response") if k in model.values})


def _values(score, node, t, z):
    """Scores of patients z of one node at time index t (one class: Linear or Tabulated)."""
    if isinstance(score, LinearScore):
        spread = np.broadcast_to(np.asarray(score.spread, float), score.level.shape[:-1] + (1,))
        return score.level[node, t] + spread[node, 0] * z
    table = np.broadcast_to(score.score[node, t], (z.size, score.z.size))
    return TabulatedScore(score.z, table).value(z)


def one_by_one(model, regimen, times, nodes, design, z, mass):
    """Rates (node, time, endpoint) and fired shares (node, rule) from patients on a grid of z
    followed rule by rule: each history's scores from an engine of its own regimen."""
    probe = RateEngine(model, {"r": regimen}, times, nodes, design)
    engines = {}

    def scores(code):
        if code not in engines:
            fired = {j for j in range(len(regimen.rules)) if code >> j & 1}
            engines[code] = RateEngine(model, {"h": regimen.history(fired)}, probe.eval_times, nodes,
                                       design).latent()[0]
        return engines[code]
    base = scores(0)
    classes = len(base.scores) if isinstance(base, Mixture) else 1
    weights = base.weights if isinstance(base, Mixture) else (1.0,)
    rules = probe._rules(0)
    cuts = probe.cuts(model.endpoints)
    rates = np.zeros((nodes.n, times.size, cuts.size))
    fired = np.zeros((nodes.n, len(rules)))
    for c in range(classes):
        def part(code):
            s = scores(code)
            return s.scores[c] if isinstance(s, Mixture) else s
        w = float(np.asarray(weights[c]))
        for i in range(nodes.n):
            code = np.zeros(z.size, dtype=np.int64)
            for j, (t, lower, upper) in enumerate(rules):
                value = np.empty(z.size)
                for h in np.unique(code):
                    at = code == h
                    value[at] = _values(part(int(h)), i, t, z[at])
                fires = (value >= (lower if lower is not None else -np.inf)) & (value < (upper if upper is not None
                                                                                         else np.inf))
                fired[i, j] += w * mass[fires].sum()
                code = code | (fires.astype(np.int64) << j)
            for k, t in enumerate(probe.out_index):
                value = np.empty(z.size)
                for h in np.unique(code):
                    at = code == h
                    value[at] = _values(part(int(h)), i, t, z[at])
                rates[i, k] += w * np.array([mass[value >= cut].sum() for cut in cuts])
    return rates, fired, len(engines)


# Top-ups for non-responders and a band rule, on q12w maintenance whose troughs make patients
# lose and regain responses between checks; with a switch, or with top-ups only (whose
# histories are built from one table of every rule's records), one of them in mg/kg.
LAST_RULES = {"switch": "; if PASI50-89 at week 28: switch to 90 mg SC every 8 weeks from week 28; "
                        "if not PASI50 at week 32: 90 mg SC at week 32",
              "top-ups": "; if PASI50-89 at week 28: 1 mg/kg SC at week 28; if not PASI50 at week 32: 90 mg SC at "
                         "week 32"}


@pytest.mark.parametrize("kind,last", [("pasi_turnover", "switch"), ("pasi_nonresponders", "switch"),
                                       ("pasi_sensitivity", "switch"), ("pasi_turnover", "top-ups"),
                                       ("pasi_sensitivity", "top-ups")])
def test_eight_monthly_rules_agree_with_patients_followed_one_by_one(tmp_path, kind, last):
    model = structure(tmp_path, kind)
    regimen = pkpd.parse_regimen(monthly(6) + LAST_RULES[last])
    design = Design(8)
    nodes = design.nodes(model)
    times = np.array([12.0, 30.0, 40.0]) * 7
    engine = RateEngine(model, {"r": regimen}, times, nodes, design)
    scores, cuts = engine.latent(), engine.cuts(model.endpoints)
    probs, share = engine.probabilities(0, scores, cuts)
    edges = np.linspace(-8.0, 8.0, 200_002)
    z, mass = 0.5 * (edges[1:] + edges[:-1]), np.diff(ndtr(edges))
    rates, fired, met = one_by_one(model, regimen, times, nodes, design, z, mass)
    # The grid puts each boundary of an interval of z within one cell (mass <= 3.2e-5).
    np.testing.assert_allclose(probs, rates, atol=2e-4)
    np.testing.assert_allclose(share, fired, atol=2e-4)
    assert len(engine._histories[0]) <= met < 2 ** len(regimen.rules)


def test_linear_scores_split_as_a_one_class_mixture_does():
    # Linear scores take a path vectorised over the pieces; a mixture of one class with weight 1
    # takes the general one. The two sum the same terms in another order: equal to rounding.
    fit = pkpd.load_fit("ustekinumab_phase2")
    engine = RateEngine(fit.model, {"r": monthly(12) + "; if PASI50-74 at week 50: 1 mg/kg SC at week 50"},
                        np.array([12.0, 30.0, 52.0]) * 7, fit.design.nodes(fit.model), fit.design)
    scores, cuts = engine.latent(), engine.cuts(fit.model.endpoints)
    assert isinstance(scores[0], LinearScore)
    probs, share = engine.probabilities(0, scores, cuts)
    latent_of = engine._latent_of()
    as_mixture = lambda traj, rows: Mixture((1.0,), (latent_of(traj, rows),))  # noqa: E731
    mixed = [Mixture((1.0,), (scores[0],))]
    probs_m, share_m = engine.probabilities(0, mixed, cuts, latent_of=as_mixture)
    np.testing.assert_allclose(probs, probs_m, rtol=0, atol=1e-13)
    np.testing.assert_allclose(share, share_m, rtol=0, atol=1e-13)
    assert share[:, -1].max() > 0.01  # the last rule fires for some patients


def test_a_rule_whose_doses_all_come_after_the_horizon_fires_for_the_non_responders():
    # Its history has no dose before the last time asked for: no record to mask or resolve.
    fit = pkpd.load_fit("ustekinumab_phase2")
    text = "placebo; if not PASI75 at week 12: 45 mg SC every 12 weeks from week 60"
    engine = RateEngine(fit.model, {"r": text}, np.array([12.0, 52.0]) * 7, fit.design.nodes(fit.model), fit.design)
    rates, fired = engine.evaluate()
    placebo = pkpd.predict(fit, {"p": "placebo"}, [12, 52], time_unit="week")
    assert fired[0, 0] == pytest.approx(1 - placebo.rate.sel(endpoint="PASI75").values[0, 0], abs=1e-12)
    np.testing.assert_allclose(rates[0], placebo.rate.values[0], rtol=0, atol=1e-12)


def test_when_responses_only_rise_the_histories_are_the_k_plus_1_prefixes():
    # Weekly checks while every patient's response is still rising: a non-responder at week w
    # who responds later never loses it, so rule j fires only for patients who fired rules 0..j-1.
    fit = pkpd.load_fit("ustekinumab_phase2")
    text = "45 mg SC every 2 weeks" + "".join(f"; if not PASI75 at week {w}: 45 mg SC at week {w}"
                                              for w in range(1, 13))
    engine = RateEngine(fit.model, {"r": text}, np.array([16 * 7.0]), fit.design.nodes(fit.model), fit.design)
    engine.evaluate()
    assert set(engine._histories[0]) == {frozenset(range(j)) for j in range(13)}


def test_twelve_monthly_rules_are_computed_within_budget_and_are_consistent():
    # The example: 12 monthly checks used to expand into 2^12 = 4096 regimens and run out
    # of memory. Responses fall between q12w doses, so histories multiply, but only those met.
    fit = pkpd.load_fit("ustekinumab_phase2")
    text = monthly(12)
    engine = RateEngine(fit.model, {"r": text}, np.array([4.0, 52.0]) * 7, fit.design.nodes(fit.model), fit.design)
    rates, fired = engine.evaluate()
    assert 12 < len(engine._histories[0]) < 1000
    assert np.all((fired >= 0) & (fired <= 1)) and np.all(np.diff(rates, axis=-1) <= 0)
    # The first check fires for exactly the week-4 non-responders of the base regimen.
    base = pkpd.predict(fit, {"base": LABEL}, [4], time_unit="week", endpoints=["PASI75"]).rate.item()
    assert fired[0, 0] == pytest.approx(1 - base, abs=1e-12)
    with pkpd.budget(rule_histories=20):
        with pytest.raises(pkpd.PkpdError, match=r"Regimen '.*': its 12 response-guided rules lead to more than 20 "
                                                 r"distinct dosing histories by rule \d+ \('if not PASI75 at week \d+"):
            RateEngine(fit.model, {"r": text}, np.array([52.0]) * 7, fit.design.nodes(fit.model),
                       fit.design).evaluate()
    with pytest.raises(pkpd.PkpdError, match=r"has 24 rules: 2\^24 variants, over the rule_histories budget"):
        pkpd.parse_regimen(monthly(24)).variants()


def test_histories_integrated_on_threads_keep_the_callers_numpy_error_state(monkeypatch):
    # The responses of rule histories run on worker threads; np.errstate is a context variable,
    # so without the caller's context they would run with numpy's defaults instead.
    from pkpd.pk import _on_mesh
    seen = []
    inner = _on_mesh.on_mesh

    def spy(*args, **kwargs):
        seen.append(np.geterr()["under"])
        return inner(*args, **kwargs)
    monkeypatch.setattr(_on_mesh, "on_mesh", spy)
    fit = pkpd.load_fit("ustekinumab_phase2")
    engine = RateEngine(fit.model, {"r": monthly(3)}, np.array([16 * 7.0]), fit.design.nodes(fit.model), fit.design)
    with np.errstate(under="raise"):
        engine.evaluate()
    assert len(set(engine._histories[0])) > 1 and seen and set(seen) == {"raise"}


def test_a_switch_at_the_rule_time_replaces_the_dose_due_then():
    regimen = pkpd.parse_regimen("45 mg SC at weeks 0, 4 then every 12 weeks until week 52; "
                                 "if not PASI75 at week 16: switch to 90 mg SC every 8 weeks from week 16 until week 32")
    doses = [(round(d.time / 7), d.amount.value) for d in regimen.history({0}).doses()]
    assert doses == [(0, 45.0), (4, 45.0), (16, 90.0), (24, 90.0), (32, 90.0)]  # no 45 + 90 mg at week 16


def test_a_top_up_on_a_base_dose_then_a_switch():
    # Two doses at one time (the base dose and a top-up) stay two doses when a later switch
    # rewrites the history as explicit doses (this used to fail with "Two identical doses").
    regimen = pkpd.parse_regimen("45 mg SC at weeks 0, 4 then every 12 weeks until week 52; "
                                 "if not PASI75 at week 16: 45 mg SC at week 16; "
                                 "if PASI50-74 at week 28: switch to 45 mg SC every 8 weeks from week 36")
    both = regimen.history({0, 1})
    assert [round(t / 7) for t in both.dose_times(horizon=52 * 7)] == [0, 4, 16, 16, 28, 36, 44, 52]
    assert pkpd.parse_regimen(str(both)) == both
    ds = pkpd.predict("ustekinumab_phase2", {"r": regimen}, [40], time_unit="week")
    assert 0 < ds.rule_fired.sel(rule=1).item() < ds.rule_fired.sel(rule=0).item() < 1


def test_scores_that_do_not_increase_with_z_are_refused():
    # Rates and rule splits read a responder as "z above a cut": a response model whose scores
    # fall with z (or have no positive spread) is refused by name rather than split wrongly.
    from pkpd.design import _as_score
    falling = TabulatedScore(np.array([-1.0, 0.0, 1.0]), np.array([[[2.0, 1.0, 0.0]]]))
    with pytest.raises(pkpd.PkpdError, match=r"Response model 'x' gives patients' scores that decrease with z \(from "
                                             r"z = -1 to 0\)"):
        _as_score(falling, None, "Response model 'x'")
    with pytest.raises(pkpd.PkpdError, match=r"Response model 'x' gives patients' scores with a spread that is not > 0"):
        _as_score(np.zeros((1, 2)), 0.0, "Response model 'x'")
    rising = TabulatedScore(np.array([-1.0, 0.0, 1.0]), np.array([[[0.0, 1.0, 1.0]]]))  # flat parts are fine
    assert _as_score(rising, None) is rising
