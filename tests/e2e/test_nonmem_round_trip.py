"""A NONMEM dataset round trip: read, simulate per ID, write, read again -> same records and predictions."""

import math

import numpy as np

import pkpd

# C rows, '.', extra columns (SITE, and the C flag column), WT per ID, TIME in hours,
# observation records (EVID 0, with and without DV), a steady-state record.
CSV = """C,ID,TIME,AMT,EVID,CMT,II,SS,DV,MDV,WT,SITE
.,1,0,100,1,1,0,0,.,1,70,north
.,1,0,.,0,1,.,.,.,1,70,north
.,1,6,.,0,1,.,.,28.0,0,70,north
C,1,9,450,1,1,0,0,.,1,70,north
.,1,30,.,0,1,.,.,20.1,0,70,north
.,2,0,200,1,1,24,1,.,1,95.5,south
.,2,12,.,0,1,.,.,51.0,0,95.5,south
.,2,30,.,0,1,.,.,44.0,0,95.5,south
.,3,5,50,1,1,0,0,.,1,55,north
.,3,53,.,0,1,.,.,.,1,55,north
"""

MODEL = """[model]
name = "iv_test"
structure = "1cmt"
absorption = "none"

[parameters]
CL = { value = 0.125, unit = "L/h", source = "test value" }
V = { value = 3.0, unit = "L", source = "test value" }
bsv_CL = { value = 0.3, unit = "CV", source = "test value" }
reference_weight = { value = 70, unit = "kg", source = "test value" }
weight_exponent_CL = { value = 0.75, unit = "1", source = "test value" }
weight_exponent_V = { value = 1.0, unit = "1", source = "test value" }

[error]
proportional = { value = 0.1, unit = "1", source = "test value" }
additive = { value = 0.05, unit = "mg/L", source = "test value" }
"""


def test_read_simulate_write_read_gives_the_same_records_and_predictions(tmp_path):
    (tmp_path / "data.csv").write_text(CSV)
    (tmp_path / "model.toml").write_text(MODEL)
    model = pkpd.load_model(tmp_path / "model.toml")
    data = pkpd.read_nonmem(tmp_path / "data.csv", time_unit="hour")
    assert data.n_individuals == 3 and data.skipped == (5,)
    sim = pkpd.simulate(model, data, seed=7)

    # Predictions against the exact solution with each record's individual CL and V:
    # a bolus D at s gives D/V exp(-k (t - s)); ID 2 is at steady state (q24h) from hour 0.
    t = sim.time.values
    k = sim.CL.values / sim.V.values
    expected = np.select(
        [sim.ID.values == 1, sim.ID.values == 2, sim.ID.values == 3],
        [100 / sim.V.values * np.exp(-k * t),
         200 / sim.V.values * np.exp(-k * t) / -np.expm1(-k * 1.0),
         np.where(t >= 5 / 24, 50 / sim.V.values * np.exp(-k * (t - 5 / 24)), 0.0)])
    np.testing.assert_allclose(sim.concentration.values, expected, rtol=1e-13)
    # Individuals differ (BSV on CL) and WT scales V: V = 3 L x WT/70.
    np.testing.assert_allclose(sim.V.values, 3.0 * sim.weight.values / 70.0, rtol=1e-15)
    assert len(np.unique(sim.CL.values)) == 3
    observed = (sim.EVID.values == 0) & (sim.MDV.values == 0)
    assert np.isnan(sim.DV.values[~observed]).all() and np.isfinite(sim.DV.values[observed]).all()
    assert not np.allclose(sim.DV.values[observed], sim.concentration.values[observed])  # residual error drawn

    written = pkpd.write_nonmem(data.with_dv(sim.DV.values), tmp_path / "sim.csv")
    assert list(written.columns[:11]) == ["ID", "TIME", "EVID", "AMT", "CMT", "RATE", "II", "ADDL", "SS", "DV", "MDV"]
    again = pkpd.read_nonmem(tmp_path / "sim.csv", time_unit="hour")
    assert again.equals(data.with_dv(sim.DV.values))
    sim2 = pkpd.simulate(model, again, seed=7)
    np.testing.assert_array_equal(sim2.concentration.values, sim.concentration.values)
    np.testing.assert_array_equal(sim2.DV.values, sim.DV.values)
    assert math.isclose(float(again["DV"][2]), float(sim.DV.values[2]), rel_tol=0, abs_tol=0)


def test_residual_error_has_the_model_file_sds(tmp_path):
    # DV = C (1 + e1) + e2: with C = 10 mg/L everywhere, SD(DV) = sqrt((0.1*10)^2 + 0.05^2).
    # C is the steady state of a constant infusion of 10 mg/L x CL, observed at its record.
    n = 4000
    rows = ["ID,TIME,AMT,EVID,CMT,RATE,SS,II"] + [f"{i},0,0,1,1,{10 * 0.125 * 24},1,0\n{i},0,.,0,1,.,.,."
                                                   for i in range(1, n + 1)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "model.toml").write_text(MODEL.replace('bsv_CL = { value = 0.3, unit = "CV", source = "test value" }\n',
                                                       ""))
    data = pkpd.read_nonmem(tmp_path / "d.csv", time_unit="day", weight=None)
    sim = pkpd.simulate(tmp_path / "model.toml", data, seed=3, weight=70.0)
    obs = sim.EVID.values == 0
    np.testing.assert_allclose(sim.concentration.values[obs], 10.0, rtol=1e-12)  # constant-infusion steady state
    dv = sim.DV.values[obs]
    sd = math.sqrt(1.0 ** 2 + 0.05 ** 2)
    # Sample mean and SD of n draws: within 4 standard errors (SE of the SD ~ sd/sqrt(2n)).
    assert abs(dv.mean() - 10.0) < 4 * sd / math.sqrt(n)
    assert abs(dv.std(ddof=1) - sd) < 4 * sd / math.sqrt(2 * n)
