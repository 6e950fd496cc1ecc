r"""Responder probabilities from latent levels: one formula for every response model.

Within an integration node a patient's score is :math:`\ell + \omega z`, :math:`z \sim N(0,1)`
(:mod:`pkpd.response._base`), and a responder at threshold :math:`x` has a score of at
least the cut :math:`\kappa_x`. Everything here works on :math:`z`:

* :func:`responder_probability`: :math:`\Phi((\ell - \kappa)/\omega)` (for the scores of
  :mod:`pkpd.endpoints._scores`, :math:`\Phi(-z^*)`);
* :func:`interval_probability`: :math:`P(lo \le z < hi)`;
* :func:`to_categories` / :func:`from_categories`: nested responder shares (or counts)
  to the ordered categories between thresholds, and back;
* :func:`split_by_rules`: response-guided rules. A rule judged at time *t* fires for the
  patients whose score lies in an interval of :math:`z` (their level depends on the
  doses they had, earlier rules included), so each node's patients split into intervals,
  each on one dosing history, and every rate stays an analytic expectation.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def normal_cdf(x) -> np.ndarray:
    """The standard normal CDF, elementwise (compiled: :func:`pkpd._kernels.ndtr`, within 1e-15
    of scipy.special.ndtr, relative error a^2 * 2e-16 below -a)."""
    from .. import _kernels
    x = np.asarray(x, dtype=float)
    flat = np.ascontiguousarray(x).reshape(-1)
    return _kernels.ndtr(flat, np.empty(flat.size)).reshape(x.shape)


def responder_probability(level, spread, cuts) -> np.ndarray:
    """P(level + spread z >= cut) for each cut, on a new trailing axis.

    ``spread`` broadcasts against ``level``; ``cuts`` is a 1-D array of score cuts.
    """
    return normal_cdf((np.asarray(level)[..., None] - np.asarray(cuts)) / np.asarray(spread, float)[..., None])


def interval_probability(lo, hi) -> np.ndarray:
    """P(lo <= z < hi) for a standard normal z (0 for empty intervals)."""
    return np.maximum(normal_cdf(hi) - normal_cdf(lo), 0.0)


def to_categories(nested, total=1.0) -> np.ndarray:
    """Nested shares (..., endpoint) in increasing threshold order -> ordered categories.

    Categories: below the lowest endpoint, between consecutive endpoints, above the
    highest: ``[total - p0, p0 - p1, ..., p_last]``. With ``total = n`` it splits
    responder counts into category counts.
    """
    p = np.asarray(nested)
    return np.concatenate([total - p[..., :1], p[..., :-1] - p[..., 1:], p[..., -1:]], axis=-1)


def from_categories(categories) -> np.ndarray:
    """Ordered category counts (..., category) -> nested responders (..., endpoint)."""
    return np.cumsum(np.asarray(categories)[..., ::-1], axis=-1)[..., ::-1][..., 1:]


def split_by_rules(rules: Sequence[tuple], plan: Mapping[frozenset, int], scores: Sequence, cuts,
                   out_index) -> tuple[np.ndarray, np.ndarray]:
    """Responder probabilities (..., node, time, endpoint) under response-guided rules.

    Parameters
    ----------
    rules : sequence of (time index, lower cut or None, upper cut or None)
        Per rule, in time order: the index of its time on the scores' time axis and the
        score cuts of its condition (fires for lower <= score < upper).
    plan : {frozenset of fired rule indices: index into ``scores``}
        The dosing history of each combination of rules that fired.
    scores : list of :class:`LinearScore` or :class:`TabulatedScore`, one per history
        (..., node, eval time): each node's patients' scores as functions of z.
    cuts : score cuts of the endpoints
    out_index : indices of the output times on the scores' time axis

    Returns the probabilities and the share of each node's patients for whom each rule
    fired, (..., node, rule).
    """
    shape = scores[0].take(0).zcut(0.0).shape if hasattr(scores[0], "take") else None
    pieces = [(frozenset(), np.full(shape, -np.inf), np.full(shape, np.inf))]
    fired_share = np.zeros(shape + (len(rules),))
    for j, (t, lower, upper) in enumerate(rules):
        new = []
        for fired, lo, hi in pieces:
            at = scores[plan[fired]].take(t)
            L = at.zcut(lower) if lower is not None else np.full(shape, -np.inf)
            U = at.zcut(upper) if upper is not None else np.full(shape, np.inf)
            in_lo, in_hi = np.maximum(lo, L), np.minimum(hi, U)
            fired_share[..., j] += interval_probability(in_lo, in_hi)
            for piece in ((fired | {j}, in_lo, in_hi), (fired, lo, np.minimum(hi, L)),
                          (fired, np.maximum(lo, U), hi)):
                if np.any(piece[1] < piece[2]):
                    new.append(piece)
        pieces = new
    cuts = np.asarray(cuts, float)
    probs = np.zeros(shape + (len(out_index), cuts.size))
    for fired, lo, hi in pieces:
        out = scores[plan[fired]].take(out_index)
        for e, c in enumerate(cuts):
            start = np.maximum(lo[..., None], out.zcut(c))
            probs[..., e] += interval_probability(start, hi[..., None])
    return probs, fired_share
