"""Exact PD: the response to a known concentration, against independent tight ODE solutions and
closed forms, on output grids on and off the integration mesh."""

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import pkpd
from pkpd.response import Trajectory, build_mesh

# Ustekinumab PK (Zhu 2009 values in the library model): typical patient, 90 kg.
CL, V, KA, F = 0.26598, 8.9804, 0.354, 0.572
DOSES = [0.0, 28.0]  # 45 mg SC at weeks 0 and 4
TIMES = np.array([0.5, 1.0, 3.3, 7.0, 14.0, 27.9, 28.0, 28.01, 30.0, 56.0, 70.5])


def conc(t):
    """Textbook 1-cmt SC superposition (Bateman function), written independently of pkpd."""
    k = CL / V
    return sum(F * 45 * KA / (V * (KA - k)) * (math.exp(-k * (t - d)) - math.exp(-KA * (t - d)))
               for d in DOSES if t > d)


def ode(rhs, y0, times):
    """DOP853 at rtol 1e-12, restarted at every dose (where the right-hand side has a kink)."""
    out, y, t0 = {}, [y0], 0.0
    for stop in DOSES[1:] + [float(times[-1])]:
        wanted = times[(times > t0) & (times <= stop)]
        sol = solve_ivp(rhs, (t0, stop), y, t_eval=wanted, rtol=1e-12, atol=1e-14, method="DOP853")
        out.update(zip(sol.t, sol.y[0]))
        y, t0 = sol.y[:, -1], stop
    return np.array([out[t] for t in times])


def inhibit(c, imax, ic50):
    return imax * c / (ic50 + c)


@pytest.mark.parametrize("kind, params, rhs", [
    ("I", dict(Imax=0.95, IC50=0.5), lambda t, r: 0.1 * (1 - inhibit(conc(t), 0.95, 0.5)) - 0.1 * r),
    ("II", dict(Imax=0.6, IC50=0.5), lambda t, r: 0.1 - 0.1 * (1 - inhibit(conc(t), 0.6, 0.5)) * r),
    ("III", dict(Emax=2.0, EC50=0.2), lambda t, r: 0.1 * (1 + inhibit(conc(t), 2.0, 0.2)) - 0.1 * r),
    ("IV", dict(Emax=2.0, EC50=0.2), lambda t, r: 0.1 - 0.1 * (1 + inhibit(conc(t), 2.0, 0.2)) * r),
])
def test_indirect_responses_are_exact_on_any_output_grid(kind, params, rhs, ustekinumab):
    model = ustekinumab.replace(bsv_CL=0.0, bsv_V=0.0)
    ds = pkpd.simulate_response(model, "45 mg SC at weeks 0, 4", TIMES, pkpd.IndirectResponse(kind, kout=0.1, **params))
    exact = ode(rhs, 1.0, TIMES)
    np.testing.assert_allclose(ds.concentration.values[0, 0], [conc(t) for t in TIMES], rtol=1e-12)
    np.testing.assert_allclose(ds.response.values[0, 0], exact, rtol=1e-8, atol=0)


def test_pasi_depth_is_exact_and_does_not_depend_on_the_other_times():
    from pkpd.design import Design, RateEngine
    values = dict(kout=0.04, IC50=0.3, Pmax=0.15, omega_response=0.6, Imax=0.95)
    m = pkpd.load_model("ustekinumab_pasi").replace(values, bsv_CL=0.0, bsv_V=0.0)
    pop = pkpd.typical_population(m)
    times = np.array([14.0, 42.0, 84.0])
    depth = np.exp(RateEngine(m, {"r": "90 mg SC weekly x4"}, times, pop, Design()).latent()[0].level[0])

    def c90(t):  # 90 mg SC at days 0, 7, 14, 21
        k = CL / V
        return sum(F * 90 * KA / (V * (KA - k)) * (math.exp(-k * (t - d)) - math.exp(-KA * (t - d)))
                   for d in (0.0, 7.0, 14.0, 21.0) if t > d)

    def rhs(t, r):
        inh = 1 - (1 - pkpd.inhibition(c90(t), Imax=0.95, IC50=0.3)) * (1 - 0.15)
        return 0.04 * (1 - inh) - 0.04 * r
    ref, y, t0 = {}, [1.0], 0.0
    for stop in (7.0, 14.0, 21.0, 84.0):
        sol = solve_ivp(rhs, (t0, stop), y, t_eval=np.union1d(times[(times > t0) & (times <= stop)], [stop]),
                        rtol=1e-12, atol=1e-14, method="DOP853")
        ref.update(zip(sol.t, sol.y[0]))
        y, t0 = sol.y[:, -1], stop
    ref = [ref[t] for t in times]
    np.testing.assert_allclose(depth, -np.log(ref), rtol=1e-8)
    # A value never depends on the other times asked for, on the mesh (whole weeks) or off it.
    more = np.array([1.5, 14.0, 20.25, 42.0, 50.0, 84.0, 100.0])
    other = np.exp(RateEngine(m, {"r": "90 mg SC weekly x4"}, more, pop, Design()).latent()[0].level[0])
    np.testing.assert_array_equal(other[[1, 3, 5]], depth)
    alone = [np.exp(RateEngine(m, {"r": "90 mg SC weekly x4"}, np.array([t]), pop, Design()).latent()[0].level[0, 0])
             for t in (1.5, 20.25, 50.0)]
    np.testing.assert_array_equal(other[[0, 2, 4]], alone)


def test_first_order_kernel_against_the_closed_form_for_an_exponential_input():
    # y' = k (e^{-a t} - y), y(0) = 0: y = k/(k - a) (e^{-a t} - e^{-k t}).
    k, a = 0.3, 1.7
    times = np.array([0.01, 0.5, 2.0, 7.0, 9.99, 14.0, 40.0])
    mesh = build_mesh([3.0, 9.0], times)
    u = np.exp(-a * mesh.nodes)[None]
    traj = Trajectory.from_rows(mesh, u, np.exp(-a * times)[None])
    y = traj.first_order(u, k)[0]
    np.testing.assert_allclose(y, k / (k - a) * (np.exp(-a * times) - np.exp(-k * times)), rtol=1e-10)
    # the same with the Hill input u = C/(c50 + C) for C = c50 e^{-a t}/(1 - e^{-a t}) is e^{-a t}
    c = np.exp(-a * mesh.nodes) / (1 - np.exp(-a * mesh.nodes))
    hill = Trajectory.from_rows(mesh, c[None], c[None, :1, 0]).first_order_hill(k, 0.0, 1.0, 1.0, 1.0)[0]
    np.testing.assert_allclose(hill, y, rtol=1e-12)


def test_mesh_places_weeks_on_panels_and_other_times_on_side_panels():
    mesh = build_mesh([0.0, 28.0], np.array([3.5, 7.0, 14.0, 15.0, 16.0, 84.0]))
    points = np.concatenate([[0.0], mesh.start[: mesh.n_main] + mesh.length[: mesh.n_main]])
    assert set(np.arange(0, 85.0, 7.0)) <= set(points)
    on_mesh = mesh.output <= mesh.n_main
    assert on_mesh.tolist() == [False, True, True, False, False, True]
    side = mesh.output[~on_mesh] - 1
    # 15 and 16 both start from the mesh point at 14: a value never depends on the other outputs
    assert mesh.start[side[1:]].tolist() == [14.0, 14.0] and mesh.length[side[1:]].tolist() == [1.0, 2.0]
    assert mesh.start[side[0]] + mesh.length[side[0]] == 3.5 and mesh.start[side[0]] > 0  # from a graded point
    assert np.allclose(mesh.weight.sum(axis=1), mesh.length)


# -- the one-pass kernel (concentrations and response together) ---------------------------------

def two_compartment_ode(p, i, kind, kout, R0, potency, effect, hill, times):
    """Independent reference: the 2-cmt model with depot (F, ka), a 100 mg 2-hour infusion at day 0
    and 50 mg SC at day 14, and the indirect response, as one ODE (DOP853, rtol 1e-12), restarted
    where the input has a kink (infusion end, the SC dose)."""
    CL, V, Q, V2, ka, F = (p[k][i] for k in ("CL", "V", "Q", "V2", "ka", "F"))
    rate = 100.0 / (2.0 / 24.0)

    def rhs(t, s, infusing):
        depot, central, peripheral, r = s
        c = central / V
        f = c ** hill[i] / (potency[i] ** hill[i] + c ** hill[i])
        production = kout[i] * R0[i] * (1.0 - effect * f if kind == "I" else 1.0 + effect * f)
        return [-ka * depot, ka * depot - (CL + Q) / V * central + Q / V2 * peripheral + (rate if infusing else 0.0),
                Q / V * central - Q / V2 * peripheral, production - kout[i] * r]
    state, out = [0.0, 0.0, 0.0, R0[i]], {}
    for start, stop, infusing, dose in ((0.0, 2.0 / 24.0, True, 0.0), (2.0 / 24.0, 14.0, False, 0.0),
                                        (14.0, float(times[-1]), False, 50.0 * F)):
        state[0] += dose
        wanted = times[(times > start) & (times <= stop)]
        sol = solve_ivp(rhs, (start, stop), state, t_eval=np.union1d(wanted, [stop]), args=(infusing,),
                        rtol=1e-12, atol=1e-14, method="DOP853")
        out.update(zip(sol.t, sol.y[3]))
        state = list(sol.y[:, -1])
    return np.array([out.get(t, R0[i]) for t in times])


@pytest.mark.parametrize("kind, hill", [("I", 1.0), ("III", 1.0), ("I", 2.0)])
def test_one_pass_response_of_a_two_compartment_model_with_infusion_and_per_patient_values(kind, hill):
    from helpers import make_model
    model = make_model("2cmt", bsv_CL=0.3, bsv_V=0.2)
    pop = pkpd.sample_population(model, 70, seed=3)  # more than one block of patients
    p = pop.individual(model)
    n = pop.n
    kout = np.linspace(0.05, 0.3, n)
    R0 = np.linspace(1.0, 3.0, n)
    potency = np.linspace(0.5, 5.0, n)
    hills = np.full(n, hill)
    params = dict(Imax=0.9, IC50=potency) if kind == "I" else dict(Emax=2.0, EC50=potency)
    idr = pkpd.IndirectResponse(kind, kout=kout, R0=R0, hill=hills, **params)
    times = np.array([0.0, 0.01, 0.5, 1.0, 3.3, 7.0, 13.9, 14.0, 14.2, 21.0, 30.5])
    regimen = "100 mg IV over 2 h at day 0 then 50 mg SC at day 14"
    ds = pkpd.simulate_response(model, regimen, times, idr, population=pop)
    for i in (0, 37, 69):
        exact = two_compartment_ode(p, i, kind, kout, R0, potency, 0.9 if kind == "I" else 2.0, hills, times)
        np.testing.assert_allclose(ds.response.values[0, i], exact, rtol=1e-8, atol=0)
    # The same response from stored node concentrations (the path response models use).
    from pkpd.design import Design, trajectory
    traj = trajectory(model, list(pkpd.dosing.named_regimens(regimen).values())[0], p, pop.weight,
                      Design().mesh([0.0, 2.0 / 24.0, 14.0], times))
    np.testing.assert_allclose(idr.solve(traj), ds.response.values[0], rtol=1e-13)
    np.testing.assert_allclose(traj.conc, ds.concentration.values[0], rtol=1e-13)


def test_a_cheaper_design_is_accurate_to_its_own_class():
    """Daily panels with 3 nodes, graded from 1/8 day (the benchmark's 1e-6 design): within 1e-6 of
    the exact response; the default design within 1e-8 on the same problem."""
    from pkpd.design import Design
    model = pkpd.load_model("ustekinumab_pasi").replace(bsv_CL=0.0, bsv_V=0.0)
    idr = pkpd.IndirectResponse("I", kout=0.1, Imax=0.95, IC50=0.5)
    times = np.arange(0.0, 71.0)
    exact = ode(lambda t, r: 0.1 * (1 - inhibit(conc(t), 0.95, 0.5)) - 0.1 * r, 1.0, times[1:])
    for design, tol in ((Design(step=1.0, first=1 / 8, order=3), 1e-6), (Design(), 1e-8)):
        ds = pkpd.simulate_response(model, "45 mg SC at weeks 0, 4", times, idr, design=design)
        np.testing.assert_allclose(ds.response.values[0, 0, 1:], exact, rtol=tol, atol=0)
