"""Large simulations in bounded memory: lazy datasets chunked over subjects, written chunk by chunk.

The lazy results are compared with in-memory ones to the bit (the closed form computes each
subject alone); the memory figures themselves are printed by benchmarks/bench_memory.py.
"""

import numpy as np
import pytest
import xarray as xr

import pkpd
from pkpd.cli import main
from pkpd.parallel import is_lazy
from pkpd.pk import _simulate

REGIMENS = {"maintenance": "45 mg SC at weeks 0, 4 then every 12 weeks until week 52",
            "banded": "45 mg if weight <= 100 kg else 90 mg SC at weeks 0, 4 then every 12 weeks until week 52",
            "infusion": "5 mg/kg IV over 2 h at weeks 0, 2, 6 then every 8 weeks x3",
            "steady": "45 mg SC every 12 weeks from week 0 x1 at steady state",
            "placebo": "placebo"}
TIMES = np.arange(0.0, 393.0, 4.0)
N = 400


@pytest.fixture(scope="module")
def in_memory():
    ds = pkpd.simulate("ustekinumab_pk", REGIMENS, TIMES, n_subjects=N, seed=11)
    assert not is_lazy(ds.concentration.data)
    return ds


@pytest.mark.parametrize("chunk_size", [3, 64, 399, 400, 1000])
def test_a_lazy_simulation_equals_the_in_memory_one_to_the_bit_for_any_chunk_size(in_memory, chunk_size):
    lazy = pkpd.simulate("ustekinumab_pk", REGIMENS, TIMES, n_subjects=N, seed=11, chunk_size=chunk_size)
    c = lazy.concentration.data
    assert is_lazy(c)
    assert c.chunks[0] == (1,) * len(REGIMENS) and c.chunks[2] == (TIMES.size,)
    assert max(c.chunks[1]) == min(chunk_size, N) and sum(c.chunks[1]) == N
    loaded = lazy.compute()
    assert loaded.identical(in_memory)  # values, parameters, coordinates and attributes
    assert float(loaded.concentration.max()) > 1.0  # the comparison is not between zeros


def test_chunks_do_not_change_which_patients_are_drawn():
    # The first 300 of 5,000 patients, computed in chunks of 700, are the 300 patients of a
    # smaller in-memory run with the same seed: a patient depends on the seed and her index.
    lazy = pkpd.simulate("ustekinumab_pk", REGIMENS, TIMES, n_subjects=5000, seed=3, chunk_size=700)
    small = pkpd.simulate("ustekinumab_pk", REGIMENS, TIMES, n_subjects=300, seed=3)
    assert lazy.isel(subject=slice(0, 300)).compute().identical(small)


def test_reductions_of_a_lazy_simulation_run_chunk_by_chunk_and_equal_the_in_memory_ones(in_memory):
    lazy = pkpd.simulate("ustekinumab_pk", REGIMENS, TIMES, n_subjects=N, seed=11, chunk_size=150)
    peak = lazy.concentration.max("time")
    assert is_lazy(peak.data)
    np.testing.assert_array_equal(peak.values, in_memory.concentration.max("time").values)
    np.testing.assert_array_equal(lazy.concentration.sel(time=84.0).values,
                                  in_memory.concentration.sel(time=84.0).values)


def test_the_default_is_in_memory_up_to_the_budget_and_lazy_in_default_chunks_above(monkeypatch, in_memory):
    size = 8 * len(REGIMENS) * N * TIMES.size
    monkeypatch.setattr(_simulate, "IN_MEMORY_BYTES", size)
    at = pkpd.simulate("ustekinumab_pk", REGIMENS, TIMES, n_subjects=N, seed=11)
    assert not is_lazy(at.concentration.data)
    monkeypatch.setattr(_simulate, "IN_MEMORY_BYTES", size - 1)
    monkeypatch.setattr(_simulate, "CHUNK_BYTES", 150 * (56 * TIMES.size + 400 * 6))  # 6: the most doses of an arm
    above = pkpd.simulate("ustekinumab_pk", REGIMENS, TIMES, n_subjects=N, seed=11)
    assert is_lazy(above.concentration.data)
    assert above.concentration.data.chunks[1] == (150, 150, 100)
    assert above.compute().identical(in_memory)


def test_the_default_chunk_size_follows_the_output_times_and_the_doses():
    regs = pkpd.dosing.named_regimens(REGIMENS["maintenance"])  # 6 doses
    # CHUNK_BYTES / (56 B per time x 393 times + 400 B per dose x 6 doses) = 2**27 / 24,408
    assert _simulate.default_chunk_size(regs, np.arange(393.0)) == 5498
    weekly = pkpd.dosing.named_regimens("45 mg SC every week until week 56")  # 57 doses
    assert _simulate.default_chunk_size(weekly, np.arange(393.0)) == 2 ** 27 // (56 * 393 + 400 * 57)
    assert _simulate.default_chunk_size(regs, np.arange(10_000_000.0)) == 1  # at least one subject


def test_ode_chunks_agree_within_the_solver_error_and_the_same_chunks_to_the_bit():
    regs = {"maintenance": REGIMENS["maintenance"]}
    times = np.arange(0.0, 393.0, 14.0)
    whole = pkpd.simulate("ustekinumab_pk", regs, times, n_subjects=48, seed=2, method="ode").concentration.values
    exact = pkpd.simulate("ustekinumab_pk", regs, times, n_subjects=48, seed=2).concentration.values
    chunked = [pkpd.simulate("ustekinumab_pk", regs, times, n_subjects=48, seed=2, method="ode",
                             chunk_size=16).concentration.values for _ in range(2)]
    np.testing.assert_array_equal(chunked[0], chunked[1])
    # Subjects integrated together share steps, so chunks move the ODE's values by about its
    # own error: against the exact closed form, chunked and whole runs are equally accurate
    # (rtol 1e-8 on concentrations of a few mg/L).
    error_whole, error_chunked = (np.abs(c - exact).max() for c in (whole, chunked[0]))
    assert 0 < error_whole < 5e-8 and 0 < error_chunked < 5e-8


def test_simulate_refuses_bad_chunk_sizes_and_a_client_for_a_lazy_result(tmp_path):
    with pytest.raises(pkpd.PkpdError, match=r"chunk_size must be a whole number, got 0\.5\. It is a number of "
                                             r"subjects per chunk"):
        pkpd.simulate("ustekinumab_pk", "placebo", [0, 7], n_subjects=10, chunk_size=0.5)
    with pytest.raises(pkpd.PkpdError, match=r"chunk_size must be a whole number >= 1, got 0\."):
        pkpd.simulate("ustekinumab_pk", "placebo", [0, 7], n_subjects=10, chunk_size=0)
    with pytest.raises(pkpd.PkpdError, match=r"1 regimens x 10 subjects x 2 times.*is returned lazily.*"
                                             r"pkpd.write_dataset\(ds, path, client=client\)"):
        pkpd.simulate("ustekinumab_pk", "placebo", [0, 7], n_subjects=10, chunk_size=5, client=object())
    (tmp_path / "d.csv").write_text("ID,TIME,AMT,EVID,DV\n1,0,45,1,.\n1,7,0,0,.\n")
    data = pkpd.read_nonmem(tmp_path / "d.csv", time_unit="day")
    with pytest.raises(pkpd.PkpdError, match="chunk_size= and client= apply to simulations of regimens"):
        pkpd.simulate("ustekinumab_pk", data, chunk_size=5, weight=70)


# -- writing -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lazy():
    return pkpd.simulate("ustekinumab_pk", REGIMENS, TIMES, n_subjects=N, seed=11, chunk_size=128)


def test_a_lazy_simulation_streams_to_netcdf_with_its_chunks_and_reads_back_equal(tmp_path, in_memory, lazy):
    pkpd.write_dataset(in_memory, tmp_path / "memory.nc")
    assert pkpd.write_dataset(lazy, tmp_path / "lazy.nc") == tmp_path / "lazy.nc"
    with xr.open_dataset(tmp_path / "lazy.nc", engine="h5netcdf") as a, \
            xr.open_dataset(tmp_path / "memory.nc", engine="h5netcdf") as b:
        assert a.load().identical(b.load())
        assert a.identical(in_memory)
        assert a.concentration.encoding["chunksizes"] == (1, 128, TIMES.size)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lazy.nc", "memory.nc"]  # no temporary left


def test_a_lazy_simulation_writes_the_same_csv_bytes_as_the_in_memory_one(tmp_path, in_memory, lazy):
    pkpd.write_dataset(in_memory, tmp_path / "memory.csv")
    pkpd.write_dataset(lazy, tmp_path / "lazy.csv")
    text = (tmp_path / "lazy.csv").read_bytes()
    assert text == (tmp_path / "memory.csv").read_bytes()
    assert text.count(b"\n") == 1 + len(REGIMENS) * N * TIMES.size


def test_a_lazy_simulation_streams_to_zarr_and_replaces_an_existing_store(tmp_path, in_memory, lazy):
    path = tmp_path / "sim.zarr"
    pkpd.write_dataset(in_memory.isel(subject=slice(0, 5)), path)
    pkpd.write_dataset(lazy, path)
    with xr.open_zarr(path) as z:
        assert z.concentration.encoding["chunks"] == (1, 128, TIMES.size)
        assert z.load().identical(in_memory)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim.zarr"]


def test_zarr_needs_the_zarr_package_and_a_folder_that_is_a_store(tmp_path, monkeypatch, lazy):
    folder = tmp_path / "data.zarr"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(pkpd.PkpdError, match=r"data.zarr' exists and is not a zarr store; remove it or choose"):
        pkpd.write_dataset(lazy, folder)
    assert (folder / "notes.txt").read_text() == "mine"
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "zarr" else real(name, *a))
    with pytest.raises(pkpd.PkpdError, match=r"needs the zarr package, which is not installed: pip install "
                                             r"'pkpd\[zarr\]' \(or write \.nc"):
        pkpd.write_dataset(lazy, tmp_path / "new.zarr")
    with pytest.raises(pkpd.PkpdError, match=r"Output .*sim.txt': the file type follows the suffix; allowed: "
                                             r"\.nc \(netCDF\), \.csv .*\.zarr"):
        pkpd.write_dataset(lazy, tmp_path / "sim.txt")


@pytest.mark.parametrize("suffix", [".nc", ".csv", ".zarr"])
def test_a_write_that_fails_midway_leaves_the_previous_output_whole(tmp_path, monkeypatch, in_memory, suffix):
    path = tmp_path / f"sim{suffix}"
    pkpd.write_dataset(in_memory, path)
    before = _snapshot(path)
    real = _simulate._concentration_block

    def failing(model, regimen, t, individual, weight, method, ode_options):
        if individual["CL"].size < 128:  # the last chunk of subjects
            raise RuntimeError("disk full")
        return real(model, regimen, t, individual, weight, method, ode_options)
    monkeypatch.setattr(_simulate, "_concentration_block", failing)
    broken = pkpd.simulate("ustekinumab_pk", REGIMENS, TIMES, n_subjects=N, seed=11, chunk_size=128)
    with pytest.raises(RuntimeError, match="disk full"):
        pkpd.write_dataset(broken, path)
    assert _snapshot(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def _snapshot(path):
    if path.is_dir():
        return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}
    return path.read_bytes()


# -- plots and the command line -----------------------------------------------------------------

def test_a_lazy_simulation_plots_like_the_in_memory_one_or_says_how_to_plot_a_subset(monkeypatch, in_memory, lazy):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def medians(fig):
        ax = next(a for a in fig.axes if a.get_gid() == "concentration")
        return [line.get_ydata() for line in ax.get_lines() if line.get_gid() == "median"]
    a, b = pkpd.plot_concentrations(lazy), pkpd.plot_concentrations(in_memory)
    assert len(medians(a)) == len(REGIMENS) - 1  # placebo is not drawn on the log axis
    for x, y in zip(medians(a), medians(b)):
        np.testing.assert_array_equal(x, y)
    plt.close("all")
    monkeypatch.setattr(_simulate, "IN_MEMORY_BYTES", 1000)
    with pytest.raises(pkpd.PkpdError, match=r"too large to plot from memory \(400 subjects x 99 times x 5 "
                                             r"regimens.*plot_concentrations\(ds.isel\(subject=slice\(0, 10_000\)\)\)"):
        pkpd.plot_concentrations(lazy)


def test_cli_streams_a_large_simulation_and_prints_the_same_summary(tmp_path, monkeypatch, capsys):
    args = ["simulate", "--regimen", REGIMENS["maintenance"], "--regimen", REGIMENS["infusion"], "--n", "300",
            "--weeks", "56", "--seed", "4"]
    assert main(args + ["--out", str(tmp_path / "memory.nc")]) == 0
    expected = capsys.readouterr().out
    monkeypatch.setattr(_simulate, "IN_MEMORY_BYTES", 1000)
    monkeypatch.setattr(_simulate, "CHUNK_BYTES", 100 * (56 * 393 + 400 * 6))  # 100 subjects per chunk

    def columns(text):
        """Per regimen line: (name, peak column, end column); the large run's peak is the grid's largest value
        (the in-memory run's is each patient's exact peak), so only the end column must be equal."""
        rows = [line for line in text.splitlines()[1:] if line.strip() and not line.startswith("wrote")]
        return [(r[:60], r[60:89], r[89:]) for r in rows]
    for suffix in (".nc", ".zarr", ".csv"):
        out = tmp_path / f"large{suffix}"
        assert main(args + ["--out", str(out)]) == 0
        got = capsys.readouterr().out
        assert "grid max median" in got and got.endswith(f"wrote {out}\n")
        assert [(a, c) for a, _, c in columns(got)] == [(a, c) for a, _, c in columns(expected)]
    with xr.open_dataset(tmp_path / "large.nc", engine="h5netcdf") as a, \
            xr.open_dataset(tmp_path / "memory.nc", engine="h5netcdf") as b:
        assert a.concentration.encoding["chunksizes"] == (1, 100, 393)
        assert a.load().identical(b.load())
    assert main(args) == 0  # no file: the summary alone, in one pass over the chunks
    assert [(a, c) for a, _, c in columns(capsys.readouterr().out)] == [(a, c) for a, _, c in columns(expected)]
    assert main(args + ["--out", str(tmp_path / "p.nc"), "--plot", str(tmp_path / "p.png")]) == 2
    assert "--plot draws quantiles over all virtual patients" in capsys.readouterr().err
    assert not (tmp_path / "p.nc").exists() and not (tmp_path / "p.png").exists()
