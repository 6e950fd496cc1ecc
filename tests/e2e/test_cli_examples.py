"""The command line, the example scripts, and README's commands."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr

from pkpd.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_cli_simulate_prints_a_table_and_writes_files(tmp_path, capsys):
    out, png = tmp_path / "c.nc", tmp_path / "c.png"
    code = main(["simulate", "--regimen", "90 mg SC weekly x4", "--regimen", "placebo", "--n", "20",
                 "--seed", "1", "--weeks", "12", "--out", str(out), "--plot", str(png)])
    assert code == 0
    text = capsys.readouterr().out
    assert "90 mg SC weekly x4" in text and "placebo" in text
    ds = xr.load_dataset(out)
    assert ds.sizes == {"regimen": 2, "subject": 20, "time": 85}
    assert png.stat().st_size > 10_000


@pytest.mark.parametrize("argv, message", [
    (["simulate", "--regimen", "45 mg SC evry week"], "word 4 'evry'"),
    (["simulate", "--regimen", "45 mg SC at week 0", "--model", "nope"], "No model file 'nope'"),
    (["simulate", "--regimen", "45 mg SC at week 0", "--weeks", "-1"], "--weeks must be > 0"),
])
def test_cli_bad_input_is_one_line_and_exit_code_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_simulate_phase2_example_runs(tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "simulate_phase2.py"), "--n", "50",
                          "--out", str(tmp_path)], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "half-life 23.4 days" in run.stdout  # ln2 * V/CL = ln2 * 15.7/0.465 (Zhu 2009)
    assert "phase2_concentrations.png, " in run.stdout and "typical_patient.png" in run.stdout
    for name in ("phase2_concentrations.png", "typical_patient.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def readme_commands():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.*?)\n```", text, flags=re.S)[:2]


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = readme_commands()[1]
    assert "pytest" in test_command
    assert test_command in ci.splitlines()


def test_fit_phase2_example_runs_and_writes_the_same_fit(tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    out = tmp_path / "fit.json"
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "fit_phase2.py"), "--out", str(out),
                          "--plot", str(tmp_path / "fit.png")], capture_output=True, text=True, env=env,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    assert "10 of 10 observed rates inside the 95% interval" in run.stdout
    assert "Predicted responders (%)" in run.stdout
    import json
    library = ROOT / "pkpd" / "model" / "library" / "fits" / "ustekinumab_phase2.json"
    fresh, committed = (json.loads(p.read_text()) for p in (out, library))
    # The library's reference fit is what the example produces (model, data and estimates;
    # bit-equal with the same library versions on the same machine, README).
    assert fresh["model"]["sha256"] == committed["model"]["sha256"]
    assert fresh["trial"]["sha256"] == committed["trial"]["sha256"]
    for name, est in committed["estimates"].items():
        assert fresh["estimates"][name]["value"] == pytest.approx(est["value"], rel=1e-8)


def test_predict_regimens_example_runs(tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "predict_regimens.py"), "--draws", "50",
                          "--out", str(tmp_path)], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "Ranked by PASI75 at week 52" in run.stdout
    line = next(l for l in run.stdout.splitlines() if l.startswith("Week-16 top-up given to"))
    given, non_responders = (float(x.split("%")[0]) for x in line.split("given to ")[1].split("week 16 on the label: "))
    assert given == non_responders
    for name in ("predict_regimens.png", "compare_regimens.png", "dose_response.png"):
        assert str(tmp_path / name) in run.stdout
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_structures_example_runs(tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    png = tmp_path / "compare_structures.png"
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "compare_structures.py"), "--nodes", "64",
                          "--draws", "10", "--plot", str(png)], capture_output=True, text=True, env=env, timeout=900)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    # the label check: 90 mg above 100 kg against 45 mg at or below, for the library's weight model
    library = next(l for l in out.splitlines() if l.strip().startswith("library (weight exponents"))
    ratio = float(library.split("90 mg > 100 kg:")[1])
    assert 0.9 < ratio < 1.4, library
    for name in ("ustekinumab_pasi_hill", "ustekinumab_pasi_nonresponders", "ustekinumab_pasi_effect",
                 "ustekinumab_pasi_sensitivity", "Likelihood-ratio tests", "MAP with the kout prior",
                 "PASI75 at week 52 by structure"):
        assert name in out, name
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and str(png) in out
