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
  each on one dosing history, and every rate stays an analytic expectation. Histories are
  computed as they are met, only for the nodes where some patients are on them.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ._scores import LinearScore, Mixture, normal_cdf


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


def split_by_rules(rules: Sequence[tuple], base, score_of: Callable[[dict], dict], cuts,
                   out_index) -> tuple[np.ndarray, np.ndarray]:
    r"""Responder probabilities (..., node, time, endpoint) under response-guided rules.

    A rule judged at time *t* fires for the patients whose score at *t*, under the doses they
    have had (earlier rules included), meets its condition. A patient's score increases with
    z for any fixed dosing history, so within a node the rule fires on an interval of z for
    each history: the patients split into intervals of z, each on one dosing history (the set
    of rules that fired for them), and every rate stays an analytic expectation.

    Cost: a history's scores are asked for once, when the interval it covers is first
    non-empty at some node, and only for those nodes. The number of histories is the number of
    intervals the rules cut z into, not the 2^k subsets of k rules: at most k + 1 when no
    patient loses a response between two checks (rules that fire below a threshold then only
    split the patients who fired every earlier rule), more when responses fall between checks
    (README, "Rule cost").

    Parameters
    ----------
    rules : sequence of (time index, lower cut or None, upper cut or None)
        Per rule, in time order: the index of its time on the scores' time axis and the
        score cuts of its condition (fires for lower <= score < upper).
    base : :class:`LinearScore`, :class:`TabulatedScore` or :class:`Mixture`
        (..., node, eval time): every node's patients before any rule fired. A mixture's
        classes follow the rules each on their own scores.
    score_of : callable
        ``score_of({fired: nodes})`` returns ``{fired: score}``: the score (of the same kind
        as ``base``) of the dosing history where the rules in ``fired`` (a frozenset of rule
        indices) fired, for the given nodes (sorted indices).
    cuts : score cuts of the endpoints
    out_index : indices of the output times on the scores' time axis

    Returns the probabilities and the share of each node's patients for whom each rule
    fired, (..., node, rule).
    """
    if isinstance(base, LinearScore) and np.ndim(base.level) == 2:
        return _split_linear(rules, base, score_of, cuts, out_index)
    mixed = isinstance(base, Mixture)
    classes = base.scores if mixed else (base,)
    shape = classes[0].take(0).zcut(0.0).shape  # (..., node)
    n, k = shape[-1], len(rules)
    everyone = np.arange(n)
    histories = {frozenset(): (everyone, base)}  # fired rules -> (its nodes, its score there)

    def part(fired, c, nodes):
        rows, score = histories[fired]
        score = score.scores[c] if mixed else score
        return score if nodes.size == rows.size else score.rows(np.searchsorted(rows, nodes))

    # A piece: a class, a history and, at some nodes, the interval [lo, hi) of z on it.
    pieces = [(c, frozenset(), everyone, np.full(shape, -np.inf), np.full(shape, np.inf))
              for c in range(len(classes))]
    fired_share = np.zeros((len(classes),) + shape + (k,))
    for j, (t, lower, upper) in enumerate(rules):
        new, wanted = [], {}
        for c, fired, nodes, lo, hi in pieces:
            at = part(fired, c, nodes).take(t)
            L = at.zcut(lower) if lower is not None else -np.inf
            U = at.zcut(upper) if upper is not None else np.inf
            in_lo, in_hi = np.maximum(lo, L), np.minimum(hi, U)
            fired_share[c][..., j][..., nodes] += interval_probability(in_lo, in_hi)
            for history, a, b in ((fired | {j}, in_lo, in_hi), (fired, lo, np.minimum(hi, L)),
                                  (fired, np.maximum(lo, U), hi)):
                keep = np.any(a < b, axis=tuple(range(a.ndim - 1)))  # nodes where some patients are
                if not keep.any():
                    continue
                if not keep.all():
                    a, b = a[..., keep], b[..., keep]
                new.append((c, history, nodes[keep], a, b))
                if history != fired:
                    wanted.setdefault(history, []).append(nodes[keep])
        if wanted:
            asked = {h: np.unique(np.concatenate(parts)) for h, parts in wanted.items()}
            got = score_of(asked)
            histories.update({h: (asked[h], got[h]) for h in asked})
        alive = {piece[1] for piece in new}
        histories = {h: v for h, v in histories.items() if h in alive}
        pieces = new
    cuts = np.asarray(cuts, float)
    probs = np.zeros((len(classes),) + shape + (len(out_index), cuts.size))
    for c, fired, nodes, lo, hi in pieces:
        out = part(fired, c, nodes).take(out_index)
        for e, cut in enumerate(cuts):
            start = np.maximum(lo[..., None], out.zcut(cut))
            probs[c][..., e][..., nodes, :] += interval_probability(start, hi[..., None])
    if not mixed:
        return probs[0], fired_share[0]
    weights = [np.asarray(w) for w in base.weights]
    return (sum(w[..., None, None] * p for w, p in zip(weights, probs)),
            sum(w[..., None] * f for w, f in zip(weights, fired_share)))


class _Rows:
    """Scores (level (row, time) and spread (row,)) of histories at some nodes, appended as they
    are met; rows are numbered in order of arrival."""

    def __init__(self, times: int, capacity: int):
        self.level, self.spread, self.size = np.empty((capacity, times)), np.empty(capacity), 0

    def append(self, score: LinearScore) -> int:
        level = np.asarray(score.level, float)
        m = level.shape[0]
        if self.size + m > self.level.shape[0]:
            grow = max(2 * self.level.shape[0], self.size + m)
            self.level = np.concatenate([self.level[:self.size], np.empty((grow - self.size, level.shape[1]))])
            self.spread = np.concatenate([self.spread[:self.size], np.empty(grow - self.size)])
        start = self.size
        self.level[start:start + m] = level
        self.spread[start:start + m] = np.broadcast_to(np.asarray(score.spread, float), (m, 1))[:, 0]
        self.size += m
        return start

    def keep(self, rows: np.ndarray) -> None:
        """Keep only ``rows`` (sorted), renumbered 0, 1, ...: the store holds the histories still met."""
        m = rows.size
        self.level[:m], self.spread[:m] = self.level[rows], self.spread[rows]
        self.size = m


def _split_linear(rules, base: LinearScore, score_of, cuts, out_index) -> tuple[np.ndarray, np.ndarray]:
    """:func:`split_by_rules` for linear scores (node, time), vectorised over the pieces: each
    piece (a history and an interval [lo, hi) of z at one node) is one entry of flat arrays,
    and each history's scores are rows of one table."""
    n, k = np.shape(base.level)[0], len(rules)
    store = _Rows(np.shape(base.level)[1], 4 * n)
    store.append(base)
    fired = [frozenset()]  # history number -> the rules that fired on it
    history, node, row = np.zeros(n, np.int64), np.arange(n), np.arange(n)
    lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
    share = np.zeros((n, k))
    for j, (t, lower, upper) in enumerate(rules):
        at = LinearScore(store.level[row, t], store.spread[row])
        L = at.zcut(lower) if lower is not None else np.full(row.size, -np.inf)
        U = at.zcut(upper) if upper is not None else np.full(row.size, np.inf)
        in_lo, in_hi = np.maximum(lo, L), np.minimum(hi, U)
        share[:, j] = np.bincount(node, weights=interval_probability(in_lo, in_hi), minlength=n)
        # The pieces: where the rule fires (a new history, first), and below and above that interval.
        parts = []
        for a, b in ((in_lo, in_hi), (lo, np.minimum(hi, L)), (np.maximum(lo, U), hi)):
            keep = a < b
            parts.append((history[keep], node[keep], row[keep], a[keep], b[keep]))
        h_new, n_new = parts[0][0], parts[0][1]
        if h_new.size:
            order = np.lexsort((n_new, h_new))
            parents, begins = np.unique(h_new[order], return_index=True)
            ends = np.append(begins[1:], order.size)
            asked, child_of = {}, {}
            for p, b0, b1 in zip(parents, begins, ends):
                key = fired[p] | {j}
                nodes = n_new[order[b0:b1]]  # sorted: drop repeats (pieces of one history at one node)
                asked[key] = nodes[np.append(True, nodes[1:] != nodes[:-1])]
                child_of[int(p)] = key
            got = score_of(asked)
            child_rows = np.empty(h_new.size, np.int64)
            child_hist = np.empty(h_new.size, np.int64)
            for p, b0, b1 in zip(parents, begins, ends):
                key = child_of[int(p)]
                start = store.append(got[key])
                fired.append(key)
                picked = order[b0:b1]
                child_rows[picked] = start + np.searchsorted(asked[key], n_new[picked])
                child_hist[picked] = len(fired) - 1
            parts[0] = (child_hist, n_new, child_rows) + parts[0][3:]
        history, node, row, lo, hi = (np.concatenate([part[i] for part in parts]) for i in range(5))
        live, row = np.unique(row, return_inverse=True)  # forget the scores no piece uses any more
        store.keep(live)
        row = row.ravel()
    cuts = np.asarray(cuts, float)
    out = LinearScore(store.level[row][:, out_index], store.spread[row][:, None])
    probs = np.zeros((n, len(out_index), cuts.size))
    for e, cut in enumerate(cuts):
        p = interval_probability(np.maximum(lo[:, None], out.zcut(cut)), hi[:, None])
        np.add.at(probs[:, :, e], node, p)
    return probs, share
