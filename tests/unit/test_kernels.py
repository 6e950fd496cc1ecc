"""The compiled building blocks against their references: the vectorising exponential, the
normal CDF (and how its coefficients were made), the mean of responder probabilities, the
mesh kernel on rows of shared propagator tables."""

import numpy as np
from numpy.polynomial import chebyshev
from scipy.special import erfcx, ndtr

from pkpd import _kernels
from pkpd.endpoints import LinearScore, normal_cdf

EPS = np.finfo(float).eps


def test_vectorised_exponential_is_correctly_rounded_to_two_ulps():
    x = np.concatenate([-np.geomspace(1e-300, 708.0, 20001), [0.0, -1e-320], np.linspace(-708, 5, 10001)])
    out = _kernels.vexp(x, np.empty_like(x), np.empty_like(x), x.size)
    np.testing.assert_allclose(out, np.exp(x), rtol=2 * EPS, atol=0)
    below = np.array([-708.5, -745.0, -1e4, -np.inf])
    assert _kernels.vexp(below, np.empty(4), np.empty(4), 4).tolist() == [0.0, 0.0, 0.0, 0.0]


def test_mills_ratio_coefficients_are_the_stated_interpolant():
    # (a + K) M(a), M the Mills ratio, as a function of t = (a - K)/(a + K): its degree-20
    # Chebyshev interpolant from scipy.special.erfcx, in powers of t (how _MILLS was made).
    K = _kernels._MILLS_K

    def h(t):
        a = K * (1 + t) / (1 - t)
        return (a + K) * np.sqrt(np.pi / 2) * erfcx(a / np.sqrt(2))
    coefficients = chebyshev.cheb2poly(chebyshev.chebinterpolate(h, 20))
    np.testing.assert_allclose(_kernels._MILLS, coefficients, rtol=1e-12, atol=1e-16)
    assert np.abs(_kernels._MILLS).max() < 2  # Estrin's scheme loses nothing


def test_normal_cdf_agrees_with_scipy_to_the_conditioning_of_the_tails():
    x = np.concatenate([np.linspace(-40, 40, 400001), [-np.inf, np.inf, 0.0, -0.0]])
    p, ref = normal_cdf(x), ndtr(x)
    np.testing.assert_allclose(p, ref, rtol=0, atol=2e-15)
    # Below -a the value's relative condition number is about a^2 (exp(-a^2/2)): allow 20 eps of it.
    lower = (x <= 0) & (ref > 1e-300)
    a = np.abs(x[lower])
    assert np.all(np.abs(p[lower] / ref[lower] - 1) <= 20 * EPS * (a * a + 1))
    assert np.isnan(normal_cdf(np.array([np.nan]))[0])
    assert normal_cdf(np.zeros((2, 3))).shape == (2, 3)


def test_mean_probability_is_the_mean_over_nodes():
    rng = np.random.default_rng(1)
    level = rng.normal(0, 2, (3, 500, 7))
    level[0, :, 0] = -np.inf  # no response yet
    spread = rng.uniform(0.3, 2.0, (3, 1, 1))
    cuts = np.array([-0.5, 0.3, 1.2])
    score = LinearScore(level, spread)
    expected = ndtr((level[..., None] - cuts) / spread[..., None]).mean(axis=-3)
    np.testing.assert_allclose(score.mean_probability(cuts), expected, rtol=1e-13, atol=1e-15)
    same = LinearScore(np.broadcast_to(level[:, :1], level.shape), spread)  # every node alike: one is enough
    np.testing.assert_allclose(same.mean_probability(cuts), ndtr((level[:, 0, :, None] - cuts) / spread),
                               rtol=1e-13, atol=1e-15)


def test_scores_of_a_subset_of_nodes_give_that_subset_s_mean():
    from pkpd.endpoints import Mixture, TabulatedScore
    rng = np.random.default_rng(2)
    cuts = np.array([0.1, 0.9])
    mask = rng.random(40) < 0.5
    tab = TabulatedScore(np.linspace(-3, 3, 7), np.sort(rng.normal(0, 1, (40, 5, 7)), axis=-1))
    lin = LinearScore(rng.normal(0, 1, (40, 5)), 0.7)
    mix = Mixture((rng.uniform(0, 1, 40), 0.3), (lin, LinearScore(rng.normal(0, 1, (40, 5)), 0.7)))
    for score in (lin, tab, mix):
        np.testing.assert_allclose(score.rows(mask).mean_probability(cuts), score.probability(cuts)[mask].mean(axis=0),
                                   rtol=1e-13, atol=1e-15)


def test_rows_of_shared_tables_give_each_patient_s_own_concentrations():
    # Dosing histories read their patient's propagators from tables shared by the engine
    # (Tables.rows): the mesh kernel gathers each block's lanes, which must equal computing them.
    import pkpd
    from pkpd.design import Design, breakpoints, regimen_events
    from pkpd.pk._on_mesh import Tables, _lanes_used, on_mesh
    model = pkpd.load_model("ustekinumab_pasi")
    pop = pkpd.sample_population(model, 150, seed=3, weight=np.linspace(50, 120, 150))
    ind = pop.individual(model)
    reg = pkpd.parse_regimen("90 mg IV at week 0 then 45 mg SC at weeks 8, 20")
    t = np.arange(0, 300, 7.0)
    events = regimen_events(model, reg, ind, pop.weight, t[-1])
    mesh = Design().mesh(breakpoints(model, reg, ind, pop.weight, t[-1], events), t)
    tables = Tables(model, ind, [mesh], True)
    idx = np.random.default_rng(0).integers(0, 150, 230)  # more rows than patients, repeats, across blocks
    part = {k: np.asarray(v)[idx] for k, v in ind.items()}
    ev = regimen_events(model, reg, part, pop.weight[idx], t[-1])
    shared, own = on_mesh(model, part, ev, mesh, tables=tables.rows(idx)), on_mesh(model, part, ev, mesh)
    np.testing.assert_allclose(shared[1], own[1], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(_lanes_used(shared[0], idx.size), _lanes_used(own[0], idx.size), rtol=1e-13, atol=1e-14)
    pd = (0.05, 0.0, 1.0, 0.3, 1.0, 0.0)
    y_shared = on_mesh(model, part, ev, mesh, response=pd, store=False, tables=tables.rows(idx))[3]
    np.testing.assert_allclose(y_shared, on_mesh(model, part, ev, mesh, response=pd, store=False)[3],
                               rtol=1e-13, atol=1e-15)
