"""Fuzzing the loaders (issue 10): mutated regimen text, trial tables, model files and NONMEM
records raise pkpd.PkpdError or load; nothing else comes out. Regimen text that parses prints
back to an equal regimen. Bounded: a few hundred examples each, no deadline per example
(benchmarks/fuzz_regimens.py runs a million regimen strings)."""

import re

import pandas as pd
from hypothesis import HealthCheck, given, settings, strategies as st

import pkpd
from pkpd.model import _library

REGIMENS = [
    "45 mg SC at weeks 0, 4 then every 12 weeks until week 52",
    "45 mg if weight <= 100 kg else 90 mg SC at weeks 0, 4 then q12w until week 52",
    "90 mg SC at week 0 then 45 mg every 12 weeks until week 52",
    "5 mg/kg IV over 2 h at weeks 0, 2, 6 then every 8 weeks x3",
    "100 mg IV at 50 mg/h at day 0",
    "500 ug SC every 2 weeks x3",
    "45 mg SC every 12 weeks from week 0 x1 at steady state",
    "placebo",
    "90 mg SC at weeks 0, 4 then every 12 weeks until week 52; if not PASI50 at week 8: 90 mg SC at week 8; "
    "if PASI50-89 at week 28: switch to 90 mg SC every 8 weeks from week 36 until week 52",
]
HOSTILE = ["nan", "NaN", "inf", "-inf", "-1", "1e400", "-1e400", "1e-400", "0", "74.9", "1e308", "9" * 30, "",
           " ", ".", "abc", "twelve", "many", "true", "[1]", "{}", '"x"', "1,5", "½", "\x00", "é", "0x10", "1e15",
           "2.7", "1.5", "-0", "+3", "1_0"]
SETTINGS = dict(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_NUMBER = re.compile(r"\d+(?:\.\d*)?(?:[eE][-+]?\d+)?")


@st.composite
def mutated(draw, texts, cut=True):
    """A text of ``texts`` with a few edits: numbers swapped for hostile values, characters
    inserted, stretches deleted or duplicated, and (``cut``) truncated."""
    text = draw(st.sampled_from(texts))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.integers(0, 4 if cut else 3))
        at = draw(st.integers(0, len(text)))
        if kind == 0:
            numbers = list(_NUMBER.finditer(text))
            if numbers:
                m = numbers[draw(st.integers(0, len(numbers) - 1))]
                text = text[:m.start()] + draw(st.sampled_from(HOSTILE)) + text[m.end():]
        elif kind == 1:
            text = text[:at] + draw(st.text(min_size=1, max_size=3)) + text[at:]
        elif kind == 2:
            text = text[:at] + text[at + draw(st.integers(1, 8)):]
        elif kind == 3:
            end = min(len(text), at + draw(st.integers(1, 30)))
            text = text[:end] + text[at:end] + text[end:]
        else:
            text = text[:at]
    return text


@settings(**SETTINGS)
@given(mutated(REGIMENS))
def test_mutated_regimen_text(text):
    try:
        regimen = pkpd.parse_regimen(text)
    except pkpd.PkpdError:
        return
    assert pkpd.parse_regimen(str(regimen)) == regimen
    try:
        regimen.base.dose_times(horizon=365.0)
    except pkpd.PkpdError:
        pass


TRIAL = _library.read("trials", "krueger2007_phase2")[0].decode("utf-8")


@settings(**SETTINGS)
@given(mutated([TRIAL]), st.sampled_from(["t.csv", "t.txt"]))
def test_mutated_trial_tables(tmp_path_factory, text, name):
    path = tmp_path_factory.mktemp("trial") / name
    path.write_bytes(text.encode("utf-8", errors="replace"))
    try:
        trial = pkpd.load_trial(path)
    except pkpd.PkpdError:
        return
    assert trial.n_patients > 0 and all(0 <= k <= n for _, _, n, r in trial.groups() for k in r.values())


PK = _library.read("models", "ustekinumab_pk")[0].decode("utf-8")
PD = _library.read("models", "ustekinumab_pasi")[0].decode("utf-8")


@settings(**SETTINGS)
@given(mutated([PK, PD]), st.binary(max_size=4))
def test_mutated_model_files(tmp_path_factory, text, junk):
    path = tmp_path_factory.mktemp("model") / "m.toml"
    raw = text.encode("utf-8", errors="replace")
    path.write_bytes(raw + junk if junk and junk[0] % 2 else raw)
    try:
        model = pkpd.load_model(path)
    except pkpd.PkpdError:
        return
    assert all(p.lower <= p.value <= p.upper for p in model.parameters)


NONMEM = ("ID,TIME,AMT,EVID,CMT,RATE,II,ADDL,SS,DV,MDV,WT\n"
          "1,0,45,1,1,0,0,0,0,.,1,80\n"
          "1,24,.,0,2,0,0,0,0,1.2,0,80\n"
          "1,168,90,1,2,30,0,0,0,.,1,80\n"
          "1,336,45,1,1,0,168,3,0,.,1,82\n"
          "1,1000,.,0,2,0,0,0,0,.,0,82\n"
          "2,0,45,4,1,0,168,2,1,.,1,110\n"
          "2,500,.,0,2,0,0,0,0,0.8,0,110\n")


@settings(**SETTINGS)
@given(mutated([NONMEM]), st.sampled_from(["hour", "day"]))
def test_mutated_nonmem_records(tmp_path_factory, text, unit):
    path = tmp_path_factory.mktemp("nonmem") / "d.csv"
    path.write_bytes(text.encode("utf-8", errors="replace"))
    try:
        data = pkpd.read_nonmem(path, time_unit=unit)
        ds = pkpd.simulate("ustekinumab_pk", data, seed=1)
    except pkpd.PkpdError:
        return
    assert ds.concentration.shape == (data.n_records,)
    assert bool((ds.concentration.fillna(0) >= -1e-9).all())


@settings(**SETTINGS)
@given(st.lists(st.sampled_from(HOSTILE + ["45", "12", "PASI75", "a"]), min_size=6, max_size=6))
def test_trial_rows_from_hostile_cells(tmp_path_factory, cells):
    # One row whose every cell may be hostile, after a good header: arm, regimen, n, week, endpoint, responders.
    row = [cells[0] or "a", f"{cells[1]} mg SC at week 0", cells[2], cells[3], cells[4], cells[5]]
    table = pd.DataFrame([row], columns=["arm", "regimen", "n", "week", "endpoint", "responders"])
    path = tmp_path_factory.mktemp("cells") / "t.csv"
    table.to_csv(path, index=False)
    try:
        pkpd.load_trial(path)
    except pkpd.PkpdError:
        pass
