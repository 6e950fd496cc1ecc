"""The installed package is the product: build the wheel, install it into a fresh virtual
environment and use it from an empty folder, as a new user would."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pkpd

ROOT = Path(__file__).resolve().parents[2]
REGIMEN = "45 mg SC at weeks 0, 4"


def run(args, cwd, env=None, timeout=900):
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    work = tmp_path_factory.mktemp("wheel")
    # A fresh environment: without PYTHONPATH, whose source tree (and its pkpd.egg-info) would
    # make pip take pkpd as installed already and skip the wheel.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["MPLBACKEND"] = "Agg"
    run([sys.executable, "-m", "build", "--wheel", "--outdir", work / "dist", ROOT], cwd=work)
    wheels = list((work / "dist").glob("pkpd-*.whl"))
    assert len(wheels) == 1
    venv = work / "venv"
    run([sys.executable, "-m", "venv", venv], cwd=work, env=env)
    run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheels[0]], cwd=work, env=env)
    empty = work / "empty"
    empty.mkdir()
    return venv / "bin", empty, env


def test_the_wheel_carries_the_library_and_the_cli_works_from_an_empty_folder(installed):
    bin_, empty, env = installed
    pkpd_cli = bin_ / "pkpd"
    assert run([pkpd_cli, "--version"], empty, env).strip() == f"pkpd {pkpd.__version__}"
    assert run([bin_ / "python", "-m", "pkpd", "--version"], empty, env).strip() == f"pkpd {pkpd.__version__}"
    listing = run([pkpd_cli, "models"], empty, env)
    for name in ("ustekinumab_pk", "ustekinumab_pasi", "krueger2007_phase2", "ustekinumab_phase2"):
        assert name in listing
    sim = run([pkpd_cli, "simulate", "--regimen", REGIMEN, "--n", "20", "--weeks", "12"], empty, env)
    assert REGIMEN in sim
    library_fit = json.loads(run([pkpd_cli, "predict", "--fit", "ustekinumab_phase2", "--regimen", REGIMEN,
                                  "--at-week", "12", "--json"], empty, env))
    run([pkpd_cli, "fit", "ustekinumab_pasi", "krueger2007_phase2", "--out", "f.json"], empty, env)
    own_fit = json.loads(run([pkpd_cli, "predict", "--fit", "f.json", "--regimen", REGIMEN, "--at-week", "12",
                              "--json"], empty, env))
    # Every prediction of the installed package equals the one of this process.
    here = pkpd.predict("ustekinumab_phase2", {REGIMEN: REGIMEN}, [12], time_unit="week")
    for printed in (library_fit, own_fit):
        for row in printed["predictions"]:
            assert row["rate"] == pytest.approx(here.rate.sel(endpoint=row["endpoint"]).item(), rel=1e-8)
    assert sorted(p.name for p in empty.iterdir()) == ["f.json"]


def test_import_pkpd_in_the_installed_package_is_light(installed):
    bin_, empty, env = installed
    code = ("import sys, pkpd; print(pkpd.__file__); "
            "print(sorted(m for m in ('matplotlib', 'lmfit') if m in sys.modules))")
    out = run([bin_ / "python", "-c", code], empty, env).splitlines()
    assert "site-packages" in out[0] and str(ROOT) not in out[0]
    assert out[1] == "[]"
