"""NONMEM-style dosing records in and out."""

import numpy as np
import pandas as pd
import pytest

import pkpd

TABLE = """ID,TIME,AMT,EVID,CMT,II,ADDL,RATE,SS,DV
1,0,45,1,1,0,0,0,0,.
1,0,0,0,2,0,0,0,0,0
1,28,45,1,1,84,3,0,0,.
1,100,0,0,2,0,0,0,0,1.2
2,0,200,1,2,0,0,100,0,.
2,14,90,1,1,56,0,0,1,.
3,5,0,0,2,0,0,0,0,0
"""


def test_read_nonmem_builds_the_same_regimens(tmp_path):
    path = tmp_path / "doses.csv"
    path.write_text(TABLE)
    regs = pkpd.read_nonmem(path)
    assert regs[1].dose_times().tolist() == [0, 28, 112, 196, 280]
    assert regs[1] == pkpd.parse_regimen("45 mg SC at week 0; 45 mg SC every 12 weeks from week 4 x4")
    infusion = regs[2].courses[0]
    assert (infusion.route, infusion.rate) == ("infusion", 100.0)
    assert regs[2].courses[1].steady_state and regs[2].courses[1].every == 56.0
    assert regs[3].is_placebo


def test_lowercase_columns_and_hours(tmp_path):
    table = pd.DataFrame(dict(id=[1, 1], time=[0.0, 168.0], amt=[10.0, 10.0], evid=[1, 1], cmt=[2, 2],
                              rate=[5.0, 0.0]))
    regs = pkpd.read_nonmem(table, time_unit="hour")
    doses = regs[1].doses()
    assert [d.time for d in doses] == [0.0, 7.0]
    assert doses[0].route == "infusion" and doses[0].rate == 5.0 * 24
    assert doses[1].route == "iv"


def test_write_then_read_gives_the_same_doses(tmp_path):
    regs = {1: pkpd.parse_regimen("45 mg if weight <= 100 kg else 90 mg SC at weeks 0, 4 then every 12 weeks until week 52"),
            2: pkpd.parse_regimen("5 mg/kg IV over 2 h at weeks 0, 2, 6 then every 8 weeks x3"),
            3: pkpd.parse_regimen("45 mg SC every 12 weeks from week 0 x2 at steady state")}
    weights = {1: 120.0, 2: 70.0, 3: 80.0}
    path = tmp_path / "out.csv"
    table = pkpd.write_nonmem(regs, path, weight=weights, time_unit="hour")
    assert table.loc[table.ID == 1, "AMT"].unique().tolist() == [90.0]
    back = pkpd.read_nonmem(path, time_unit="hour")
    for i, reg in regs.items():
        expected = reg.events(weight=weights[i])
        got = back[i].events()
        np.testing.assert_allclose(got["day"], expected["day"], rtol=1e-12)
        np.testing.assert_allclose(got["amount_mg"], expected["amount_mg"], rtol=1e-12)
        assert got["route"].tolist() == expected["route"].tolist()
        assert got["steady_state"].tolist() == expected["steady_state"].tolist()
    # An infusion given by duration comes back as the equivalent rate: same amounts and durations.
    inf = back[2].doses()[0]
    assert inf.infusion_duration(350.0) == pytest.approx(2 / 24, rel=1e-12)


@pytest.mark.parametrize("row, message", [
    ("1,0,-5,1,1,0,0,0,0", r"row 1 \(CSV line 2, ID 1\): AMT -5 is negative"),
    ("1,0,5,1,1,0,0,-2,0", r"RATE -2 \(modelled rate/duration\) is not supported"),
    ("1,0,5,4,1,0,0,0,0", r"EVID 4 is not supported"),
    ("1,0,5,1,3,0,0,0,0", r"CMT 3 is not a dosing compartment"),
    ("1,0,5,1,1,0,2,0,0", r"ADDL/SS need an interval II > 0"),
    ("1,0,5,1,1,7,0,0,2", r"SS 2 is not supported"),
    ("1,0,5,1,1,0,0,10,0", r"infusion \(RATE > 0\) into CMT 1"),
    ("1,-1,5,1,1,0,0,0,0", r"TIME -1 is negative"),
])
def test_bad_records_name_the_row(tmp_path, row, message):
    path = tmp_path / "bad.csv"
    path.write_text("ID,TIME,AMT,EVID,CMT,II,ADDL,RATE,SS\n" + row + "\n")
    with pytest.raises(pkpd.PkpdError, match=message):
        pkpd.read_nonmem(path)


def test_missing_columns_and_unsorted_times(tmp_path):
    with pytest.raises(pkpd.PkpdError, match=r"lacks columns \['EVID', 'CMT'\]"):
        pkpd.read_nonmem(pd.DataFrame(dict(ID=[1], TIME=[0], AMT=[1])))
    table = pd.DataFrame(dict(ID=[1, 1], TIME=[5.0, 1.0], AMT=[1, 1], EVID=[1, 1], CMT=[1, 1]))
    with pytest.raises(pkpd.PkpdError, match=r"row 2 .*TIME 1 is before the previous record"):
        pkpd.read_nonmem(table)
