"""Covariates: distributions in the virtual population, effects on parameters, file rows."""

import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import ndtr, ndtri

import pkpd
from pkpd.model._covariates import Covariate, weight_distribution

T = np.linspace(0.0, 84.0, 337)
HEAD = '''[model]
name = "cov"
structure = "1cmt"
absorption = "first_order"
elimination = "linear"

[parameters]
CL = { value = 0.3, unit = "L/day", source = "test value" }
V  = { value = 3.0, unit = "L", source = "test value" }
ka = { value = 0.4, unit = "1/day", source = "test value" }
F  = { value = 0.7, unit = "1", source = "test value" }
'''


def model_file(tmp_path, text, name="cov.toml"):
    path = tmp_path / name
    path.write_text(HEAD + text)
    return pkpd.load_model(path)


def bateman(CL, V, ka=0.4, F=0.7, dose=100.0, t=T):
    k = CL / V
    return F * dose * ka / (V * (ka - k)) * (np.exp(-k * t) - np.exp(-ka * t))


def test_power_effect_reproduces_allometric_concentrations_exactly(tmp_path):
    model = model_file(tmp_path, '''
[population]
weight = { median = 80, cv = 0.2, unit = "kg", source = "test" }

[effects]
CL_weight = { parameter = "CL", covariate = "weight", form = "power", reference = 154.32, unit = "lb", value = 0.75, lower = -2, upper = 2, source = "test" }
V_weight  = { parameter = "V", covariate = "weight", form = "power", reference = 70, unit = "kg", value = 1.0, source = "test" }
''')
    weights = np.array([45.0, 70.0, 120.0])
    pop = pkpd.sample_population(model, 3, weight=weights)
    conc = pkpd.simulate(model, "100 mg SC at day 0", T, population=pop).concentration.values[0]
    ref = 154.32 * 0.45359237  # lb -> kg: the reference is converted on entry
    for i, w in enumerate(weights):
        expected = bateman(0.3 * (w / ref) ** 0.75, 3.0 * (w / 70.0))
        np.testing.assert_allclose(conc[i], expected, rtol=1e-12, atol=1e-15)
    # the same as pkpd 0.1's weight_exponent_X rows with a reference weight
    legacy = model_file(tmp_path, LEGACY, "legacy.toml")
    old = pkpd.simulate(legacy, "100 mg SC at day 0", T, population=pkpd.sample_population(legacy, 3, weight=weights))
    new = pkpd.simulate(model, "100 mg SC at day 0", T, population=pop)
    # CL differs by the reference only: 154.32 lb is 69.9984 kg
    np.testing.assert_allclose(old.CL.values * (70.0 / ref) ** 0.75, new.CL.values, rtol=1e-14)
    np.testing.assert_array_equal(old.V.values, new.V.values)


LEGACY = """reference_weight = { value = 70, unit = "kg", source = "t" }
weight_exponent_CL = { value = 0.75, unit = "1", source = "t" }
weight_exponent_V = { value = 1.0, unit = "1", source = "t" }
"""


def test_categorical_effects_reproduce_subgroup_concentrations(tmp_path):
    model = model_file(tmp_path, '''
[population]
weight   = { median = 90, cv = 0.2, unit = "kg", source = "test" }
diabetes = { proportion = 0.2, source = "test" }

[effects]
CL_heavy    = { parameter = "CL", covariate = "weight", form = "above", threshold = 100, unit = "kg", value = 1.55, source = "test" }
V_heavy     = { parameter = "V", covariate = "weight", form = "above", threshold = 100, unit = "kg", value = 1.37, source = "test" }
CL_diabetes = { parameter = "CL", covariate = "diabetes", form = "factor", value = 1.12, source = "test" }
''')
    pop = pkpd.sample_population(model, 4, weight=[90.0, 100.0, 110.0, 110.0],
                                 covariates={"diabetes": [0, 1, 0, 1]})
    conc = pkpd.simulate(model, "100 mg SC at day 0", T, population=pop).concentration.values[0]
    for i, (heavy, diabetic) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):  # 100 kg is not above 100
        CL = 0.3 * 1.55 ** heavy * 1.12 ** diabetic
        V = 3.0 * 1.37 ** heavy
        np.testing.assert_allclose(conc[i], bateman(CL, V), rtol=1e-12, atol=1e-15)
    # the typical patient is at the median weight, without diabetes
    typical = pkpd.simulate(model, "100 mg SC at day 0", T).concentration.values[0, 0]
    np.testing.assert_allclose(typical, bateman(0.3, 3.0), rtol=1e-12, atol=1e-15)


def test_proportions_and_correlated_covariates_are_drawn_as_declared(tmp_path):
    model = model_file(tmp_path, '''
[population]
weight   = { median = 90, cv = 0.25, unit = "kg", source = "test" }
diabetes = { proportion = 0.15, source = "test" }
correlations = [ { between = ["weight", "diabetes"], value = 0.5, source = "test" } ]

[effects]
CL_diabetes = { parameter = "CL", covariate = "diabetes", form = "factor", value = 1.12, source = "test" }
''')
    n = 400_000
    pop = pkpd.sample_population(model, n, seed=5)
    d, w = pop.covariates["diabetes"], pop.weight
    assert set(np.unique(d)) == {0.0, 1.0}
    assert abs(d.mean() - 0.15) < 4 * math.sqrt(0.15 * 0.85 / n)
    sigma = math.sqrt(math.log1p(0.25 ** 2))
    z = np.log(w / 90.0) / sigma
    assert abs(z.mean()) < 4 / math.sqrt(n) and abs(z.std() - 1) < 4 / math.sqrt(2 * n)
    # P(diabetes | weight above its median) for scores with correlation 0.5 (bivariate normal)
    c = ndtri(0.85)
    joint = stats.multivariate_normal(cov=[[1, 0.5], [0.5, 1]]).cdf([0.0, -c])  # P(z1 < 0, -z2 < -c)... by symmetry
    expected = 2 * joint  # P(z2 > c | z1 > 0) = P(z1 > 0, z2 > c) / 0.5 = P(z1 < 0, z2 < -c) / 0.5
    heavy = z > 0
    p = d[heavy].mean()
    assert abs(p - expected) < 4 * math.sqrt(expected * (1 - expected) / heavy.sum())
    assert expected > 0.2  # the correlation is visible: heavier patients are more often diabetic
    # the design's Sobol nodes carry the covariates too; a model without covariates draws none
    nodes = pkpd.sample_population(model, 1024, method="sobol")
    assert abs(nodes.covariates["diabetes"].mean() - 0.15) < 4 / 1024
    plain = model_file(tmp_path, "", "plain.toml")
    assert pkpd.sample_population(plain, 64, method="sobol").covariates == {}


def test_a_band_maps_the_population_into_it_keeping_its_shape():
    w = weight_distribution(90.0, 0.22)
    heavy = w.within(100.0, math.inf)
    light = w.within(upper=100.0)
    N = 20_000
    u = ndtri((np.arange(N) + 0.5) / N)  # evenly spread scores
    x = heavy.values(u)
    assert x.min() > 100.0 and np.all(np.diff(x) > 0)
    # its distribution is the model's conditioned on the band: F(x | x > 100) at 120 kg
    s = lambda kg: math.log(kg / 90.0) / w.spread  # noqa: E731
    expected = (ndtr(s(120)) - ndtr(s(100))) / (1 - ndtr(s(100)))
    assert abs(np.mean(x <= 120.0) - expected) < 2.0 / N
    assert light.values(u).max() <= 100.0
    # far in the upper tail (a share of 1.4e-15 above 500 kg) the band keeps its precision:
    # F(x | x > 500) at 510 kg from survival functions
    far = w.within(500.0, math.inf).values(u)
    assert np.all(np.isfinite(far)) and far.min() > 500.0 and np.all(np.diff(far) > 0)
    expected = 1 - ndtr(-s(510)) / ndtr(-s(500))
    assert abs(np.mean(far <= 510.0) - expected) < 2.0 / N
    with pytest.raises(pkpd.PkpdError, match="lower end 100 must be below its upper end 90"):
        w.within(100, 90)
    with pytest.raises(pkpd.PkpdError, match="no patient of this distribution lies in"):
        Covariate("diabetes", "bernoulli", 0.0).within(0.5, 1.0)


@pytest.mark.parametrize("text, message", [
    ('[effects]\nCL_w = { parameter = "CLL", covariate = "weight", form = "power", reference = 70, value = 0.75, '
     'source = "t" }\n[population]\nweight = { median = 70, cv = 0.2, unit = "kg", source = "t" }\n',
     r"effect 'CL_w': 'CLL' is not a parameter that varies between patients.*Did you mean 'CL'"),
    ('[effects]\nCL_w = { parameter = "CL", covariate = "weight", form = "powr", reference = 70, value = 0.75, '
     'source = "t" }\n', r"unknown form 'powr'.*Did you mean 'power'"),
    ('[effects]\nCL_w = { parameter = "CL", covariate = "weight", form = "power", value = 0.75, source = "t" }\n',
     r"needs a reference value of 'weight'"),
    ('[effects]\nCL_w = { parameter = "CL", covariate = "weight", form = "above", reference = 70, value = 1.5, '
     'source = "t" }\n', r"`reference` does not go with form 'above'"),
    ('[effects]\nCL_d = { parameter = "CL", covariate = "diabetes", form = "factor", value = -1, source = "t" }\n'
     '[population]\ndiabetes = { proportion = 0.1, source = "t" }\n', r"CL_d.*must be > 0"),
    ('[population]\ndiabetes = { proportion = 1.2, source = "t" }\n', r"proportion must be >= 0 and <= 1, got 1.2"),
    ('[population]\ndiabetes = { proportion = 0.2, sd = 1, source = "t" }\n',
     r"give median and cv \(log-normal\), mean and sd \(normal\) or proportion"),
    ('[population]\nage = { mean = 40, sd = 10, unit = "yeers", source = "t" }\n', r"'yeers' is not a unit"),
    ('[effects]\nCL_d = { parameter = "CL", covariate = "diabetes", form = "factor", value = 1.1, source = "t" }\n'
     '[population]\ndiabetes = { proportion = 0.1, source = "t" }\nweight = { median = 80, cv = 0.2, unit = "kg", '
     'source = "t" }\ncorrelations = [ { between = ["weight", "diabetis"], value = 0.3, source = "t" } ]\n',
     r"names covariate 'diabetis'.*Did you mean 'diabetes'"),
    ('[effects]\nCL_d = { parameter = "CL", covariate = "diabetes", form = "factor", value = 1.1, source = "t" }\n'
     '[population]\ndiabetes = { proportion = 0.1, source = "t" }\nweight = { median = 80, cv = 0.2, unit = "kg", '
     'source = "t" }\ncorrelations = [ { between = ["weight", "diabetes"], value = 1.0, source = "t" } ]\n',
     r"correlations, entry 1: value must be > -1 and < 1, got 1.0"),
])
def test_bad_covariate_rows_are_refused_with_the_reason(tmp_path, text, message):
    with pytest.raises(pkpd.PkpdError, match=message):
        model_file(tmp_path, text)


def test_an_effect_without_its_covariate_in_the_patients_says_what_to_do(tmp_path):
    model = model_file(tmp_path, '[effects]\nCL_d = { parameter = "CL", covariate = "diabetes", form = "factor", '
                                 'value = 1.1, source = "t" }\n')
    with pytest.raises(pkpd.PkpdError, match=r"has an effect of covariate 'diabetes'.*covariates=\{'diabetes'"):
        pkpd.simulate(model, "100 mg SC at day 0", [1.0], n_subjects=3)
    conc = pkpd.simulate(model, "100 mg SC at day 0", T, population=pkpd.sample_population(
        model, 1, covariates={"diabetes": 1})).concentration.values[0, 0]
    np.testing.assert_allclose(conc, bateman(0.33, 3.0), rtol=1e-12, atol=1e-15)


def test_effect_strengths_are_parameters_that_can_be_replaced_and_carry_their_definition(tmp_path):
    model = model_file(tmp_path, '''
[population]
weight = { median = 80, cv = 0.2, unit = "kg", source = "test" }

[effects]
CL_weight = { parameter = "CL", covariate = "weight", form = "power", reference = 70, value = 0.75, lower = -2, upper = 2, source = "test" }
''')
    assert model.spec("CL_weight").transform.name == "identity"
    assert model["CL_weight"].value == 0.75 and model.replace(CL_weight=1.0).values["CL_weight"] == 1.0
    pop = pkpd.sample_population(model, 1, weight=140.0)
    c = pkpd.simulate(model.replace(CL_weight=1.0), "100 mg SC at day 0", T, population=pop).concentration.values[0, 0]
    np.testing.assert_allclose(c, bateman(0.6, 3.0), rtol=1e-12, atol=1e-15)
