"""NONMEM datasets in and out: data conventions, errors naming the record, round trips."""

import math

import numpy as np
import pandas as pd
import pytest

import pkpd
from helpers import make_model

# A dataset as a pharmacometrician brings it: a header, a commented-out row (C), NONMEM's
# '.', extra columns (SITE, a C flag column), WT per ID, TIME in hours, observations.
CSV = """C,ID,TIME,AMT,EVID,CMT,DV,MDV,WT,SITE
.,1,0,100,1,1,.,1,70,A
.,1,0,.,0,1,.,1,70,A
.,1,12,.,0,1,3.1,0,70,A
C,1,13,450,1,1,.,1,70,A
.,1,24,.,0,1,1.2,0,70,A
.,2,0,200,1,1,.,1,95.5,B
.,2,6,.,0,1,5.0,0,95.5,B
.,2,48,.,0,1,0.4,0,95.5,B
"""


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def iv_model(**values):
    # One compartment, IV: C(t) = D/V exp(-CL/V t), CL and V scaled by (WT/70)^(0.75, 1).
    base = dict(CL=0.3, V=3.0, reference_weight=70.0, weight_exponent_CL=0.75, weight_exponent_V=1.0)
    base.update(values)
    return make_model(absorption="none", **base)


def test_read_nonmem_follows_nonmem_data_conventions(tmp_path):
    data = pkpd.read_nonmem(write(tmp_path, CSV), time_unit="hour")
    assert data.n_individuals == 2 and data.n_records == 7
    assert data.skipped == (5,)                        # the 'C' row (CSV line 5), not a 450 mg dose
    assert data.ids.tolist() == [1, 2]
    assert data.covariates == ("WT",) and data.weight == "WT"
    assert data["AMT"].tolist() == [100, 0, 0, 0, 200, 0, 0]   # '.' is 0 for data items
    assert np.isnan(data["DV"][:2]).all() and data["DV"][2] == 3.1  # and missing for DV
    assert data["SITE"].tolist() == ["A"] * 4 + ["B"] * 3       # extra columns kept as written
    assert data["TIME"].tolist() == [0, 0, 12, 24, 0, 6, 48]   # in the file's unit (hours)
    assert len(data.doses) == 2 and len(data.observations) == 5
    assert data.constant_covariates().WT.tolist() == [70.0, 95.5] and data.time_varying() == ()
    with pytest.raises(ValueError):
        data["AMT"][0] = 5.0                           # frozen


def test_the_time_unit_is_never_guessed(tmp_path):
    with pytest.raises(pkpd.PkpdError, match=r"read_nonmem needs time_unit= \('hour', 'day' or 'week'\)"):
        pkpd.read_nonmem(write(tmp_path, CSV))
    with pytest.raises(pkpd.PkpdError, match=r"Unknown time unit 'minutes'"):
        pkpd.read_nonmem(write(tmp_path, CSV), time_unit="minutes")


def test_a_new_id_block_is_a_new_individual(tmp_path):
    text = "ID,TIME,AMT,EVID,CMT\n1,0,100,1,1\n1,24,0,0,1\n2,0,50,1,1\n2,24,0,0,1\n1,0,10,1,1\n1,24,0,0,1\n"
    data = pkpd.read_nonmem(write(tmp_path, text), time_unit="hour")
    assert data.n_individuals == 3 and data.ids.tolist() == [1, 2, 1]
    sim = pkpd.simulate(iv_model(), data, weight=70.0, variability=False)
    c = sim.concentration.values[[1, 3, 5]]
    # Each block has its own dose: 100, 50 and 10 mg, exp(-0.1/day * 1 day) later.
    np.testing.assert_allclose(c, np.array([100, 50, 10]) / 3.0 * math.exp(-0.1), rtol=1e-14)


@pytest.mark.parametrize("row, message", [
    ("1,0,100,1.5,1,0,0", r"ID 1, row 1 \(CSV line 2\), column EVID: 1.5 is not allowed; EVID is a whole number"),
    ("1,0,100,1,1,0,2.7", r"ID 1, row 1 \(CSV line 2\), column ADDL: 2.7 is not allowed; ADDL is a whole number"),
    ("1,0,100,1,1.2,0,0", r"column CMT: 1.2 is not allowed; CMT is a whole number"),
    ("1,0,100,1,1,3,0", r"column SS: 3 is not allowed; SS is a whole number \(0..2\)"),
    ("1,0,100,7,1,0,0", r"column EVID: 7 is not allowed"),
    ("1,0,-5,1,1,0,0", r"column AMT: AMT -5 is negative"),
    ("1,0,abc,1,1,0,0", r"ID 1, row 1 \(CSV line 2\), column AMT: 'abc' is not a number"),
    ("1,.,100,1,1,0,0", r"column TIME: TIME is missing"),
    ("1,0,100,0,1,0,0", r"column AMT: EVID 0 \(observation\) carries no dose, but AMT is 100"),
    ("1,0,100,1,1,0,3", r"column II: ADDL 3 needs the interval II > 0"),
    ("1,0,100,1,1,2,0", r"column II: SS 2 needs the dosing interval II > 0"),
    ("1,-1,100,1,1,0,0", r"column TIME: TIME -1 is negative"),
])
def test_bad_records_name_the_id_the_row_and_the_column(tmp_path, row, message):
    text = "ID,TIME,AMT,EVID,CMT,SS,ADDL\n" + row + "\n"
    with pytest.raises(pkpd.PkpdError, match=message):
        pkpd.read_nonmem(write(tmp_path, text), time_unit="hour")


def test_more_bad_records(tmp_path):
    with pytest.raises(pkpd.PkpdError, match=r"ID 2, row 3 \(CSV line 4\), column TIME: TIME 1 is before the previous"):
        pkpd.read_nonmem(write(tmp_path, "ID,TIME,AMT\n1,0,5\n2,5,5\n2,1,5\n"), time_unit="day")
    with pytest.raises(pkpd.PkpdError, match=r"column RATE: RATE -3 is not allowed"):
        pkpd.read_nonmem(write(tmp_path, "ID,TIME,AMT,EVID,RATE\n1,0,5,1,-3\n"), time_unit="day")
    with pytest.raises(pkpd.PkpdError, match=r"has no TIME column"):
        pkpd.read_nonmem(write(tmp_path, "ID,AMT\n1,5\n"), time_unit="day")
    with pytest.raises(pkpd.PkpdError, match=r"CSV line 3: 3 fields, but the header names 2 columns"):
        pkpd.read_nonmem(write(tmp_path, "ID,TIME\n1,0\n1,2,3\n"), time_unit="day")
    with pytest.raises(pkpd.PkpdError, match=r"ID 1, row 1 \(CSV line 2\), column WT: body weight '\.' is not allowed"):
        pkpd.read_nonmem(write(tmp_path, "ID,TIME,WT\n1,0,.\n"), time_unit="day")
    with pytest.raises(pkpd.PkpdError, match=r"Covariate column 'AEG' is not in the dataset.*Did you mean 'AGE'"):
        pkpd.read_nonmem(write(tmp_path, "ID,TIME,AGE\n1,0,40\n"), time_unit="day", covariates=["AEG"])


def test_without_evid_records_with_an_amount_are_doses(tmp_path):
    # NONMEM's default without EVID: AMT > 0 (MDV 1) is a dose; the others observations.
    data = pkpd.read_nonmem(write(tmp_path, "ID,TIME,AMT,DV\n1,0,250,.\n1,2,.,4.1\n1,4,.,.\n"), time_unit="hour")
    assert data["EVID"].tolist() == [1, 0, 0] and data["MDV"].tolist() == [1, 0, 0]
    assert data["CMT"].tolist() == [0, 0, 0]  # CMT 0 on a dose is NONMEM's default dose compartment, 1


def test_dosing_into_a_compartment_the_model_lacks_names_the_record(tmp_path):
    data = pkpd.read_nonmem(write(tmp_path, "ID,TIME,AMT,EVID,CMT\n1,0,100,1,1\n1,1,100,1,3\n"), time_unit="day")
    with pytest.raises(pkpd.PkpdError, match=r"ID 1, CSV line 3, column CMT: CMT 3 is not a dosing compartment of "
                                             r"this model \(1: depot, 2: central\)"):
        pkpd.simulate(make_model(), data)


def test_modelled_duration_needs_the_parameter(tmp_path):
    data = pkpd.read_nonmem(write(tmp_path, "ID,TIME,AMT,EVID,CMT,RATE\n1,0,100,1,2,-2\n"), time_unit="day")
    with pytest.raises(pkpd.PkpdError, match=r"ID 1, CSV line 2, column RATE: RATE -2 asks for the modelled duration "
                                             r"of doses into the central compartment, but the model gives no "
                                             r"duration_central"):
        pkpd.simulate(make_model(), data)
    ok = pkpd.simulate(make_model(duration_central=2.0), data, variability=False)
    assert ok.concentration.values[0] == 0.0  # an infusion has given nothing at its start


def test_per_record_parameter_columns_are_checked_against_the_model(tmp_path):
    data = pkpd.read_nonmem(write(tmp_path, "ID,TIME,AMT,EVID,CMT,BIO\n1,0,100,1,2,0.5\n"), time_unit="day",
                            parameters={"F_centrl": "BIO"})
    with pytest.raises(pkpd.PkpdError, match=r"gives parameter 'F_centrl', which is not a dose parameter.*"
                                             r"Did you mean 'F_central'"):
        pkpd.simulate(make_model(), data)


def test_weight_effects_need_wt(tmp_path):
    data = pkpd.read_nonmem(write(tmp_path, "ID,TIME,AMT,EVID,CMT\n1,0,100,1,1\n"), time_unit="day")
    with pytest.raises(pkpd.PkpdError, match=r"scales \['CL', 'V'\] with body weight, but the dataset has no WT"):
        pkpd.simulate(iv_model(), data)


def test_regimens_written_and_read_back_simulate_the_same(tmp_path):
    regs = {1: pkpd.parse_regimen("45 mg if weight <= 100 kg else 90 mg SC at weeks 0, 4 then every 12 weeks "
                                  "until week 52"),
            2: pkpd.parse_regimen("5 mg/kg IV over 2 h at weeks 0, 2, 6 then every 8 weeks x3"),
            3: pkpd.parse_regimen("45 mg SC every 12 weeks from week 0 x2 at steady state")}
    weights = {1: 120.0, 2: 70.0, 3: 80.0}
    path = tmp_path / "out.csv"
    table = pkpd.write_nonmem(regs, path, weight=weights, time_unit="hour")
    assert table.loc[table.ID == "1", "AMT"].unique().tolist() == ["90"]
    back = pkpd.read_nonmem(path, time_unit="hour", compartments={1: "depot", 2: "central"})
    model = make_model()
    times = np.arange(0.0, 400.0, 0.5)
    grid = pkpd.simulate(model, back, times=times, variability=False)
    for i, (ident, reg) in enumerate(regs.items()):
        expected = pkpd.simulate(model, reg, times, weight=weights[ident]).concentration.values[0, 0]
        # Times go through hours and back (x 24 / 24): equal to rounding.
        np.testing.assert_allclose(grid.concentration.values[i], expected, rtol=1e-12, atol=1e-15)


def test_writing_in_another_time_unit_converts_times_rates_and_time_columns(tmp_path):
    table = pd.DataFrame(dict(ID=[1, 1, 1], TIME=[0.0, 0.0, 30.0], AMT=[100, 50, 0], EVID=[1, 1, 0], CMT=[1, 1, 1],
                              RATE=[0, 10, 0], LAGT=[6.0, 0.0, 0.0]))
    hours = pkpd.read_nonmem(table, time_unit="hour", parameters={"tlag_central": "LAGT"})
    pkpd.write_nonmem(hours, tmp_path / "days.csv", time_unit="day")
    days = pkpd.read_nonmem(tmp_path / "days.csv", time_unit="day", parameters={"tlag_central": "LAGT"})
    assert days["LAGT"][0] == 0.25 and days["RATE"][1] == 240.0 and days["TIME"][2] == 1.25
    model = make_model(absorption="none")
    np.testing.assert_allclose(pkpd.simulate(model, days, variability=False).concentration.values,
                               pkpd.simulate(model, hours, variability=False).concentration.values, rtol=1e-14)


def test_write_refuses_what_records_cannot_hold():
    with pytest.raises(pkpd.PkpdError, match=r"repeats without end; NONMEM records need ADDL"):
        pkpd.write_nonmem({1: pkpd.parse_regimen("45 mg SC every 12 weeks")})
    with pytest.raises(pkpd.PkpdError, match=r"NONMEM IDs are numbers; got ID 'a'"):
        pkpd.write_nonmem({"a": pkpd.parse_regimen("45 mg SC at week 0")})
    with pytest.raises(pkpd.PkpdError, match=r"depends on body weight; pass weight="):
        pkpd.write_nonmem({1: pkpd.parse_regimen("5 mg/kg IV at week 0")})
