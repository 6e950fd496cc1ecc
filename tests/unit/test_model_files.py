"""Model files, virtual populations and the labelled simulation output."""

import math

import numpy as np
import pytest

import pkpd


def write_model(tmp_path, parameters: str, extra: str = "") -> str:
    path = tmp_path / "m.toml"
    path.write_text('[model]\nname = "m"\nstructure = "1cmt"\nabsorption = "first_order"\n\n[parameters]\n'
                    + parameters + extra)
    return str(path)


GOOD = """CL = { value = 0.3, unit = "L/day", source = "test" }
V = { value = 3.0, unit = "L", source = "test" }
ka = { value = 0.4, unit = "1/day", source = "test" }
F = { value = 0.7, unit = "1", source = "test" }
"""


def test_ustekinumab_model_carries_the_published_values(ustekinumab):
    v = ustekinumab.values
    # Zhu et al., J Clin Pharmacol 2009: CL/F 0.465 L/day, V/F 15.7 L, ka 0.354/day,
    # BSV 41.0% (CL/F) and 33.2% (V/F); F 0.572 (prescribing information).
    assert v["CL"] / v["F"] == pytest.approx(0.465, rel=1e-12)
    assert v["V"] / v["F"] == pytest.approx(15.7, rel=1e-12)
    assert (v["ka"], v["F"]) == (0.354, 0.572)
    # variability is stored as the SD of the log random effect; the file's CV is kept as given
    assert (ustekinumab["bsv_CL"].given, ustekinumab["bsv_V"].given) == ("0.41 CV", "0.332 CV")
    assert v["bsv_CL"] == math.sqrt(math.log1p(0.41 ** 2)) and v["bsv_V"] == math.sqrt(math.log1p(0.332 ** 2))
    for p in ustekinumab.parameters:
        assert p.source, p.name
        assert p.assumption == p.source.startswith("ASSUMPTION"), p.name


@pytest.mark.parametrize("row, message", [
    ('EC5O = { value = 1.0, unit = "1", source = "x" }\n', r"Unknown parameter 'EC5O' for model 'm'; valid names: \["),
    ('Q = { value = 1.0, unit = "L/day", source = "x" }\n', r"Unknown parameter 'Q' for model 'm'"),
])
def test_unknown_parameter_names_in_a_model_file(tmp_path, row, message):
    with pytest.raises(pkpd.PkpdError, match=message):
        pkpd.load_model(write_model(tmp_path, GOOD + row))


@pytest.mark.parametrize("replace, message", [
    (("0.3", "0.0"), r"Parameter 'CL' = 0.0 is not allowed; it must be > 0"),
    (("0.3", "-0.3"), r"Parameter 'CL' = -0.3 is not allowed; it must be > 0"),
    (("3.0", "-1.0"), r"Parameter 'V' = -1.0 is not allowed; it must be > 0"),
    (("0.7", "1.2"), r"Parameter 'F' = 1.2 is not allowed; it must be > 0 and <= 1"),
    (("0.3", "nan"), r"parameter 'CL': value must be finite, got nan"),
    (('source = "test" }\nV', 'source = "" }\nV'), r"parameter 'CL' names no source"),
])
def test_bad_parameter_values_are_rejected_at_load(tmp_path, replace, message):
    with pytest.raises(pkpd.PkpdError, match=message):
        pkpd.load_model(write_model(tmp_path, GOOD.replace(*replace, 1)))


def test_missing_parameters_and_bad_structure(tmp_path):
    with pytest.raises(pkpd.PkpdError, match=r"missing parameters \['F'\]"):
        pkpd.load_model(write_model(tmp_path, GOOD.replace('F = { value = 0.7, unit = "1", source = "test" }\n', "")))
    bad = write_model(tmp_path, GOOD).replace("", "")
    text = open(bad).read().replace('structure = "1cmt"', 'structure = "3cmt"')
    open(bad, "w").write(text)
    with pytest.raises(pkpd.PkpdError, match=r"unknown structure '3cmt'; allowed: \['1cmt', '2cmt'\]. Did you mean"):
        pkpd.load_model(bad)


def test_bounds_are_checked_not_repaired(tmp_path):
    with pytest.raises(pkpd.PkpdError, match=r"lower bound 2.0 must be below upper bound 1.0"):
        pkpd.Parameter("CL", 1.5, "L/day", lower=2.0, upper=1.0)
    with pytest.raises(pkpd.PkpdError, match=r"'CL' = 3.0 is outside its bounds \[0.1, 2.0\]"):
        pkpd.Parameter("CL", 3.0, "L/day", lower=0.1, upper=2.0)


def test_replace_changes_values_and_rejects_unknown_names(ustekinumab):
    assert ustekinumab.replace(CL=0.3).values["CL"] == 0.3
    assert ustekinumab.values["CL"] == 0.26598  # the original is unchanged
    with pytest.raises(pkpd.PkpdError, match="Unknown parameter 'CLL' for model 'ustekinumab_pk'"):
        ustekinumab.replace(CLL=0.3)
    with pytest.raises(pkpd.PkpdError, match=r"'V' = 0.0 is not allowed"):
        ustekinumab.replace(V=0.0)


def test_unknown_model_name_lists_the_library():
    with pytest.raises(pkpd.PkpdError, match=r"No model file 'ustekinumab'; .* \['ustekinumab_pasi', .*'ustekinumab_pk'\]"):
        pkpd.load_model("ustekinumab")




# -- units ---------------------------------------------------------------------------------

def test_units_are_converted_on_entry(tmp_path):
    # The same model with CL in L/h and V in mL: concentrations equal to rounding of the
    # conversion (1 L/h = 24 L/day exactly; 1 mL = 1e-3 L).
    days = write_model(tmp_path, GOOD)
    other = tmp_path / "other.toml"
    other.write_text(open(days).read().replace('value = 0.3, unit = "L/day"', 'value = 0.0125, unit = "L/h"')
                     .replace('value = 3.0, unit = "L"', 'value = 3000.0, unit = "mL"'))
    a, b = pkpd.load_model(days), pkpd.load_model(other)
    assert b["CL"].value == pytest.approx(0.3, rel=1e-15) and b["CL"].unit == "L/day"
    assert b["CL"].given == "0.0125 L/h" and b["V"].given == "3000 mL"
    t = np.linspace(0, 60, 121)
    ca = pkpd.simulate(a, "100 mg SC every 7 days x4", t).concentration.values
    cb = pkpd.simulate(b, "100 mg SC every 7 days x4", t).concentration.values
    np.testing.assert_allclose(cb, ca, rtol=1e-10, atol=0)


@pytest.mark.parametrize("unit, message", [
    ("furlongs", r"Parameter 'CL': unit 'furlongs' is a length \(\[length\]\), but this parameter is a volume "
                 r"per time"),
    ("mg", r"Parameter 'CL': unit 'mg' is a mass \(\[mass\]\), but this parameter is a volume per time"),
    ("L/dya", r"Parameter 'CL': unit 'L/dya' is not a unit pint can read"),
])
def test_wrong_or_unknown_units_are_refused_naming_the_row(tmp_path, unit, message):
    with pytest.raises(pkpd.PkpdError, match=message):
        pkpd.load_model(write_model(tmp_path, GOOD.replace('unit = "L/day"', f'unit = "{unit}"')))


def test_a_row_without_unit_is_refused(tmp_path):
    with pytest.raises(pkpd.PkpdError, match=r"parameter 'CL' gives no unit \(e.g. unit = \"L/day\"\)"):
        pkpd.load_model(write_model(tmp_path, GOOD.replace('unit = "L/day", ', "")))


def test_variability_units(tmp_path):
    sd = pkpd.load_model(write_model(tmp_path, GOOD + 'bsv_CL = { value = 0.3, unit = "SD", source = "t" }\n'))
    var = pkpd.load_model(write_model(tmp_path, GOOD + 'bsv_CL = { value = 0.09, unit = "variance", source = "t" }\n'))
    cv = pkpd.load_model(write_model(tmp_path, GOOD + 'bsv_CL = { value = 0.3, unit = "CV", source = "t" }\n'))
    assert sd.values["bsv_CL"] == 0.3 and var.values["bsv_CL"] == pytest.approx(0.3, rel=1e-15)
    assert cv.values["bsv_CL"] == math.sqrt(math.log1p(0.09))
    with pytest.raises(pkpd.PkpdError, match=r"a CV describes log-normal variability, but this parameter varies on the "
                                             r"logit scale"):
        pkpd.load_model(write_model(tmp_path, GOOD + 'bsv_F = { value = 0.3, unit = "CV", source = "t" }\n'))


# -- schema --------------------------------------------------------------------------------

PASI = """[model]
name = "p"
pk_model = "ustekinumab_pk"

[pd]
type = "pasi_turnover"
endpoints = "PASI"

[parameters]
kout = { value = 0.03, unit = "1/day", source = "t" }
Imax = { value = 1.0, unit = "1", source = "t" }
IC50 = { value = 0.2, unit = "mg/L", source = "t" }
hill = { value = 1.0, unit = "1", source = "t" }
Pmax = { value = 0.3, unit = "1", source = "t" }
omega_response = { value = 0.7, unit = "1", source = "t" }
"""


@pytest.mark.parametrize("old, new, message", [
    ('structure = "1cmt"', 'strucutre = "2cmt"', r"\[model\]: unknown key 'strucutre'. Did you mean 'structure'\?"),
    ('source = "test" }\nV', 'sorce = "test" }\nV', r"parameter 'CL': unknown field 'sorce'. Did you mean 'source'\?"),
    ("value = 0.3,", "value = true,", r"parameter 'CL': value must be a number, got True"),
    ("value = 0.3,", 'value = 0.3, lower = "abc",', r"parameter 'CL': lower must be a number, got 'abc'"),
    ("[parameters]", "[parameter]", r"unknown section 'parameter'. Did you mean 'parameters'\?"),
])
def test_typos_in_a_pk_model_file_are_refused_with_the_right_name(tmp_path, old, new, message):
    path = write_model(tmp_path, GOOD)
    text = open(path).read()
    assert old in text
    open(path, "w").write(text.replace(old, new, 1))
    with pytest.raises(pkpd.PkpdError, match=message):
        pkpd.load_model(path)


@pytest.mark.parametrize("old, new, message", [
    ('endpoints = "PASI"', 'endpionts = "PASI"', r"\[pd\]: unknown key 'endpionts'. Did you mean 'endpoints'\?"),
    ('type = "pasi_turnover"', 'type = "pasi_turnovr"', r"Unknown pd type 'pasi_turnovr'; .* Did you mean 'pasi_turnover'\?"),
    ("omega_response = {", 'bsv_omega_response = { value = 0.1, unit = "CV", source = "t" }\nomega_response = {',
     r"Unknown parameter 'bsv_omega_response' .* 'omega_response' is one value for all patients in the engine, "
     r"so it cannot carry between-subject variability"),
    ('[parameters]', '[population]\nwieght = { median = 70, cv = 0.2, unit = "kg", source = "t" }\n\n[parameters]',
     r"\[population\]: covariate 'wieght' acts on nothing. Did you mean 'weight'\?"),
    ('endpoints = "PASI"', 'endpoints = { PASI75 = 0.9, PASI90 = 0.75 }',
     r"Endpoint thresholds out of order: PASI75 = 0.9 must be below PASI90 = 0.75"),
])
def test_typos_in_a_pd_model_file_are_refused_with_the_right_name(tmp_path, old, new, message):
    path = tmp_path / "p.toml"
    assert old in PASI
    path.write_text(PASI.replace(old, new, 1))
    with pytest.raises(pkpd.PkpdError, match=message):
        pkpd.load_model(path)


def test_fractions_vary_logit_normally_inside_zero_and_one(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(PASI.replace("omega_response = {", 'bsv_Pmax = { value = 2.0, unit = "SD", source = "t" }\n'
                                 "omega_response = {"))
    model = pkpd.load_model(path)
    p = pkpd.sample_population(model, 20000, seed=1).individual(model)["Pmax"]
    assert 0 < p.min() and p.max() < 1  # no clipping at 1: an SD of 2 on the logit scale stays inside
    logit = np.log(p / (1 - p))
    assert np.median(logit) == pytest.approx(math.log(0.3 / 0.7), abs=0.05)
    assert np.std(logit) == pytest.approx(2.0, rel=0.03)


def test_model_files_naming_each_other_are_refused(tmp_path):
    (tmp_path / "a.toml").write_text(PASI.replace('name = "p"\npk_model = "ustekinumab_pk"', 'name = "a"\npk_model = "b"'))
    (tmp_path / "b.toml").write_text(PASI.replace('name = "p"\npk_model = "ustekinumab_pk"', 'name = "b"\npk_model = "a"'))
    with pytest.raises(pkpd.PkpdError, match=r"model files may not name each other in a circle"):
        pkpd.load_model(tmp_path / "a.toml")


def test_a_model_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "m.toml"
    path.write_bytes(b'[model]\nname = "caf\xe9"\n')
    with pytest.raises(pkpd.PkpdError, match=r"is not UTF-8 text \(byte 19\); save it as UTF-8"):
        pkpd.load_model(path)


def test_a_model_without_weight_effects_needs_no_weight_distribution(tmp_path):
    model = pkpd.load_model(write_model(tmp_path, GOOD + 'bsv_CL = { value = 0.3, unit = "CV", source = "t" }\n'))
    ds = pkpd.simulate(model, "45 mg SC at week 0", [1.0, 7.0], n_subjects=10)
    assert ds.concentration.shape == (1, 10, 2) and "weight" not in ds
    with pytest.raises(pkpd.PkpdError, match=r"Dose '1 mg/kg' is in mg/kg; pass the body weight"):
        pkpd.simulate(model, "1 mg/kg SC at week 0", [1.0], n_subjects=10)
    weighed = pkpd.simulate(model, "1 mg/kg SC at week 0", [1.0], n_subjects=10, weight=80.0)
    np.testing.assert_allclose(weighed.concentration, pkpd.simulate(model, "80 mg SC at week 0", [1.0],
                                                                   n_subjects=10).concentration, rtol=1e-15)


def test_library_models_and_their_parameter_tables():
    from pkpd.model import library
    assert library.names("models") == ["ustekinumab_pasi", "ustekinumab_pasi_effect", "ustekinumab_pasi_hill",
                                       "ustekinumab_pasi_nonresponders", "ustekinumab_pasi_sensitivity",
                                       "ustekinumab_pk"]
    for name in library.names("models"):  # every library model loads, its structure's rows all sourced
        m = pkpd.load_model(name)
        assert all(p.source.strip() for p in m.parameters)
    hill = pkpd.load_model("ustekinumab_pasi_hill")  # extends ustekinumab_pasi: its sources come along
    assert [k for k, _ in hill.sources] == ["ustekinumab_pasi_hill", "ustekinumab_pasi", "ustekinumab_pk"]
    assert hill.pd["type"] == "pasi_turnover_hill" and hill.values["Imax"] == 0.95
    pasi = pkpd.load_model("ustekinumab_pasi")
    assert pasi.endpoints.names == ("PASI50", "PASI75", "PASI90", "PASI100")
    assert [k for k, _ in pasi.sources] == ["ustekinumab_pasi", "ustekinumab_pk"]
    rebuilt = pkpd.model.model_from_sources(dict(pasi.sources), "ustekinumab_pasi")
    assert rebuilt.sha256 == pasi.sha256 and rebuilt.values == pasi.values


# -- dose parameters and residual error -------------------------------------------------------

def test_dose_parameters_of_each_compartment_are_rows_with_units(tmp_path):
    extra = ('F_central = { value = 0.6, unit = "1", source = "t" }\n'
             'tlag_central = { value = 2, unit = "h", source = "t" }\n'
             'duration_central = { value = 90, unit = "min", source = "t" }\n'
             'rate_depot = { value = 5, unit = "mg/h", source = "t" }\n'
             'bsv_F_central = { value = 0.2, unit = "CV", source = "t" }\n')
    model = pkpd.load_model(write_model(tmp_path, GOOD + extra))
    v = model.values
    assert (v["F_central"], v["tlag_central"], v["duration_central"], v["rate_depot"]) == \
        pytest.approx((0.6, 2 / 24, 90 / 1440, 120.0), rel=1e-15)
    assert "F_central" in model.pk_names and "tlag_central" in model.pk_names
    # A model without a depot has no depot dose parameters.
    iv = GOOD.replace('ka = { value = 0.4, unit = "1/day", source = "test" }\n', "").replace(
        'F = { value = 0.7, unit = "1", source = "test" }\n', "")
    path = write_model(tmp_path, iv + 'rate_depot = { value = 5, unit = "mg/h", source = "t" }\n')
    text = open(path).read().replace('absorption = "first_order"', 'absorption = "none"')
    open(path, "w").write(text)
    with pytest.raises(pkpd.PkpdError, match=r"Unknown parameter 'rate_depot' for model 'm'"):
        pkpd.load_model(path)


@pytest.mark.parametrize("name, hint", [("F2", "F_central"), ("ALAG1", "tlag"), ("D2", "duration_central")])
def test_nonmem_dose_parameter_names_point_to_pkpds(tmp_path, name, hint):
    with pytest.raises(pkpd.PkpdError, match=rf"Unknown parameter '{name}'.* NONMEM's {name} is '{hint}' here"):
        pkpd.load_model(write_model(tmp_path, GOOD + f'{name} = {{ value = 1, unit = "1", source = "t" }}\n'))


def test_residual_error_rows_have_units_and_sources(tmp_path):
    error = ('\n[error]\nproportional = { value = 15, unit = "percent", source = "t" }\n'
             'additive = { value = 10, unit = "ng/mL", source = "t" }\n')
    model = pkpd.load_model(write_model(tmp_path, GOOD, error))
    assert model.error_values == pytest.approx({"proportional": 0.15, "additive": 0.01}, rel=1e-15)
    for bad, message in [
        (error.replace("proportional", "proportionl"), r"\[error\]: unknown row 'proportionl'. Did you mean "
                                                       r"'proportional'\?"),
        (error.replace('unit = "ng/mL", ', ""), r"\[error\] row 'additive' gives no unit \(e.g. unit = \"mg/L\"\)"),
        (error.replace('"ng/mL"', '"mg"'), r"unit 'mg' is a mass"),
        (error.replace('source = "t" }\nadd', 'source = "" }\nadd'), r"\[error\] row 'proportional' names no source"),
        (error.replace("value = 15", "value = -1"), r"Parameter 'proportional' = -0.01 is not allowed; it must be >= 0"),
    ]:
        with pytest.raises(pkpd.PkpdError, match=message):
            pkpd.load_model(write_model(tmp_path, GOOD, bad))
