"""Cost of response-guided rules: time, peak memory and the dosing histories computed.

The issue-10 case: the labelled regimen (45 mg, 90 mg above 100 kg, at weeks 0 and 4 then
every 12 weeks) with a monthly check for two years, "if not PASI75 at week 4m: 45 mg SC at
week 4m" for m = 1..24, predicted to week 100 from the phase II fit (1,024 nodes). Before
issue 10 every rule doubled the regimens computed (2^24); now a dosing history is computed
when some patients follow it, for the nodes where they are.

Printed: the wall time of pkpd.predict (kernels compiled beforehand; the median of 3 runs)
and the process's peak resident memory (resource.getrusage), then for k = 6, 12, 18, 24 monthly checks and for
weekly checks while responses still rise, the histories computed against 2^k.

    python benchmarks/bench_rules.py
"""

from __future__ import annotations

import resource
import time

import numpy as np

import pkpd
from pkpd.design import RateEngine

LABEL = "45 mg if weight <= 100 kg else 90 mg SC at weeks 0, 4 then every 12 weeks"


def monthly(k: int) -> str:
    return LABEL + "".join(f"; if not PASI75 at week {4 * m}: 45 mg SC at week {4 * m}" for m in range(1, k + 1))


def rising(k: int) -> str:
    return "45 mg SC every 2 weeks" + "".join(f"; if not PASI75 at week {w}: 45 mg SC at week {w}"
                                              for w in range(1, k + 1))


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def histories(fit, text: str, weeks: float) -> tuple[int, float]:
    """Histories computed for one regimen, and the seconds it took, on the fit's design."""
    engine = RateEngine(fit.model, {"r": text}, np.array([weeks * 7.0]), fit.design.nodes(fit.model), fit.design)
    start = time.perf_counter()
    engine.evaluate()
    return len(engine._histories[0]), time.perf_counter() - start


def main() -> None:
    fit = pkpd.load_fit("ustekinumab_phase2")
    pkpd.predict(fit, {"warm-up": "45 mg SC at week 0; if not PASI75 at week 4: 45 mg SC at week 4"}, [8],
                 time_unit="week")  # compiles the kernels once
    before = peak_mb()
    seconds = []
    for _ in range(3):
        start = time.perf_counter()
        ds = pkpd.predict(fit, {"24 monthly checks": monthly(24)}, [12, 52, 100], time_unit="week")
        seconds.append(time.perf_counter() - start)
    print("labelled regimen (90 mg over 100 kg) with 24 monthly checks 'if not PASI75 at week 4m: 45 mg SC at "
          "week 4m', predicted at weeks 12, 52, 100 on 1,024 nodes:")
    print(f"  pkpd.predict: median {np.median(seconds):.2f} s of 3 runs ({', '.join(f'{s:.2f}' for s in seconds)}); "
          f"peak resident memory of the process {peak_mb():.0f} MB ({before:.0f} MB before the first call)")
    rate = ds.rate.sel(endpoint="PASI75").values[0]
    print(f"  PASI75 at weeks 12, 52, 100: {', '.join(f'{100 * r:.1f}%' for r in rate)}; the checks fire for "
          f"{100 * np.nanmin(ds.rule_fired.values):.1f}-{100 * np.nanmax(ds.rule_fired.values):.1f}% of patients")
    print("\nhistories computed (distinct sets of rules that fired for some patients) against 2^k:")
    print(f"  {'checks':<44} {'k':>3} {'histories':>10} {'2^k':>12} {'seconds':>8}")
    for k in (6, 12, 18, 24):
        n, seconds = histories(fit, monthly(k), 4 * k + 4)
        print(f"  {'monthly, q12w maintenance (responses fall)':<44} {k:>3} {n:>10,} {2 ** k:>12,} {seconds:>8.2f}")
    for k in (12, 24):
        n, seconds = histories(fit, rising(k), k + 4)
        print(f"  {'weekly, every 2 weeks (responses still rise)':<44} {k:>3} {n:>10,} {2 ** k:>12,} {seconds:>8.2f}")


if __name__ == "__main__":
    main()
