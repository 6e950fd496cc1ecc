"""Priors, maximum a posteriori fits and posterior sampling."""

import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import expit, logit

import pkpd
from pkpd import Prior
from pkpd.design import Design
from pkpd.model._priors import prior_from_row
from pkpd.model import parameter_spec
from pkpd.model._parameters import IDENTITY, LOG, LOGIT

PHASE2 = "krueger2007_phase2"
FAST = Design(n_nodes=64)


@pytest.mark.parametrize("prior, frozen, xs", [
    (Prior("normal", mean=0.3, sd=0.1), stats.norm(0.3, 0.1), [0.05, 0.3, 0.61]),
    (Prior("lognormal", median=0.016, sd=0.5), stats.lognorm(0.5, scale=0.016), [0.004, 0.016, 0.07]),
    (Prior("beta", a=2, b=5), stats.beta(2, 5), [0.01, 0.2, 0.93]),
    (Prior("beta", a=0.5, b=0.5), stats.beta(0.5, 0.5), [0.01, 0.5, 0.93]),
])
@pytest.mark.parametrize("transform", [LOG, LOGIT, IDENTITY])
def test_prior_densities_on_the_fit_scale(prior, frozen, xs, transform):
    if (transform is LOGIT) != (prior.distribution == "beta") or (transform is IDENTITY and prior.distribution !=
                                                                  "normal"):
        return  # beta priors go with fractions (logit), lognormal with positive parameters (log)
    np.testing.assert_allclose(prior.logpdf(xs), frozen.logpdf(xs), rtol=1e-12, atol=1e-12)

    def density_of_y(x):  # the density of y = transform(x), by the change of variables
        return frozen.logpdf(x) + np.log(transform.derivative(x))

    mode = prior.fit_mode(transform)
    low, high = frozen.ppf(1e-5), frozen.ppf(1 - 1e-5)
    y = np.linspace(transform.forward(max(low, 1e-4) if transform is LOG else low), transform.forward(high), 400001)
    assert transform.forward(mode) == pytest.approx(y[np.argmax(density_of_y(transform.inverse(y)))],
                                                    abs=2 * (y[1] - y[0]))
    for x in xs:  # the least-squares residual squares to -2 log p(y) above its minimum, signed like x - mode
        r = prior.residual(x, transform)
        assert r ** 2 == pytest.approx(2 * (density_of_y(mode) - density_of_y(x)), rel=1e-10, abs=1e-12)
        assert x == mode or math.copysign(1, r) == math.copysign(1, x - mode)


def test_prior_rows_convert_units_and_refuse_what_they_cannot_read():
    kout = parameter_spec("kout")
    weekly = prior_from_row("kout", {"distribution": "lognormal", "median": 0.112, "sd": 0.5, "unit": "1/week",
                                     "source": "test"}, kout, "here")
    assert weekly.median == pytest.approx(0.016, rel=1e-14) and weekly.sd == 0.5
    ic50 = prior_from_row("IC50", {"distribution": "normal", "mean": 70, "sd": 20, "unit": "ug/mL",
                                   "source": "test"}, parameter_spec("IC50"), "here")
    assert (ic50.mean, ic50.sd) == pytest.approx((70.0, 20.0))  # ug/mL is mg/L
    hours = prior_from_row("kout", {"distribution": "normal", "mean": 1, "sd": 0.5, "unit": "1/h", "source": "t"},
                           kout, "here")
    assert (hours.mean, hours.sd) == pytest.approx((24.0, 12.0), rel=1e-14)
    bad = [
        ({"distribution": "lognormal", "median": 0.016, "sd": 0.5}, "names no source"),
        ({"distribution": "lognormal", "median": 0.016, "sdd": 0.5, "source": "x"}, "Did you mean 'sd'"),
        ({"distribution": "gamma", "a": 2, "b": 1, "source": "x"}, "Unknown prior distribution 'gamma'"),
        ({"distribution": "lognormal", "median": 0.016, "source": "x"}, "sd is missing"),
        ({"distribution": "lognormal", "median": -1, "sd": 0.5, "source": "x"}, "median"),
        ({"distribution": "lognormal", "median": 1, "sd": 0.5, "unit": "mg/L", "source": "x"}, "mg/L"),
        ({"distribution": "beta", "a": 2, "b": 5, "source": "x"}, "beta prior is for fractions"),
        ({"distribution": "normal", "mean": 1, "sd": 0, "source": "x"}, "Prior sd"),
    ]
    for row, message in bad:
        with pytest.raises(pkpd.PkpdError, match=message):
            prior_from_row("kout", row, kout, "here")
    with pytest.raises(pkpd.PkpdError, match="Beta prior a"):
        prior_from_row("Pmax", {"distribution": "beta", "a": 0, "b": 5, "source": "x"}, parameter_spec("Pmax"), "h")


def test_model_file_priors_section(tmp_path):
    path = tmp_path / "m.toml"
    text = dict(pkpd.load_model("ustekinumab_pasi").sources)["ustekinumab_pasi"].split("[priors]")[0]
    path.write_text(text.replace('name = "ustekinumab_pasi"', 'name = "m"') + '\n[priors]\n'
                    'kout = { distribution = "lognormal", median = 0.112, sd = 0.4, unit = "1/week", '
                    'source = "Rodriguez-Fernandez et al. 2024" }\n')
    model = pkpd.load_model(path)
    assert model.priors["kout"] == Prior("lognormal", median=0.016, sd=0.4)  # 0.112/week is 0.016/day
    assert pkpd.load_model("ustekinumab_pasi").priors["kout"] == Prior("lognormal", median=0.016, sd=0.5)
    path.write_text(path.read_text().replace("kout = {", "kuot = {"))
    with pytest.raises(pkpd.PkpdError, match="kuot.*Did you mean 'kout'"):
        pkpd.load_model(path)


def test_map_with_flat_priors_is_the_mle():
    mle = pkpd.fit("ustekinumab_pasi", PHASE2, design=FAST, profile=False, priors=False)
    assert not mle.is_map
    flat = {n: {"distribution": "flat", "source": "flat"} for n in mle.varying}
    same = pkpd.fit("ustekinumab_pasi", PHASE2, design=FAST, profile=False, priors=flat)
    for name in mle.varying:
        assert same.values[name] == pytest.approx(mle.values[name], rel=1e-6)
    assert same.minus2ll == pytest.approx(mle.minus2ll, abs=1e-9)


def test_map_without_data_is_the_prior_mode_on_the_fit_scale():
    priors = {"kout": Prior("lognormal", median=0.02, sd=0.3), "IC50": Prior("lognormal", median=0.2, sd=1.0),
              "Pmax": Prior("beta", a=2, b=8), "omega_response": Prior("normal", mean=0.7, sd=0.1)}
    fit = pkpd.fit("ustekinumab_pasi", None, priors=priors, profile=False, design=FAST)
    assert fit.is_map and fit.trial is None
    # lognormal on log: the median; beta(a, b) on logit: a / (a + b); normal on log: the root of x^2 - m x - s^2
    expected = {"kout": 0.02, "IC50": 0.2, "Pmax": 0.2, "omega_response": (0.7 + math.sqrt(0.49 + 0.04)) / 2}
    for name, value in expected.items():
        assert fit.values[name] == pytest.approx(value, rel=1e-6)
    with pytest.raises(pkpd.PkpdError, match=r"needs a prior; \['IC50'"):
        pkpd.fit("ustekinumab_pasi", None, priors={"kout": priors["kout"]}, profile=False, design=FAST)


def test_an_informative_prior_pulls_the_estimate_and_its_profile_counts_it():
    mle = pkpd.fit("ustekinumab_pasi", PHASE2, design=FAST, profile=False)
    prior = Prior("lognormal", median=0.016, sd=0.1)
    with pytest.warns(pkpd.IdentifiabilityWarning, match="'IC50' is not identifiable"):
        fit = pkpd.fit("ustekinumab_pasi", PHASE2, design=FAST, priors={"kout": prior})
    assert 0.016 * 0.8 < fit.values["kout"] < mle.values["kout"]
    # the objective is -2LL plus the prior's -2 log density above its mode: ((log kout - log 0.016) / 0.1)^2
    z = (math.log(fit.values["kout"]) - math.log(0.016)) / 0.1
    assert fit.objective == pytest.approx(fit.minus2ll + z * z, rel=1e-12)
    assert fit.minus2ll > mle.minus2ll
    lo, hi = fit.profile["kout"]["lower"], fit.profile["kout"]["upper"]
    assert lo < fit.values["kout"] < hi and hi / lo < 1.6  # the prior alone allows exp(2 * 1.96 * 0.1) = 1.48


def test_posterior_without_data_reproduces_the_prior():
    priors = {"kout": Prior("lognormal", median=0.02, sd=0.3), "IC50": Prior("lognormal", median=0.2, sd=1.0),
              "Pmax": Prior("beta", a=2, b=8), "omega_response": Prior("normal", mean=0.7, sd=0.1)}
    fit = pkpd.fit("ustekinumab_pasi", None, priors=priors, profile=False, design=FAST)
    post = pkpd.sample_posterior(fit, 8000, thin=10, burn=300, seed=3)
    info = post.posterior_info
    assert info["long_enough"]
    n_eff = info["effective_draws"] * len(post.posterior) / (info["walkers"] * (info["steps"] - info["burn"]))
    checks = {"kout": (np.log, 0.3, math.log(0.02)), "IC50": (np.log, 1.0, math.log(0.2)),
              "Pmax": (None, math.sqrt(2 * 8 / (10 ** 2 * 11)), 0.2), "omega_response": (None, 0.1, 0.7)}
    for name, (f, sd, mean) in checks.items():
        x = post.posterior[name].to_numpy()
        x = f(x) if f else x
        se = sd / math.sqrt(n_eff)
        assert abs(x.mean() - mean) < 4 * se, name
        # the SD's Monte Carlo error is about sd / sqrt(2 n_eff) for near-normal draws
        assert abs(x.std() - sd) < 4 * sd / math.sqrt(2 * n_eff) + 0.02 * sd, name


def test_posterior_is_seeded_saved_and_used_by_predict(tmp_path):
    fit = pkpd.fit("ustekinumab_pasi", PHASE2, design=FAST, profile=False,
                   priors={"kout": Prior("lognormal", median=0.016, sd=0.25, source="test")})
    with pytest.warns(pkpd.PkpdWarning, match="fewer than 50 integrated autocorrelation times"):
        a = pkpd.sample_posterior(fit, 400, thin=5, burn=100, seed=7)  # a short chain, and told so
    with pytest.warns(pkpd.PkpdWarning):
        b = pkpd.sample_posterior(fit, 400, thin=5, burn=100, seed=7)
    assert not a.posterior_info["long_enough"]
    assert a.posterior.equals(b.posterior)
    path = a.save(tmp_path / "post.json")
    back = pkpd.load_fit(path)
    np.testing.assert_array_equal(back.posterior.to_numpy(), a.posterior.to_numpy())
    assert back.priors["kout"] == fit.priors["kout"] and back.priors["kout"].source == "test"
    assert back.objective == a.objective and back.posterior_info["seed"] == 7
    # predict draws rows of the posterior: each draw's rate is the rate at that row's parameters
    ds = pkpd.predict(back, "45 mg SC at week 0", [12], time_unit="week", n_draws=3, draw_nodes=64, seed=0)
    rows = np.random.default_rng(0).choice(400, size=3, replace=False)
    coarse = back.design.coarse(64)

    def rate(model, design):
        return pkpd.response_rates(model, "45 mg SC at week 0", [12], time_unit="week", design=design).rate.values

    # draws are moved by the design difference at the estimates, on the logit scale
    shift = logit(rate(back.model, back.design)) - logit(rate(back.model, coarse))
    for k, row in enumerate(rows):
        model = back.model.replace(**back.posterior.iloc[row].to_dict())
        np.testing.assert_allclose(ds.rate_draw.values[k], expit(logit(rate(model, coarse)) + shift), rtol=1e-12)


def test_bad_posterior_options():
    fit = pkpd.load_fit("ustekinumab_phase2")
    with pytest.raises(pkpd.PkpdError, match="walkers"):
        pkpd.sample_posterior(fit, 10, walkers=3)
    with pytest.raises(pkpd.PkpdError, match="n_draws"):
        pkpd.sample_posterior(fit, 0)


def test_posterior_agrees_with_the_laplace_approximation_where_it_is_near_normal():
    """The phase II design with ten times the patients per arm (the same response shares,
    Krueger 2007): the posterior of the library model with its kout prior is near normal on
    the fit scale, and emcee's draws agree with the Laplace approximation (the MAP and the
    inverse Hessian of -2 log posterior / 2): means within 0.2 SE, SDs within 10%.

    On phase II itself (64 patients per arm) the posterior is not near normal (log IC50
    skewness about -2.4): there the sampler, not the Laplace approximation, is the answer."""
    table = pkpd.load_trial(PHASE2).table[["arm", "regimen", "n", "week", "endpoint", "responders"]].copy()
    table[["n", "responders"]] *= 10
    fit = pkpd.fit("ustekinumab_pasi", pkpd.load_trial(table), design=FAST, profile=False)
    post = pkpd.sample_posterior(fit, 4000, thin=10, burn=300, seed=1)
    assert post.posterior_info["long_enough"]
    mode = fit.problem().to_fit(fit.values)
    se = np.sqrt(np.diag(fit.covariance.to_numpy()))
    to_fit = {"log": np.log, "logit": lambda p: np.log(p / (1 - p))}
    for i, name in enumerate(fit.varying):
        y = to_fit[fit.transforms[name]](post.posterior[name].to_numpy())
        assert abs(stats.skew(y)) < 0.5, name  # near normal
        assert abs(y.mean() - mode[i]) < 0.2 * se[i], name
        assert abs(y.std() / se[i] - 1) < 0.1, name
