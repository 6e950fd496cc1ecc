"""Doses, regimens and the regimen text form."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import pkpd
from pkpd import Amount, Course, Dose, Regimen, WeightBands, parse_regimen


def weeks(regimen):
    return (np.asarray(regimen.dose_times()) / 7.0).tolist()


@pytest.mark.parametrize("text, expected_weeks", [
    # The examples of the foundation issue, and the phase II arms (Krueger 2007).
    ("45 mg SC at weeks 0, 4 then every 12 weeks until week 52", [0, 4, 16, 28, 40, 52]),
    ("90 mg SC weekly x4", [0, 1, 2, 3]),
    ("45 mg SC at week 0", [0]),
    ("placebo", []),
    ("45 mg SC every 12 weeks until week 51", [0, 12, 24, 36, 48]),
    ("45 mg SC every 8 weeks from week 16 x 3", [16, 24, 32]),
    ("45 mg SC at weeks 0 and 4", [0, 4]),
    ("45 mg SC every 2 weeks for 3 doses", [0, 2, 4]),
    ("90 mg SC at week 0 then 45 mg every 12 weeks until week 52", [0, 12, 24, 36, 48]),
    ("90 mg SC at weeks 0, 4; 45 mg SC every 12 weeks from week 16 until week 40", [0, 4, 16, 28, 40]),
])
def test_text_gives_the_prescribed_dose_times(text, expected_weeks):
    assert weeks(parse_regimen(text)) == expected_weeks


def test_until_is_a_closed_bound():
    assert weeks(parse_regimen("45 mg SC every 4 weeks until week 8"))[-1] == 8.0


def test_days_and_daily():
    assert parse_regimen("10 mg SC daily x3").dose_times().tolist() == [0.0, 1.0, 2.0]
    assert parse_regimen("10 mg SC at days 0, 3.5").dose_times().tolist() == [0.0, 3.5]


def test_infusion_routes_parse_to_rate_or_duration():
    by_duration = parse_regimen("5 mg/kg IV over 2 h at week 0").courses[0]
    assert (by_duration.route, by_duration.duration, by_duration.rate) == ("infusion", 2 / 24, None)
    by_rate = parse_regimen("100 mg IV at 50 mg/h at day 0").courses[0]
    assert (by_rate.route, by_rate.rate, by_rate.duration) == ("infusion", 50 * 24.0, None)
    assert parse_regimen("100 mg IV at day 0").courses[0].route == "iv"


def test_weight_bands_resolve_with_closed_upper_limit():
    amount = parse_regimen("45 mg if weight <= 100 kg else 90 mg SC at week 0").courses[0].amount
    assert isinstance(amount, WeightBands)
    assert amount.resolve(np.array([60.0, 100.0, 100.01, 150.0])).tolist() == [45, 45, 90, 90]


def test_three_weight_bands_and_mg_per_kg():
    amount = parse_regimen("2 mg/kg if weight <= 50 kg else 100 mg if weight <= 80 kg else 150 mg SC at week 0")
    resolved = amount.courses[0].amount.resolve(np.array([40.0, 50.0, 70.0, 81.0]))
    assert resolved.tolist() == [80.0, 100.0, 100.0, 150.0]


def test_event_table_lists_every_dose(ustekinumab):
    table = parse_regimen("45 mg if weight <= 100 kg else 90 mg SC at weeks 0, 4 then every 12 weeks x2").events(weight=120)
    assert table["week"].tolist() == [0, 4, 16, 28]
    assert table["amount_mg"].tolist() == [90.0] * 4
    assert set(table["route"]) == {"sc"}
    unresolved = parse_regimen("1 mg/kg SC at week 0").events()
    assert math.isnan(unresolved["amount_mg"][0]) and unresolved["dose"][0] == "1 mg/kg"


@pytest.mark.parametrize("text", [
    "45 mg SC at weeks 0, 4 then every 12 weeks until week 52",
    "90 mg SC weekly x4",
    "placebo",
    "45 mg if weight <= 100 kg else 90 mg SC at weeks 0, 4 then every 12 weeks until week 52",
    "90 mg SC at week 0 then 45 mg SC every 12 weeks from week 12 until week 52",
    "5 mg/kg IV over 2 h at weeks 0, 2, 6 then every 8 weeks x3",
    "100 mg IV at 50 mg/h at day 0",
    "45 mg SC every 12 weeks from week 0 x1 at steady state",
    "45 mg SC at days 0, 3 then every 10 days x3",
    "0.5 mg SC at days 0.1, 0.7",
    "45 mg SC at weeks 0, 4 then every 12 weeks",
    "45 mg SC at weeks 0, 4 then every 12 weeks until week 52; if not PASI75 at week 16: 45 mg SC at week 16",
    "45 mg SC at weeks 0, 4 then every 12 weeks; if PASI50-74 at week 28: switch to 90 mg SC every 8 weeks from week 36",
    "placebo; if not PASI75 at week 12: 90 mg SC at weeks 12, 16",
])
def test_text_round_trip(text):
    regimen = parse_regimen(text)
    assert parse_regimen(str(regimen)) == regimen
    assert str(parse_regimen(str(regimen))) == str(regimen)


amounts = st.builds(Amount, st.floats(0, 1000, allow_nan=False).map(lambda x: round(x, 3)),
                    st.sampled_from(["mg", "mg/kg"]))
times_days = st.lists(st.floats(0, 400, allow_nan=False), min_size=1, max_size=5, unique=True).map(
    lambda ts: tuple(sorted(ts)))


@st.composite
def courses(draw):
    route = draw(st.sampled_from(["sc", "iv", "infusion"]))
    extra = {}
    if route == "infusion":
        key = draw(st.sampled_from(["rate", "duration"]))
        extra[key] = draw(st.floats(0.01, 100, allow_nan=False))
    times = draw(st.one_of(st.just(()), times_days))
    rep = {}
    if not times or draw(st.booleans()):
        every = draw(st.floats(0.5, 100, allow_nan=False))
        rep["every"] = every
        end = draw(st.sampled_from(["count", "until", "open"]))
        if end == "count":
            rep["count"] = draw(st.integers(1, 10))
        elif end == "until":
            first = times[-1] + every if times else 0.0
            rep["until"] = first + draw(st.floats(0, 300, allow_nan=False))
    return Course(draw(amounts), route, times, unit=draw(st.sampled_from(["week", "day"])), **extra, **rep)


@settings(max_examples=300, deadline=None)
@given(st.lists(courses(), min_size=1, max_size=3))
def test_any_regimen_prints_to_text_that_parses_back_equal(course_list):
    regimen = Regimen(tuple(course_list))
    assert parse_regimen(str(regimen)) == regimen


def test_rule_variants_give_the_doses_a_patient_receives():
    r = parse_regimen("90 mg SC weekly x4; if not PASI50 at week 8: 90 mg SC at week 8; "
                      "if PASI90 at week 20: switch to 45 mg SC every 12 weeks from week 24 x2")
    variants = {tuple(sorted(f)): (v.dose_times() / 7).tolist() for f, v in r.variants()}
    assert variants == {(): [0, 1, 2, 3], (0,): [0, 1, 2, 3, 8], (1,): [0, 1, 2, 3, 24, 36],
                        (0, 1): [0, 1, 2, 3, 8, 24, 36]}
    with pytest.raises(pkpd.RegimenSyntaxError, match="cannot give a dose before it"):
        parse_regimen("45 mg SC at week 0; if PASI75 at week 16: 45 mg SC at week 10")


def test_regimens_add_and_build_from_doses():
    a = Regimen.from_doses([Dose(45, "sc", 0.0), Dose(45, "sc", 28.0)])
    b = parse_regimen("90 mg IV at week 8")
    merged = a + b
    assert merged.dose_times().tolist() == [0.0, 28.0, 56.0]
    assert [float(d.amount.value) for d in merged.doses()] == [45.0, 45.0, 90.0]
    assert str(a) == "45 mg SC at weeks 0, 4"


# -- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("text, word", [
    ("45 mg SC evry 12 weeks", "word 4 'evry'"),
    ("45 mg at week 0", "word 3 'at'"),
    ("45 mgs SC at week 0", "word 2 'mgs'"),
    ("45 mg SC at months 0", "word 5 'months'"),
    ("45 mg SC at week 0 also", "word 7 'also'"),
    ("45 mg SC weekly x 2.5", "word 6 '2.5'"),
    ("45 mg SC at week 0; if not PASI75 at week 16 45 mg SC at week 16", "word 14 '45'"),
    ("45 mg SC at week 0; if nope at week 2: 1 mg SC at week 2", "word 9 'nope'"),
])
def test_unparseable_text_points_at_the_word(text, word):
    with pytest.raises(pkpd.RegimenSyntaxError, match=word):
        parse_regimen(text)


def test_caret_sits_under_the_offending_word():
    with pytest.raises(pkpd.RegimenSyntaxError) as err:
        parse_regimen("45 mg SC evry 12 weeks")
    lines = str(err.value).splitlines()
    assert lines[2].index("^") == lines[1].index("evry")


@pytest.mark.parametrize("kwargs, message", [
    (dict(amount=-45), r"Dose amount must be >= 0, got -45"),
    (dict(amount=float("nan")), r"Dose amount must be finite, got nan"),
    (dict(amount=45, route="im"), r"Unknown route 'im'; allowed: \['sc', 'iv', 'infusion'\]"),
    (dict(amount=45, route="infusion", rate=10, duration=1), r"rate or a duration, never both"),
    (dict(amount=45, route="infusion"), r"needs a rate .* or a duration"),
    (dict(amount=45, route="sc", rate=10), r"Route 'sc' is a bolus"),
    (dict(amount=45, time=-1), r"Dose time \(days\) must be >= 0, got -1"),
])
def test_bad_doses_are_rejected(kwargs, message):
    with pytest.raises(pkpd.PkpdError, match=message):
        Dose(**kwargs)


def test_unknown_amount_unit_is_rejected():
    with pytest.raises(pkpd.PkpdError, match=r"Unknown dose unit 'mL'; allowed: \['mg', 'ug', .*'mg/kg'"):
        Amount(45, "mL")


@pytest.mark.parametrize("text, mg", [
    ("500 ug SC at week 0", 0.5), ("500 mcg SC at week 0", 0.5), ("0.045 g SC at week 0", 45.0),
    ("45 MG SC at week 0", 45.0)])
def test_dose_units_are_converted_to_mg_and_print_as_given(text, mg):
    regimen = parse_regimen(text)
    amount = regimen.courses[0].amount
    assert (amount.value, amount.unit) == (pytest.approx(mg, rel=1e-15), "mg")
    assert parse_regimen(str(regimen)) == regimen
    assert str(regimen).split(" SC")[0] == text.split(" SC")[0].replace("MG", "mg")


def test_per_kg_doses_in_other_units():
    amount = parse_regimen("500 ug/kg SC at week 0").courses[0].amount
    assert (amount.value, amount.unit) == (0.5, "mg/kg")
    assert amount.resolve(80.0) == 40.0


@pytest.mark.parametrize("text, same_as", [
    ("45 mg SC q4w x3", "45 mg SC every 4 weeks x3"),
    ("45 mg SC Q12W until week 52", "45 mg SC every 12 weeks until week 52"),
    ("45 mg SC at weeks 0, 4 then q12w until week 52", "45 mg SC at weeks 0, 4 then every 12 weeks until week 52"),
    ("10 mg IV q12h x4", "10 mg IV every 12 hours x4"),
    ("10 mg IV q2d x2", "10 mg IV every 2 days x2"),
    ("10 mg SC qw x2", "10 mg SC weekly x2"),
    ("10 mg SC qd x2", "10 mg SC daily x2"),
])
def test_q_forms_read_as_every(text, same_as):
    assert parse_regimen(text) == parse_regimen(same_as)


def test_hours_in_schedules():
    r = parse_regimen("10 mg IV at hours 0, 12 then every 12 hours until hour 48")
    assert r.dose_times().tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert str(r) == "10 mg IV at hours 0, 12 then every 12 hours until hour 48"
    assert parse_regimen(str(r)) == r


def test_rules_name_their_endpoint_family():
    r = parse_regimen("90 mg SC at weeks 0, 4; if not EASI75 at week 16: 90 mg SC at week 16")
    assert (r.rules[0].family, r.rules[0].lower, r.rules[0].upper) == ("EASI", 0, 75)
    assert str(r).endswith("if not EASI75 at week 16: 90 mg SC at week 16")


@pytest.mark.parametrize("text, word", [
    ("45 mg SC weekly x nan", "word 6 'nan'"),
    ("45 mg SC weekly x 1e400", "word 6 '1e400'"),
    ("45 mg SC at week 0; if PASI50-nan at week 4: 1 mg SC at week 4", "word 11 'nan'"),
    ("45 mg SC at week 0; if PASI50-74.9 at week 4: 1 mg SC at week 4", "word 11 '74.9'"),
])
def test_numbers_that_are_not_finite_or_whole_are_refused(text, word):
    with pytest.raises(pkpd.RegimenSyntaxError, match=word):
        parse_regimen(text)


def test_deeply_nested_weight_bands_parse_without_recursion():
    text = " ".join(f"1 mg if weight <= {i} kg else" for i in range(1, 1501)) + " 2 mg SC at week 0"
    assert len(parse_regimen(text).courses[0].amount.limits) == 1500


def test_unsorted_and_repeated_times_are_rejected():
    with pytest.raises(pkpd.PkpdError, match="increase strictly; time 0 d follows 28 d"):
        Course(Amount(45), "sc", (28.0, 0.0))
    with pytest.raises(pkpd.PkpdError, match="increase strictly"):
        parse_regimen("45 mg SC at weeks 0, 0")


def test_open_ended_repeats_need_a_horizon_and_both_ends_are_refused():
    course = Course(Amount(45), "sc", every=7.0)
    assert course.open_ended and course.dose_times(horizon=20.0).tolist() == [0.0, 7.0, 14.0]
    with pytest.raises(pkpd.PkpdError, match="repeats without end; give a horizon"):
        course.dose_times()
    with pytest.raises(pkpd.PkpdError, match="not both"):
        Course(Amount(45), "sc", every=7.0, until=21.0, count=3)
    with pytest.raises(pkpd.RegimenSyntaxError, match="an end to the previous repeat"):
        parse_regimen("90 mg SC weekly then 45 mg every 12 weeks")
    with pytest.raises(pkpd.PkpdError, match="ends .* before its first dose"):
        parse_regimen("45 mg SC at week 10 then every 4 weeks until week 12")


def test_weight_band_limits_must_increase():
    with pytest.raises(pkpd.PkpdError, match="increase strictly"):
        WeightBands((Amount(1), Amount(2), Amount(3)), (100.0, 50.0))
    with pytest.raises(pkpd.PkpdError, match="pass the weight"):
        parse_regimen("45 mg if weight <= 100 kg else 90 mg SC at week 0").courses[0].amount.resolve()
