"""Parameter recovery: simulate trials like the fitted one from known values, refit, check intervals.

Each simulated trial has the arms, sizes, times and endpoints of the fit's trial table (or
of another table given as the design, e.g. the same arms with more visits); an arm's counts
at a time are a multinomial draw of its patients over the ordered response categories with
the model's rates at the true values (the exact distribution of a trial of independent
patients from the virtual population; counts at several times of one arm are independent
draws, as the fit's likelihood treats them). Each trial is refitted as the original
fit was (same varying parameters, likelihood, design and priors; starting from the true
values and a Sobol screen), and its 95% profile-likelihood intervals are compared with the
truth. Coverage near 95% says the intervals mean what they claim for data like these.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._checks import whole
from .._errors import PkpdError
from ..endpoints import to_categories
from ._results import FitResult, load_fit
from ._trial import load_trial, trial_from_text


@dataclass(frozen=True)
class Recovery:
    """Per simulated trial and parameter: truth, estimate, interval and whether it covers the truth
    (``table``); ``failed``: trials whose fit raised (with the message)."""

    table: pd.DataFrame
    failed: tuple
    n_trials: int

    def summary(self) -> pd.DataFrame:
        """Per parameter: coverage of the 95% intervals (with its binomial SE), the share of open
        (one-sided) intervals, and the median relative error of the estimates."""
        rows = []
        for name, t in self.table.groupby("parameter", sort=False):
            cov = float(t["covered"].mean())
            rows.append({"parameter": name, "trials": len(t), "coverage": cov,
                         "coverage_se": math.sqrt(cov * (1 - cov) / len(t)),
                         "open_intervals": float((~t["identifiable"]).mean()),
                         "median_relative_error": float(np.median(t["estimate"] / t["truth"] - 1)),
                         "truth": float(t["truth"].iloc[0])})
        return pd.DataFrame(rows)


class TrialSimulator:
    """Draws trial tables like a fit's (or with the design of ``trial``: its arms, regimens,
    sizes, times, endpoints, trials and arms' covariates; its counts are not used) at the
    fit's values: the model's category probabilities of each arm and time are computed once;
    each :meth:`draw` is a multinomial draw per group."""

    def __init__(self, fit: FitResult, trial=None):
        from ._fit import Objective
        trial = fit.trial if trial is None else load_trial(trial, fit.model.endpoints)
        objective = Objective(fit.model, trial, fit.settings["likelihood"], fit.design,
                              fit.settings.get("trial_effect"))
        rates = objective.rates({})
        names = list(objective.endpoints.names)
        # The arms' own patients (covariate columns) and trials are part of the design.
        columns = sorted({f"{c}_{f}" for arm in trial.arms for c, fields in trial.covariates.get(arm, {}).items()
                          for f in fields})
        trials = any(trial.trials.values())
        self.header = ",".join(["arm", "regimen", "n", "day", "endpoint"] + ["trial"] * trials + columns
                               + ["responders"])
        self.groups = []
        for g in objective.groups:
            arm = objective.arms[g.arm]
            probs = np.clip(to_categories(rates[g.arm, g.time, list(g.endpoints)]), 0.0, 1.0)
            own = {f"{c}_{f}": v for c, fields in trial.covariates.get(arm, {}).items() for f, v in fields.items()}
            cells = [_quoted(arm), _quoted(str(trial.regimens[arm])), str(g.n), repr(float(objective.days[g.time]))]
            after = ([_quoted(trial.trials[arm])] if trials else []) + \
                [repr(float(own[c])) if c in own else "" for c in columns]
            prefix = [",".join(cells + [names[e]] + after) + "," for e in g.endpoints]
            self.groups.append((g.n, probs / probs.sum(), prefix))

    def counts(self, rng) -> list[np.ndarray]:
        """Responders per endpoint (lowest threshold first) of each group."""
        out = []
        for n, probs, _ in self.groups:
            categories = rng.multinomial(n, probs)
            out.append(np.cumsum(categories[::-1])[::-1][1:])  # at least each endpoint's category
        return out

    def draw(self, rng) -> str:
        """A trial table (CSV text)."""
        lines = [self.header]
        for (_, _, prefix), responders in zip(self.groups, self.counts(rng)):
            lines += [p + str(int(k)) for p, k in zip(prefix, responders)]
        return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    """A CSV cell holding ``text`` as it is (commas and quotes included)."""
    return '"' + text.replace('"', '""') + '"'


def _recover(fit: FitResult, seeds, profile: bool, starts: int, trial=None) -> list:
    from ._fit import fit as refit
    out = []
    simulator = TrialSimulator(fit, trial)
    for index, seed in seeds:
        text = simulator.draw(np.random.default_rng(seed))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # bounds and open profiles are part of what is measured
                r = refit(fit.model, trial_from_text(text, source=f"simulated trial {index}"), vary=list(fit.varying),
                          likelihood=fit.settings["likelihood"], design=fit.design, profile=profile, starts=starts,
                          priors=dict(fit.priors) or None, trial_effect=fit.settings.get("trial_effect"))
        except PkpdError as err:
            out.append((index, None, str(err)))
            continue
        rows = []
        for name in fit.varying:
            truth = fit.values[name]
            prof = r.profile.get(name)
            lo, hi = (prof["lower"], prof["upper"]) if prof else (math.nan, math.nan)
            rows.append({"trial": index, "parameter": name, "truth": truth, "estimate": r.values[name],
                         "lower": lo, "upper": hi, "covered": bool(lo <= truth <= hi),
                         "identifiable": bool(prof["identifiable"]) if prof else False})
        out.append((index, rows, ""))
    return out


def recovery(fit, n_trials: int = 100, *, trial=None, seed: int = 0, profile: bool = True, starts: int = 2,
             chunk: int = 5, client=None, progress: bool = False) -> Recovery:
    """Refit ``n_trials`` trials simulated from ``fit``'s values and check its intervals.

    Parameters
    ----------
    fit : FitResult, fit file or library fit name
        The truth (its values) and the recipe (model, varying parameters, likelihood,
        design, priors, trial design).
    n_trials : int
        Simulated trials (at least 100 for coverage within a few percent).
    trial : TrialData, path or library name, optional
        The design of the simulated trials (arms, regimens, sizes, times, endpoints; its
        counts are not used), by default the fit's trial table. A design with more visits
        than the fit's asks whether its parameters are recovered from richer data.
    seed : int
        Seed of the simulated counts (trial i uses the i-th spawned stream: results do not
        depend on ``chunk`` or on where the chunks run).
    profile : bool
        Profile-likelihood intervals (needed for coverage).
    starts : int
        Local optimisations per refit.
    chunk, client, progress
        Trials per chunk; a dask.distributed Client to run the chunks on (default: the
        active client, else threads); a progress bar.

    Trials whose refit fails are listed in ``failed``; when every one fails (a design that
    cannot be fitted) a PkpdError gives the first one's reason.
    """
    from ..parallel import run_chunks
    fit = load_fit(fit)
    if fit.trial is None:
        raise PkpdError("Recovery simulates trials like the fitted one; this fit has no trial table.")
    n_trials = whole("n_trials", n_trials, minimum=1)
    chunk = whole("chunk", chunk, minimum=1)
    seed = whole("seed", seed, minimum=0)
    if trial is not None:
        trial = load_trial(trial, fit.model.endpoints)
    streams = np.random.SeedSequence(seed).spawn(n_trials)
    seeds = list(enumerate(streams))
    parts = [seeds[i:i + chunk] for i in range(0, n_trials, chunk)]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(parts), desc="recovery", unit="chunk")
    results = run_chunks(_recover, [(fit, part, profile, starts, trial) for part in parts], client=client,
                         progress=(lambda done, total: bar.update(done - bar.n)) if bar else None)
    if bar:
        bar.close()
    rows, failed = [], []
    for part in results:
        for index, r, message in part:
            if r is None:
                failed.append((index, message))
            else:
                rows += r
    if not rows:  # nothing recovered: the design cannot be refitted (e.g. fewer residuals than parameters)
        index, message = failed[0]
        raise PkpdError(f"Every one of the {n_trials} simulated trials failed to refit; simulated trial {index}: "
                        f"{message}")
    table = pd.DataFrame(rows, columns=["trial", "parameter", "truth", "estimate", "lower", "upper", "covered",
                                        "identifiable"])
    return Recovery(table, tuple(failed), n_trials)

