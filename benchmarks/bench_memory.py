"""Peak memory of large runs: 5 arms x 2,000,000 virtual patients, and 1,000,000 subjects x
393 daily times written to netCDF (goal: each under 2 GB).

Run:  python benchmarks/bench_memory.py [--patients 2000000] [--subjects 1000000]
                                        [--only trial|simulate] [--folder DIR]

Every memory figure is this process's own accounting: the peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``). Before each run the peak is reset through
``/proc/self/clear_refs`` (Linux), so each run prints its own peak, with the resident size it
started from; where the reset is not available the peaks are cumulative (the script says
so) and only rising figures mean anything. Each large run is compared with a baseline in
the same process: one tenth of the patients (memory must not grow with n) and another
chunk size (memory follows the chunk size).

1. Virtual trials: pkpd.simulate_trial of ustekinumab_pasi at the phase II fit
   (ustekinumab_phase2), the five phase II arms, outputs weekly from week 0 to week 24,
   all four endpoints: a. --patients/10 per arm in chunks of 5,000; b. the same in the
   default chunks of 20,000; c. --patients per arm in the default chunks (the goal).
2. Concentrations written to netCDF: pkpd.simulate of ustekinumab_pk, one regimen (45 mg SC
   at weeks 0, 4 then every 12 weeks until week 52), daily outputs, days 0-392 (393 times),
   streamed by pkpd.write_dataset: a. --subjects/10 in the default chunks; b. --subjects
   (the goal); c. --subjects in chunks of 20,000; d. for scale, --subjects/10 loaded into
   memory at once (ds.compute()). The first 1,000 subjects of the file are checked against
   an in-memory simulation of 1,000 subjects with the same seed (they must be equal to the
   bit).
"""

import argparse
import gc
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

import pkpd

ARMS = ["45 mg SC at week 0", "90 mg SC at week 0", "45 mg SC at weeks 0, 1, 2, 3", "90 mg SC at weeks 0, 1, 2, 3",
        "placebo"]
REGIMEN = "45 mg SC at weeks 0, 4 then every 12 weeks until week 52"  # days 0, 28, 112, 196, 280, 364
DAYS = np.arange(393.0)
GOAL_MB = 2000.0


def _reset_peak() -> bool:
    """Reset this process's peak resident size (Linux: clear_refs 5), if the system allows it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_mb() -> float:
    scale = 1.0 if sys.platform == "darwin" else 1024.0  # bytes on macOS, kB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2 ** 20


def _current_mb() -> float:
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def measure(run):
    """(result, seconds, peak MB, resident MB at the start) of ``run()``."""
    gc.collect()
    _reset_peak()
    start = _current_mb()
    t0 = time.perf_counter()
    out = run()
    return out, time.perf_counter() - t0, _peak_mb(), start


def line(label, seconds, peak, start, goal=False):
    verdict = ""
    if goal:
        verdict = f"  -> {'under' if peak < GOAL_MB else 'OVER'} the {GOAL_MB / 1000:g} GB goal"
    print(f"   {label:<54} {seconds:7.1f} s   peak {peak:7.0f} MB (from {start:.0f} MB){verdict}")


def trials(n):
    fit = pkpd.load_fit("ustekinumab_phase2")
    weeks = np.arange(0, 25)

    def run(patients, chunk_size):
        return pkpd.simulate_trial(fit.model, ARMS, weeks, patients, time_unit="week", seed=2024,
                                   chunk_size=chunk_size)
    pkpd.simulate_trial(fit.model, ARMS, weeks, 100, time_unit="week")  # warm-up (compiled kernels)
    print(f"1. pkpd.simulate_trial: 5 phase II arms x {n:,} patients, weekly to week 24 (25 times x 4 endpoints)")
    small = n // 10
    _, s1, p1, r1 = measure(lambda: run(small, 5_000))
    line(f"a. {small:,} patients per arm, chunks of 5,000", s1, p1, r1)
    _, s2, p2, r2 = measure(lambda: run(small, 20_000))
    line(f"b. {small:,} patients per arm, chunks of 20,000", s2, p2, r2)
    ds, s3, p3, r3 = measure(lambda: run(n, 20_000))
    line(f"c. {n:,} patients per arm, chunks of 20,000", s3, p3, r3, goal=True)
    per_patient = (p2 - p1) / (2 * (20_000 - 5_000)) * 1024  # two chunks in flight on two threads
    print(f"   c / b: {n // small}x the patients, {p3 / p2:.2f}x the peak ({s3 / s2:.1f}x the time); b - a: "
          f"{p2 - p1:.0f} MB for 15,000 more patients per chunk (about {per_patient:.0f} kB per patient in flight)")
    week12 = ds.rate.sel(trial=0, time=84.0, endpoint="PASI75").values
    print("   PASI75 at week 12: " + ", ".join(f"{a} {100 * r:.2f}%" for a, r in zip(ARMS, week12)))


def simulation(n, folder: Path):
    print(f"2. pkpd.simulate + pkpd.write_dataset to netCDF: {n:,} subjects x 393 daily times, one regimen")
    small = n // 10

    def write(subjects, chunk_size, path):
        ds = pkpd.simulate("ustekinumab_pk", REGIMEN, DAYS, n_subjects=subjects, seed=1, chunk_size=chunk_size)
        pkpd.write_dataset(ds, path)
        chunks = getattr(ds.concentration.data, "chunksize", None)  # None: small enough to compute at once
        return f"chunks of {chunks[1]:,}" if chunks else "in memory"
    pkpd.simulate("ustekinumab_pk", REGIMEN, DAYS, n_subjects=10)  # warm-up
    chunk, s1, p1, r1 = measure(lambda: write(small, None, folder / "small.nc"))
    line(f"a. {small:,} subjects, default ({chunk})", s1, p1, r1)
    path = folder / "large.nc"
    chunk, s2, p2, r2 = measure(lambda: write(n, None, path))
    line(f"b. {n:,} subjects, default ({chunk})", s2, p2, r2, goal=True)
    size = path.stat().st_size / 2 ** 30
    _, s3, p3, r3 = measure(lambda: write(n, 20_000, folder / "large20k.nc"))
    line(f"c. {n:,} subjects, chunks of 20,000", s3, p3, r3)
    _, s4, p4, r4 = measure(lambda: pkpd.simulate("ustekinumab_pk", REGIMEN, DAYS, n_subjects=small,
                                                  seed=1).compute())
    line(f"d. for scale: {small:,} subjects loaded in memory at once", s4, p4, r4)
    print(f"   b / a: {n // small}x the subjects, {p2 / p1:.2f}x the peak ({s2 / s1:.1f}x the time); "
          f"file {size:.2f} GiB ({size * 1024 / s2:.0f} MB/s); c - b: {p3 - p2:+.0f} MB for chunks of 20,000")
    with xr.open_dataset(path, engine="h5netcdf") as f:
        head = f.concentration.isel(subject=slice(0, 1000)).values
    exact = pkpd.simulate("ustekinumab_pk", REGIMEN, DAYS, n_subjects=1000, seed=1).concentration.values
    print(f"   first 1,000 subjects of the file equal an in-memory simulation of 1,000: "
          f"{'yes, to the bit' if np.array_equal(head, exact) else 'NO'}")


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=2_000_000, help="virtual patients per arm (default 2e6)")
    parser.add_argument("--subjects", type=int, default=1_000_000, help="subjects simulated (default 1e6)")
    parser.add_argument("--only", choices=("trial", "simulate"), default=None)
    parser.add_argument("--folder", default=None, help="where the netCDF files go (default: a temporary folder, "
                                                       "removed at the end)")
    args = parser.parse_args(argv)
    if not _reset_peak():
        print("(this system cannot reset the peak resident size: each figure is the peak so far)")
    print(f"pkpd {pkpd.__version__}; peak resident memory from getrusage(RUSAGE_SELF).ru_maxrss, reset before each "
          "run; times are wall clock")
    if args.only in (None, "trial"):
        trials(args.patients)
    if args.only in (None, "simulate"):
        folder = Path(args.folder) if args.folder else Path(tempfile.mkdtemp(prefix="pkpd-bench-"))
        folder.mkdir(parents=True, exist_ok=True)
        try:
            simulation(args.subjects, folder)
        finally:
            if not args.folder:
                shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
