"""A response model and an endpoint family defined here, outside the package, run through
response_rates, fit and predict (rules included) like the built-in PASI model."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

import pkpd
from pkpd.model import FRACTION, POSITIVE


class DirectEmax(pkpd.ResponseModel):
    """Improvement = expit(logit(Emax C/(EC50 + C)) + omega z): a direct effect, no turnover."""

    name = "test_direct_emax"
    parameters = (pkpd.ParameterSpec("Emax", "1", FRACTION, "maximal improvement"),
                  pkpd.ParameterSpec("EC50", "mg/L", POSITIVE, "concentration of half-maximal improvement"),
                  pkpd.ParameterSpec("omega_logit", "1", POSITIVE, "SD of patients' logit improvement",
                                     individual=False))
    default_vary = ("EC50", "omega_logit")
    spread_parameter = "omega_logit"

    def latent(self, trajectory, values):
        v = {k: (x if np.ndim(x) == 0 else np.asarray(x)[:, None]) for k, x in values.items()}
        with np.errstate(divide="ignore"):
            return logit(pkpd.emax(trajectory.conc, v["Emax"], v["EC50"]))

    def cut(self, thresholds):
        return logit(np.asarray(thresholds, float))

    def improvement(self, score):
        return expit(score)


SALT = pkpd.EndpointFamily("SALT", {"SALT50": 0.5, "SALT75": 0.75, "SALT90": 0.9},
                           description="test family: improvement of a severity score")
pkpd.register_response_model(DirectEmax(), replace=True)
pkpd.register_endpoint_family(SALT, replace=True)

MODEL = """[model]
name = "direct"
pk_model = "ustekinumab_pk"

[pd]
type = "test_direct_emax"
endpoints = "SALT"

[parameters]
Emax        = { value = 0.95, unit = "1",     source = "test input" }
EC50        = { value = 0.5,  unit = "ug/mL", source = "test input", lower = 0.001, upper = 100 }
omega_logit = { value = 1.0,  unit = "1",     source = "test input", lower = 0.01, upper = 10 }
"""
ARMS = {"45 mg": "45 mg SC at week 0", "90 mg": "90 mg SC at week 0", "90 mg x4": "90 mg SC weekly x4"}
TRUE = {"EC50": 0.8, "omega_logit": 1.3}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "direct.toml"
    path.write_text(MODEL)
    return pkpd.load_model(path)


def test_rates_have_the_closed_form_of_the_model(model):
    design = pkpd.Design(n_nodes=64)
    ds = pkpd.response_rates(model.replace(bsv_CL=0.0, bsv_V=0.0, CL_diabetes=1.0), ARMS, [4, 12], time_unit="week",
                             design=design, weight=90.0)
    typical = pkpd.simulate(model, ARMS, [4, 12], time_unit="week").concentration.values[:, 0, :]
    e = 0.95 * typical / (0.5 + typical)  # every node is the typical patient here
    for k, x in enumerate((0.5, 0.75, 0.9)):
        expected = 1 - pkpd._endpoints.interval_probability(-np.inf, (logit(x) - logit(e)) / 1.0)
        np.testing.assert_allclose(ds.rate.values[..., k], expected, rtol=1e-13)
    assert ds.endpoint.values.tolist() == ["SALT50", "SALT75", "SALT90"]


@pytest.fixture(scope="module")
def trial(model):
    rates = pkpd.response_rates(model.replace(TRUE), ARMS, [12], time_unit="week",
                                endpoints=["SALT50", "SALT75"]).rate.values[:, 0, :]
    rows = [dict(arm=a, regimen=r, n=2000, week=12, endpoint=e, responders=int(round(2000 * rates[i, k])))
            for i, (a, r) in enumerate(ARMS.items()) for k, e in enumerate(["SALT50", "SALT75"])]
    return pkpd.load_trial(pd.DataFrame(rows))


def test_fit_recovers_the_parameters_of_a_new_model_and_family(model, trial):
    result = pkpd.fit(model, trial, starts=2)
    assert result.varying == ("EC50", "omega_logit")
    for name, value in TRUE.items():
        prof = result.profile[name]
        assert prof["lower"] < value < prof["upper"]  # 2000 patients per arm: a narrow interval
        assert result.values[name] == pytest.approx(value, rel=0.1)
    at_truth = pkpd.inference.Objective(model, trial)(dict(model.values, **TRUE))
    assert result.minus2ll <= at_truth + 1e-9  # the optimum is at least as good as the truth


def test_predict_with_a_rule_on_the_new_family(model, trial, tmp_path):
    result = pkpd.fit(model, trial, starts=1, profile=False)
    path = result.save(tmp_path / "fit.json")
    regimen = "90 mg SC at week 0; if not SALT75 at week 16: 90 mg SC at week 16"
    ds = pkpd.predict(path, {"rule": regimen, "base": "90 mg SC at week 0"}, [16, 20], time_unit="week",
                      n_draws=20)
    fired = ds.rule_fired.sel(regimen="rule", rule=0).item()
    assert fired == pytest.approx(1 - ds.rate.sel(regimen="base", time=112.0, endpoint="SALT75").item(), abs=1e-12)
    assert ds.rate.sel(regimen="rule", time=140.0).min() > ds.rate.sel(regimen="base", time=140.0).min()
    with pytest.raises(pkpd.PkpdError, match=r"has a rule on PASI .* but model 'direct' measures SALT"):
        pkpd.predict(path, "90 mg SC at week 0; if not PASI75 at week 16: 90 mg SC at week 16", [20],
                     time_unit="week")


def test_registration_is_checked():
    class Bad(DirectEmax):
        name = "test_bad"
        default_vary = ("nope",)
    with pytest.raises(pkpd.PkpdError, match=r"default_vary names \['nope'\], which are not its parameters"):
        pkpd.register_response_model(Bad())
    with pytest.raises(pkpd.PkpdError, match=r"already registered; pass replace=True"):
        pkpd.register_response_model(type("Other", (DirectEmax,), {})())
