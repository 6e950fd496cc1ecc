"""Virtual trials in chunks: each chunk reduced to counts, patients that do not depend on the chunk size."""

import numpy as np
import pytest

import pkpd
from pkpd.predict import _trials

ARMS = {"45 mg": "45 mg SC at week 0", "90 mg x4": "90 mg SC at weeks 0, 1, 2, 3", "placebo": "placebo"}


def test_virtual_patients_are_drawn_in_fixed_blocks_whatever_the_chunks():
    model = pkpd.load_fit("ustekinumab_phase2").model
    whole = _trials._patients(model, 7, 1, 0, 2500, 2500, None)
    for cuts in ([0, 700, 1800, 2500], [0, 1, 999, 1000, 1001, 2500]):
        parts = [_trials._patients(model, 7, 1, a, b - a, 2500, None) for a, b in zip(cuts[:-1], cuts[1:])]
        np.testing.assert_array_equal(np.concatenate([p[0].z for p in parts]), whole[0].z)
        np.testing.assert_array_equal(np.concatenate([p[0].weight for p in parts]), whole[0].weight)
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), whole[1])
        np.testing.assert_array_equal(np.concatenate([p[2] for p in parts]), whole[2])
    other_arm = _trials._patients(model, 7, 2, 0, 2500, 2500, None)
    assert not np.any(other_arm[1] == whole[1])  # every arm has its own patients
    assert whole[0].z.shape == (2500, len(whole[0].z_names)) and len(np.unique(whole[1])) == 2500


@pytest.mark.parametrize("chunk_size", [37, 1000, 1001])
def test_virtual_trials_do_not_depend_on_the_chunk_size(chunk_size):
    model = pkpd.load_fit("ustekinumab_phase2").model
    kwargs = dict(time_unit="week", n_trials=4, seed=3)
    reference = pkpd.simulate_trial(model, ARMS, [4, 12, 24], 640, **kwargs)
    chunked = pkpd.simulate_trial(model, ARMS, [4, 12, 24], 640, chunk_size=chunk_size, **kwargs)
    np.testing.assert_array_equal(chunked.responders.values, reference.responders.values)
    assert 0 < int(reference.responders.sel(endpoint="PASI75").sum()) < 4 * 3 * 3 * 640


def test_kept_patients_of_a_virtual_trial_do_not_depend_on_the_chunk_size():
    model = pkpd.load_fit("ustekinumab_phase2").model
    a = pkpd.simulate_trial(model, ARMS, [12], 1500, time_unit="week", seed=5, keep_patients=True)
    b = pkpd.simulate_trial(model, ARMS, [12], 1500, time_unit="week", seed=5, keep_patients=True, chunk_size=400)
    assert a.identical(b)
    np.testing.assert_array_equal(a.responders.isel(trial=0), a.responder.sum("subject"))


def test_mixture_classes_of_a_virtual_trial_do_not_depend_on_the_chunk_size(tmp_path):
    text = pkpd.load_model("ustekinumab_pasi").sources[0][1].replace('type = "pasi_turnover"',
                                                                    'type = "pasi_nonresponders"')
    text = text.replace("[parameters]\n", '[parameters]\nnonresponders = { value = 0.3, unit = "1", lower = 0.0, '
                        'upper = 1.0, description = "share", source = "test value", assumption = true }\n')
    (tmp_path / "mix.toml").write_text(text)
    model = pkpd.load_model(tmp_path / "mix.toml").replace(pkpd.load_fit("ustekinumab_phase2").model.values)
    a = pkpd.simulate_trial(model, ARMS, [12], 3000, time_unit="week", seed=5)
    b = pkpd.simulate_trial(model, ARMS, [12], 3000, time_unit="week", seed=5, chunk_size=700)
    np.testing.assert_array_equal(a.responders.values, b.responders.values)
    # A 30% class of non-responders follows the placebo course: PASI75 falls by about 30%.
    plain = pkpd.simulate_trial(pkpd.load_fit("ustekinumab_phase2").model, ARMS, [12], 3000, time_unit="week",
                                seed=5)
    mixed, responders = (float(x.rate.sel(regimen="90 mg x4", endpoint="PASI75").item()) for x in (a, plain))
    placebo = float(plain.rate.sel(regimen="placebo", endpoint="PASI75").item())
    assert mixed == pytest.approx(0.7 * responders + 0.3 * placebo, abs=0.04)  # 3,000 patients: SE about 0.01


def test_virtual_trial_weights_are_one_number_or_one_per_patient():
    model = pkpd.load_fit("ustekinumab_phase2").model
    with pytest.raises(pkpd.PkpdError, match=r"weight must be one number \(kg\) or one per patient of an arm, "
                                             r"n_per_arm x n_trials = 128; got shape \(64,\)"):
        pkpd.simulate_trial(model, ARMS, [12], 64, n_trials=2, time_unit="week", weight=np.full(64, 80.0))
    w = np.linspace(50, 140, 128)
    a = pkpd.simulate_trial(model, ARMS, [12], 64, n_trials=2, time_unit="week", weight=w)
    b = pkpd.simulate_trial(model, ARMS, [12], 64, n_trials=2, time_unit="week", weight=w, chunk_size=50)
    np.testing.assert_array_equal(a.responders.values, b.responders.values)

