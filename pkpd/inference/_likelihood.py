r"""The likelihood of arm-level responder counts given predicted rates.

``"multinomial"`` (default): in one arm at one time, the endpoints reported (say PASI75
and PASI90) split the n patients into ordered categories (<75, 75-89, >=90) with
probabilities (1 - p75, p75 - p90, p90) from the response model:

.. math:: \log L = \sum_{\text{arm, time}} \Big[\log n! - \sum_c \log k_c! + \sum_c k_c \log p_c\Big]

``"binomial"``: each endpoint an independent binomial (ignores that PASI90 responders are
PASI75 responders; offered for comparison with published analyses that do so).
Probabilities are floored at 1e-300 inside the logarithm, so that a model giving exactly
zero where responders were seen yields a huge but finite -2LL for the optimiser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.special import gammaln, xlogy

from ..endpoints import to_categories

LIKELIHOODS = ("multinomial", "binomial")


@dataclass(frozen=True)
class Group:
    """One arm at one time: its counts and where its rates sit in (arm, time, endpoint)."""

    arm: int
    time: int
    n: int
    endpoints: tuple[int, ...]  # indices into the endpoint axis, ascending threshold
    counts: np.ndarray          # multinomial category counts, lowest category first
    responders: np.ndarray      # per endpoint
    constant: float             # log multinomial coefficient


def groups(trial, arms: list[str], days: np.ndarray, endpoints: list[str]) -> list[Group]:
    out = []
    for arm, day, n, resp in trial.groups():
        ends = [e for e in endpoints if e in resp]
        r = np.array([resp[e] for e in ends])
        counts = to_categories(r, total=n)
        out.append(Group(arms.index(arm), int(np.searchsorted(days, day)), n,
                         tuple(endpoints.index(e) for e in ends), counts, r,
                         float(gammaln(n + 1) - gammaln(counts + 1).sum())))
    return out


def group_log_likelihoods(rates: np.ndarray, groups: Sequence[Group], kind: str = "multinomial") -> np.ndarray:
    """Log-likelihood of each group's counts given rates (arm, time, endpoint)."""
    out = np.empty(len(groups))
    for i, g in enumerate(groups):
        p = rates[g.arm, g.time, list(g.endpoints)]
        if kind == "multinomial":
            probs = to_categories(p)
            out[i] = g.constant + float(np.dot(g.counts, np.log(np.maximum(probs, 1e-300))))
        else:
            k = g.responders
            out[i] = float(np.sum(gammaln(g.n + 1) - gammaln(k + 1) - gammaln(g.n - k + 1)
                                  + k * np.log(np.maximum(p, 1e-300))
                                  + (g.n - k) * np.log(np.maximum(1.0 - p, 1e-300))))
    return out


def log_likelihood(rates: np.ndarray, groups: Sequence[Group], kind: str = "multinomial") -> float:
    """Log-likelihood of the trial counts given rates (arm, time, endpoint)."""
    return float(np.sum(group_log_likelihoods(rates, groups, kind)))


def saturated_log_likelihoods(groups: Sequence[Group], kind: str = "multinomial") -> np.ndarray:
    """Each group's log-likelihood at its observed proportions (the most any rates can give)."""
    out = np.empty(len(groups))
    for i, g in enumerate(groups):
        if kind == "multinomial":
            k = g.counts
            out[i] = g.constant + float(np.sum(xlogy(k, k / g.n)))
        else:
            k = g.responders
            out[i] = float(np.sum(gammaln(g.n + 1) - gammaln(k + 1) - gammaln(g.n - k + 1)
                                  + xlogy(k, k / g.n) + xlogy(g.n - k, (g.n - k) / g.n)))
    return out


def deviance_residuals(rates: np.ndarray, groups: Sequence[Group], kind: str = "multinomial") -> np.ndarray:
    """Signed deviance residuals, one per category cell; their sum of squares is -2LL + const.

    For a cell with count k and expected count mu = n p the residual is
    ``sign(k - mu) * sqrt(2 [k ln(k/mu) - (k - mu)])``. Within a group the expected counts
    add up to n, so the ``k - mu`` terms cancel and the squares sum to the deviance,
    -2LL minus its saturated value: least squares on these residuals *is* maximum
    likelihood, and lets Levenberg-Marquardt do the fitting.
    """
    out = []
    for g in groups:
        p = rates[g.arm, g.time, list(g.endpoints)]
        if kind == "multinomial":
            probs, k = to_categories(p), g.counts
        else:
            probs = np.concatenate([p, 1.0 - p])
            k = np.concatenate([g.responders, g.n - g.responders])
        mu = g.n * np.maximum(probs, 1e-300)
        d = 2.0 * (xlogy(k, k / mu) - (k - mu))
        out.append(np.sign(k - mu) * np.sqrt(np.maximum(d, 0.0)))
    return np.concatenate(out)
