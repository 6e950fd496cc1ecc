"""Every public function and class refuses a wrong argument with a PkpdError (issue 10): each
argument of each call below is replaced in turn by values of the wrong kind or out of range;
the call either works (the value is allowed) or raises PkpdError, never anything else."""

import numpy as np
import pandas as pd
import pytest

import pkpd

HOSTILE = [None, "abc", float("nan"), float("inf"), -1, 0, [], {}, True, object(), [float("nan")],
           np.array([[1.0]]), "12", (1, 2)]


@pytest.fixture(scope="module")
def calls():
    fit = pkpd.load_fit("ustekinumab_phase2")
    pk, pasi = pkpd.load_model("ustekinumab_pk"), pkpd.load_model("ustekinumab_pasi")
    small = pkpd.Design(16)
    sim = pkpd.simulate(pk, "45 mg SC at week 0", [0, 7, 14])
    pred = pkpd.predict(fit, {"a": "45 mg SC at week 0", "b": "placebo"}, [12], time_unit="week")
    curve = pkpd.dose_response(fit, [0, 45], week=12)
    records = pd.DataFrame({"ID": [1, 1], "TIME": [0, 24], "AMT": [45, 0], "EVID": [1, 0], "CMT": [1, 2],
                            "WT": [80, 80], "diabetes": [0, 0]})
    data = pkpd.read_nonmem(records, time_unit="hour")
    rule = pkpd.parse_regimen("45 mg SC at week 0; if not PASI75 at week 4: 45 mg SC at week 4")
    return {
        "simulate": (pkpd.simulate, dict(model=pk, regimens="45 mg SC at week 0", times=[0, 7], time_unit="day",
                                         n_subjects=3, seed=0, weight=None, method="auto", solver="auto")),
        "simulate a dataset": (pkpd.simulate, dict(model=pk, regimens=data, times=None, seed=0, variability=True)),
        "predict": (pkpd.predict, dict(fit=fit, regimens="45 mg SC at week 0", times=[12], time_unit="week",
                                       endpoints=None, weight=None, subgroups=None, n_draws=0, draw_nodes=16,
                                       level=0.95, trial_size=None, seed=0)),
        "response_rates": (pkpd.response_rates, dict(model=pasi, regimens="45 mg SC at week 0", times=[12],
                                                     time_unit="week", endpoints=None, design=small, values=None)),
        "simulate_trial": (pkpd.simulate_trial, dict(model=pasi, regimens={"a": "45 mg SC at week 0"}, times=[12],
                                                     n_per_arm=5, time_unit="week", seed=0, design=small)),
        "simulate_response": (pkpd.simulate_response, dict(
            model=pk, regimens="45 mg SC at week 0", times=[0, 7], design=small, n_subjects=2,
            response=pkpd.IndirectResponse("I", kout=0.1, Imax=0.9, IC50=0.5))),
        "sample_population": (pkpd.sample_population, dict(model=pk, n=3, seed=0, weight=None, method="random")),
        "typical_population": (pkpd.typical_population, dict(model=pk, weight=None)),
        "Design": (pkpd.Design, dict(n_nodes=16, seed=0, step=7.0, ratio=2.0, order=5)),
        "dose_response": (pkpd.dose_response, dict(fit=fit, doses=[45], schedule="{dose} mg SC at week 0", week=12)),
        "compare_regimens": (pkpd.compare_regimens, dict(ds=pred, week=12, endpoint="PASI75")),
        "fit": (pkpd.fit, dict(model=pasi, trial="krueger2007_phase2", vary=["kout"], likelihood="multinomial",
                               starts=1, screen=4, seed=0, design=small, profile=False, priors=None)),
        "read_nonmem": (pkpd.read_nonmem, dict(source=records, time_unit="hour", covariates=(), weight="WT",
                                               parameters=None, compartments=None, ignore="#@C")),
        "write_nonmem": (pkpd.write_nonmem, dict(data={1: pkpd.parse_regimen("45 mg SC at week 0")}, weight=None,
                                                 times=None)),
        "Dataset.with_dv": (data.with_dv, dict(dv=[0.0, 1.0])),
        "plot_concentrations": (pkpd.plot_concentrations, dict(ds=sim, path=None)),
        "plot_response": (pkpd.plot_response, dict(ds=pred, endpoints=None, bands=None, marks=None)),
        "plot_dose_response": (pkpd.plot_dose_response, dict(ds=curve, endpoints=None, bands=None)),
        "plot_comparison": (pkpd.plot_comparison, dict(ds=pred, week=12, endpoint="PASI75")),
        "plot_fit": (pkpd.plot_fit, dict(result=fit)),
        "densify_times": (pkpd.densify_times, dict(times=[12, 28], horizon=None, time_unit="week", points=100)),
        "parse_regimen": (pkpd.parse_regimen, dict(text="45 mg SC at week 0")),
        "Amount": (pkpd.Amount, dict(value=45, unit="mg")),
        "Dose": (pkpd.Dose, dict(amount=45, route="infusion", time=0, rate=10.0)),
        "Course": (pkpd.Course, dict(amount=45, route="sc", times=(0.0,), every=7.0, count=2, unit="week")),
        "WeightBands": (pkpd.WeightBands, dict(amounts=(pkpd.Amount(45), pkpd.Amount(90)), limits=(100.0,))),
        "Rule": (pkpd.Rule, dict(time=28.0, lower=0, upper=75, courses=(pkpd.Course(45, "sc", (28.0,)),))),
        "Regimen": (pkpd.Regimen, dict(courses=(pkpd.Course(45, "sc", (0.0,)),), rules=())),
        "Regimen.events": (rule.base.events, dict(weight=80.0, horizon=100.0)),
        "Regimen.history": (rule.history, dict(fired={0})),
        "load_model": (pkpd.load_model, dict(source="ustekinumab_pk")),
        "load_trial": (pkpd.load_trial, dict(source="krueger2007_phase2")),
        "load_fit": (pkpd.load_fit, dict(source="ustekinumab_phase2")),
        "Model.replace": (pk.replace, dict(values={"CL": 0.3})),
        "Parameter": (pkpd.Parameter, dict(name="CL", value=0.3, unit="L/day", source="test", lower=0.0)),
        "Prior": (pkpd.Prior, dict(distribution="lognormal", median=0.016, sd=0.5, source="test")),
        "EndpointFamily": (pkpd.EndpointFamily, dict(prefix="XY", thresholds={"XY50": 0.5})),
        "emax": (pkpd.emax, dict(c=[1.0], Emax=1.0, EC50=0.5, hill=1.0)),
        "inhibition": (pkpd.inhibition, dict(c=[1.0], Imax=1.0, IC50=0.5, hill=1.0)),
        "IndirectResponse": (pkpd.IndirectResponse, dict(kind="I", kout=0.1, Imax=0.9, IC50=0.5)),
        "budget": (lambda **k: pkpd.budget(**k).__enter__(), dict(memory="1GB", doses=10, ode_seconds=1.0,
                                                                  rule_histories=10)),
    }


NAMES = ["simulate", "simulate a dataset", "predict", "response_rates", "simulate_trial", "simulate_response",
         "sample_population", "typical_population", "Design", "dose_response", "compare_regimens", "fit",
         "read_nonmem", "write_nonmem", "Dataset.with_dv", "plot_concentrations", "plot_response",
         "plot_dose_response", "plot_comparison", "plot_fit", "densify_times", "parse_regimen", "Amount", "Dose",
         "Course", "WeightBands", "Rule", "Regimen", "Regimen.events", "Regimen.history", "load_model", "load_trial",
         "load_fit", "Model.replace", "Parameter", "Prior", "EndpointFamily", "emax", "inhibition",
         "IndirectResponse", "budget"]


@pytest.mark.parametrize("name", NAMES)
def test_wrong_arguments_raise_only_pkpd_errors(calls, name):
    function, good = calls[name]
    function(**good)  # the good call works
    others = []
    for key in good:
        for value in HOSTILE:
            try:
                with pkpd.budget():
                    function(**dict(good, **{key: value}))
            except pkpd.PkpdError:
                continue
            except Exception as err:  # noqa: BLE001 - anything else is the failure this test looks for
                others.append(f"{key}={value!r}: {type(err).__name__}: {err}")
    assert not others, "\n".join(others)
