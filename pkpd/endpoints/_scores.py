r"""Patients' scores within an integration node, as monotone functions of a standard normal z.

A response model describes the patients of one node (one combination of PK and PD values)
by a score that increases with a standard-normal variable :math:`z`: a patient is a
responder at threshold :math:`x` when their score reaches the cut :math:`\kappa_x`, i.e.
when :math:`z \ge z^*(\kappa_x)`. The probability is :math:`\Phi(-z^*)`, analytic in the
node's values, and a response-guided rule fires on an interval of :math:`z`.

* :class:`LinearScore`: score :math:`= \ell + \omega z` (a level and a spread);
* :class:`TabulatedScore`: the score given on a grid of :math:`z` (when z enters the model
  nonlinearly, e.g. as a patient's drug sensitivity), inverted by monotone cubic
  interpolation, so that :math:`z^*` and the rates are continuously differentiable in the
  parameters;
* :class:`Mixture`: classes of patients with their own scores (non-responders, say),
  mixed with weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def normal_cdf(x) -> np.ndarray:
    """The standard normal CDF, elementwise (compiled: :func:`pkpd._kernels.ndtr`, within 1e-15
    of scipy.special.ndtr, relative error a^2 * 2e-16 below -a)."""
    from .. import _kernels
    x = np.asarray(x, dtype=float)
    flat = np.ascontiguousarray(x).reshape(-1)
    return _kernels.ndtr(flat, np.empty(flat.size)).reshape(x.shape)


@dataclass(frozen=True, eq=False)
class LinearScore:
    """score = level + spread * z; level (..., node, time), spread a number or an array that
    broadcasts against level with a time axis of length 1 (spreads never vary with time)."""

    level: np.ndarray
    spread: np.ndarray

    def rows(self, index) -> "LinearScore":
        """The scores of some of the nodes (``index`` along the node axis: indices or a boolean mask)."""
        spread = self.spread
        if np.ndim(spread) >= 2 and np.shape(spread)[-2] != 1:
            spread = np.asarray(spread)[..., index, :]
        return LinearScore(self.level[..., index, :], spread)

    def take(self, index) -> "LinearScore":
        spread = self.spread
        if np.ndim(spread) and np.ndim(index) == 0:
            spread = np.asarray(spread)[..., 0]
        return LinearScore(self.level[..., index], spread)

    def zcut(self, kappa) -> np.ndarray:
        """z at which the score reaches ``kappa`` (a number), shape of level."""
        with np.errstate(invalid="ignore"):
            z = (kappa - self.level) / self.spread
        return np.where(np.isnan(z), np.inf, z)

    def probability(self, cuts) -> np.ndarray:
        """P(score >= cut) on a trailing axis of cuts."""
        return normal_cdf((np.asarray(self.level)[..., None] - np.asarray(cuts)) / np.asarray(self.spread)[..., None])

    def mean_probability(self, cuts) -> np.ndarray:
        """:meth:`probability` averaged over the node axis, (..., time, cut), without the per-node array."""
        from .. import _kernels
        level = np.asarray(self.level, float)
        lead, (N, T) = level.shape[:-2], level.shape[-2:]
        spread = np.broadcast_to(np.asarray(self.spread, float), level.shape[:-1] + (1,))[..., 0]
        cuts = np.ascontiguousarray(np.atleast_1d(np.asarray(cuts, float)))
        L = int(np.prod(lead)) if lead else 1
        out = _kernels.normal_mean(np.ascontiguousarray(level).reshape(L, N, T),
                                   np.ascontiguousarray(1.0 / spread).reshape(L, N), cuts, np.empty((L, T, cuts.size)))
        return out.reshape(lead + (T, cuts.size))

    def value(self, z) -> np.ndarray:
        """The score of patients with these z (broadcasting against level)."""
        return self.level + self.spread * z


@dataclass(frozen=True, eq=False)
class TabulatedScore:
    """The score on a grid of z: ``z`` (K,) increasing, ``score`` (..., node, time, K)
    non-decreasing along the last axis. Outside the grid the score continues linearly."""

    z: np.ndarray
    score: np.ndarray

    def rows(self, index) -> "TabulatedScore":
        """The scores of some of the nodes (``index`` along the node axis)."""
        return TabulatedScore(self.z, self.score[..., index, :, :])

    def take(self, index) -> "TabulatedScore":
        return TabulatedScore(self.z, self.score[..., index, :])

    def check_monotone(self, where: str) -> None:
        """Refuse scores that decrease with z: rates and rule splits invert them as increasing."""
        with np.errstate(invalid="ignore"):  # -inf to -inf (no depth yet, at day 0) is no decrease
            step = np.diff(self.score, axis=-1)
            scale = np.maximum(np.abs(self.score[..., 1:]), np.abs(self.score[..., :-1]))
            bad = step < -1e-12 * np.maximum(scale, 1.0)
        if np.any(bad):
            from .._errors import PkpdError
            k = int(np.argwhere(bad)[0][-1])
            raise PkpdError(f"{where} gives patients' scores that decrease with z (from z = {self.z[k]:g} to "
                            f"{self.z[k + 1]:g}); a score must not decrease with z, since responders are those "
                            "with z above a cut. Fix the response model's latent().")

    def zcut(self, kappa) -> np.ndarray:
        return _inverse(self.z, self.score, float(kappa))

    def probability(self, cuts) -> np.ndarray:
        return np.stack([normal_cdf(-self.zcut(c)) for c in np.asarray(cuts, float)], axis=-1)

    def mean_probability(self, cuts) -> np.ndarray:
        return self.probability(cuts).mean(axis=-3)

    def value(self, z) -> np.ndarray:
        """The score of patients with these z (broadcasting against the score without its grid
        axis), by the same monotone cubic interpolation."""
        from .. import _kernels
        s = np.ascontiguousarray(self.score, dtype=float)
        zz = np.ascontiguousarray(np.broadcast_to(np.asarray(z, float), s.shape[:-1]))
        out = np.empty(s.shape[:-1])
        _kernels.monotone_value(np.asarray(self.z, float), s.reshape(-1, s.shape[-1]), zz.reshape(-1),
                                out.reshape(-1))
        return out


@dataclass(frozen=True, eq=False)
class Mixture:
    """Classes of patients, one score per class, with ``weights`` that sum to 1 (each a number,
    or an array broadcasting against the scores' node axis, (..., node))."""

    weights: tuple
    scores: tuple

    def take(self, index) -> "Mixture":
        return Mixture(self.weights, tuple(s.take(index) for s in self.scores))

    def rows(self, index) -> "Mixture":
        """The scores (and weights, where they differ between nodes) of some of the nodes."""
        weights = tuple(w if np.ndim(w) == 0 or np.shape(w)[-1] == 1 else np.asarray(w)[..., index]
                        for w in self.weights)
        return Mixture(weights, tuple(s.rows(index) for s in self.scores))

    def probability(self, cuts) -> np.ndarray:
        return sum(np.asarray(w)[..., None, None] * s.probability(cuts) for w, s in zip(self.weights, self.scores))

    def mean_probability(self, cuts) -> np.ndarray:
        return self.probability(cuts).mean(axis=-3)


def _inverse(z, score, kappa) -> np.ndarray:
    """z* with score(z*) = kappa, by monotone cubic (Fritsch-Carlson) interpolation of score(z)."""
    from .. import _kernels
    s = np.ascontiguousarray(score, dtype=float)
    out = np.empty(s.shape[:-1])
    _kernels.monotone_inverse(np.asarray(z, float), s.reshape(-1, s.shape[-1]), kappa, out.reshape(-1))
    return out
