"""NONMEM conformance: pkpd against NONMEM's own output for 89 dosing scenarios.

The reference data live outside the project, in ``../shared/reference/nonmem_conformance``
(README.md and SOURCES.md there give their provenance: mrgsolve/nmtests run 1001, NONMEM
7.5.1; ferx-core NONMEM anchors, NONMEM 7.6.0; Bauer 2019 run 402). They are read at test
time and never copied here. Each scenario's NONMEM model is turned into a pkpd model in
code, its records are read with :func:`pkpd.read_nonmem`, and the typical prediction
(NONMEM's PRED/CP with OMEGA 0) is compared record by record.

Tolerance, per record: the rounding of the printed value, half a unit in the last printed
digit (relative 0.5e-(d-1) for d significant digits, from the table's output format in
SOURCES.md), plus the reference's own numerical error: 1e-10 relative for NONMEM's ODE
solver (ADVAN13, TOL=12: the ss_arrival_flow anchors) and 1e-13 for its analytic ADVANs
(pkpd's closed form itself is exact to ~1e-14 here).

With CI=true the data must be there (a missing folder fails the run); elsewhere the
suite skips with the reason.
"""

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

import pkpd

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "nonmem_conformance"
IN_CI = os.environ.get("CI", "").lower() == "true"

# Significant digits NONMEM printed, by table (SOURCES.md: format of each table).
DIGITS = {
    "nmtests_1001": 5,                   # 1PE11.4
    "ferx_ss_first_order": 5,            # 1PE11.4
    "bauer402": 6,                       # s1PE12.5
    "ferx_ss_slow_advan2": 11,           # 1PE17.10
    "ferx_ss_slow_advan1": 11,
    "ferx_dose_cmt_ss_cmt1": 11,
    "ferx_oral_central_inf_advan2": 11,
    "ferx_oral_central_inf_advan4": 11,
    "ferx_ss_reset": 17,                 # s1PE23.16
    "ferx_ss_reset_tie": 17,
    "ferx_ss_arrival_flow": 17,
}
ODE_SOURCES = {"ferx_ss_arrival_flow"}  # ADVAN13 TOL=12; the others are analytic ADVANs
FAMILIES = {"nmtests": 29, "ferx": 59, "bauer402": 1}

# NONMEM names (hours) -> pkpd parameters; units are data, converted by the rows.
PARAMETERS = {"CL": ("CL", "L/h"), "V": ("V", "L"), "Q": ("Q", "L/h"), "V2": ("V2", "L"), "KA": ("ka", "1/h"),
              "F1": ("F", "1"), "ALAG1": ("tlag", "h")}
CENTRAL = {"F": ("F_central", "1"), "ALAG": ("tlag_central", "h")}


def _scenarios():
    path = DATA / "scenarios.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text())


SCENARIOS = _scenarios()


def _missing():
    reason = (f"NONMEM conformance data not found at {DATA.resolve()} (the shared reference folder beside the "
              "repository); they are read at test time, never copied into the project")
    if IN_CI:
        pytest.fail(reason + "; CI=true requires them.")
    pytest.skip(reason)


def model_for(scenario) -> tuple[pkpd.Model, dict]:
    """The scenario's NONMEM model as a pkpd model, and the dataset columns its $PK reads per record."""
    nm = scenario["model"]
    rows = [pkpd.Parameter(PARAMETERS[k][0], v, PARAMETERS[k][1], source=f"NONMEM control stream of {scenario['source']}")
            for k, v in nm.items() if k in PARAMETERS]
    columns = {}
    central = scenario["central"]
    for key, (name, unit) in CENTRAL.items():
        value = central.get(key)
        if isinstance(value, str):        # e.g. F2 = BIOAV: a data column, per record
            columns[name] = value
        elif value is not None and value != (1.0 if key == "F" else 0.0):
            rows.append(pkpd.Parameter(name, value, unit, source="NONMEM control stream"))
    if "MODE" in central:                 # IF(MODE.EQ.1) R2 = RAT2; IF(MODE.EQ.2) D2 = DUR2
        columns["rate_central"], columns["duration_central"] = "RAT2", "DUR2"
    model = pkpd.Model(scenario["id"], nm["structure"], nm["absorption"], "linear", tuple(rows))
    return model, columns


def records_for(scenario, columns):
    import pandas as pd
    table = pd.read_csv(DATA / "cases" / scenario["file"])
    if scenario["subject"] != "all":
        table = table[table.ID == scenario["subject"]]
    compartments = {int(k): ("depot" if v == "sc" else "central") for k, v in scenario["routes"].items()}
    data = pkpd.read_nonmem(table, time_unit=scenario["time_unit"], parameters=columns, compartments=compartments)
    return data, table[scenario["ref"]].to_numpy(float)


def tolerance(scenario, reference):
    digits = DIGITS[scenario["source"]]
    method = 1e-10 if scenario["source"] in ODE_SOURCES else 1e-13
    return (0.5 * 10.0 ** (1 - digits) + method) * np.abs(reference)


def test_the_reference_holds_89_scenarios_in_three_families():
    if SCENARIOS is None:
        _missing()
    assert len(SCENARIOS) == 89
    for family, count in FAMILIES.items():
        assert sum(s["id"].startswith(family) for s in SCENARIOS) == count, family
    assert {s["source"] for s in SCENARIOS} == set(DIGITS)


@pytest.mark.parametrize("scenario", SCENARIOS or [None], ids=[s["id"] for s in SCENARIOS or []] or ["missing"])
def test_scenario_matches_nonmem(scenario):
    if scenario is None:
        _missing()
    model, columns = model_for(scenario)
    data, reference = records_for(scenario, columns)
    sim = pkpd.simulate(model, data, variability=False)
    # The tables print concentrations in their own unit: CP = A(2)/(V/scale).
    predicted = sim.concentration.to_numpy() * scenario["scale"]
    allowed = tolerance(scenario, reference)
    error = np.abs(predicted - reference)
    worst = int(np.argmax(error - allowed))
    assert np.all(error <= allowed), (
        f"{scenario['id']} ({scenario['features']}): at TIME {data['TIME'][worst]:g} pkpd gives "
        f"{predicted[worst]!r}, NONMEM {reference[worst]!r} (difference {error[worst]:.3g}, allowed "
        f"{allowed[worst]:.3g})")
    assert math.isfinite(float(predicted.sum()))


@pytest.mark.parametrize("ci, outcome", [("true", "failed"), ("", "skipped")])
def test_missing_data_fail_in_ci_and_skip_elsewhere(tmp_path, ci, outcome):
    # A copy of this suite in a tree with no shared folder beside it: CI must fail, others skip.
    import subprocess
    import sys
    target = tmp_path / "repo" / "tests" / "reference"
    target.mkdir(parents=True)
    (target / "test_copy.py").write_text(Path(__file__).read_text())
    env = dict(os.environ, CI=ci)
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                          str(target / "test_copy.py"), "-k", "89_scenarios"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert f"1 {outcome}" in run.stdout, run.stdout + run.stderr
    assert "NONMEM conformance data not found" in run.stdout
