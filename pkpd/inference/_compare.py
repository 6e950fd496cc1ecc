r"""Comparing response structures fitted to the same trial table.

:func:`compare_models` fits each model (or takes fits already made) and tabulates, per
model: the number of estimated parameters k, -2LL, AIC = -2LL + 2k, its difference from
the best, BIC = -2LL + k ln N (N patients over all arm and time groups) and the Akaike
weight :math:`w_i = e^{-\Delta_i/2} / \sum_j e^{-\Delta_j/2}`, the relative support of each
model used by :func:`pkpd.predict` to average them.

Where one fit is a restriction of another (the same equations with fewer parameters
estimated, or a structure that becomes the other at fixed parameter values, e.g. no drug
non-responders: ``reduces_to`` of the response model), a likelihood-ratio test compares
them: LR = -2LL(small) - (-2LL(large)) against a chi-square with df = k(large) - k(small).
A restriction on the edge of a parameter's domain (a share of non-responders of 0, Imax
of 1) is tested against the 50:50 mixture of chi-squares with df - 1 and df (Self and
Liang, J Am Stat Assoc 1987;82:605-610), which the plain chi-square would make
conservative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.special import chdtrc  # the chi-square survival function; scipy.stats stays unimported

from .._errors import PkpdError
from ._results import FitResult, load_fit


@dataclass(frozen=True)
class Comparison:
    """Fits of several models to one trial table and their comparison ``table``."""

    fits: tuple
    table: pd.DataFrame
    tests: pd.DataFrame

    @property
    def weights(self) -> np.ndarray:
        return self.table["akaike_weight"].to_numpy()

    def best(self) -> FitResult:
        return self.fits[int(np.argmin(self.table["AIC"].to_numpy()))]

    def report(self) -> str:
        t = self.table
        lines = [f"{'model':<28} {'structure':<24} {'k':>2} {'-2LL':>9} {'AIC':>8} {'dAIC':>6} {'BIC':>8} "
                 f"{'weight':>7}"]
        for _, r in t.iterrows():
            lines.append(f"{r['model']:<28} {r['structure']:<24} {r['k']:>2d} {r['minus2ll']:>9.3f} {r['AIC']:>8.2f} "
                         f"{r['delta_AIC']:>6.2f} {r['BIC']:>8.2f} {r['akaike_weight']:>7.3f}")
        if len(self.tests):
            lines.append("\nLikelihood-ratio tests (restricted model within the larger one):")
            for _, r in self.tests.iterrows():
                lines.append(f"  {r['restricted']} within {r['larger']}: LR {r['LR']:.3f}, df {r['df']}, "
                             f"p = {r['p_value']:.3g}{' (boundary: mixture of chi-squares)' if r['boundary'] else ''}")
        return "\n".join(lines)


def compare_models(models: Sequence, trial=None, **fit_options) -> Comparison:
    """Fit several response models to the same trial table and compare them.

    Parameters
    ----------
    models : list of models, model files, library names or FitResults
        Fits are used as they are; models are fitted with :func:`pkpd.fit` to ``trial``
        with ``fit_options`` (e.g. ``design=``, ``profile=False``).
    trial : trial table, optional
        Needed when a model is to be fitted; fits given must be of this table.

    Returns
    -------
    Comparison
        ``fits``, ``table`` (one row per model: model, structure, k, minus2ll, AIC,
        delta_AIC, BIC, akaike_weight) and ``tests`` (likelihood-ratio tests between
        nested fits: restricted, larger, LR, df, p_value, boundary); ``report()`` prints
        both.
    """
    from ._fit import fit
    if isinstance(models, (str, FitResult)) or not len(models):
        raise PkpdError("compare_models takes a list of at least two models or fits.")
    fits = []
    for m in models:
        if isinstance(m, FitResult) or (isinstance(m, str) and m.endswith(".json")):
            fits.append(load_fit(m))
        else:
            if trial is None:
                raise PkpdError("compare_models needs trial= to fit models (or give fits).")
            fits.append(fit(m, trial, **fit_options))
    if len(fits) < 2:
        raise PkpdError("compare_models needs at least two models or fits to compare.")
    shas = {f.trial.sha256 if f.trial is not None else None for f in fits}
    if len(shas) != 1 or None in shas:
        raise PkpdError("The fits were made on different trial tables (or none); AIC, BIC and likelihood ratios "
                        "compare fits of the same data only.")
    names = [f.model.name for f in fits]
    if len(set(names)) != len(names):
        names = [f"{n} ({i + 1})" for i, n in enumerate(names)]
    aic = np.array([f.aic for f in fits])
    delta = aic - aic.min()
    weight = np.exp(-0.5 * delta)
    table = pd.DataFrame({
        "model": names, "structure": [f.model.pd["type"] for f in fits], "k": [f.n_parameters for f in fits],
        "minus2ll": [f.minus2ll for f in fits], "AIC": aic, "delta_AIC": delta, "BIC": [f.bic for f in fits],
        "akaike_weight": weight / weight.sum(), "varying": [", ".join(f.varying) for f in fits]})
    tests = []
    for i, small in enumerate(fits):
        for j, large in enumerate(fits):
            if i != j and large.n_parameters > small.n_parameters:
                boundary = restriction(small, large)
                if boundary is None:
                    continue
                df = large.n_parameters - small.n_parameters
                lr = max(small.minus2ll - large.minus2ll, 0.0)
                tests.append({"restricted": names[i], "larger": names[j], "LR": lr, "df": df,
                              "p_value": lr_p_value(lr, df, boundary), "boundary": boundary})
    return Comparison(tuple(fits), table, pd.DataFrame(tests, columns=["restricted", "larger", "LR", "df",
                                                                       "p_value", "boundary"]))


def restriction(small: FitResult, large: FitResult) -> int | None:
    """None when ``small`` is not ``large`` with some parameters fixed; else the number of
    those fixed on the edge of their domain (for the boundary mixture)."""
    t_small, t_large = small.model.pd["type"], large.model.pd["type"]
    if t_small == t_large:
        fixed_at = {}
    else:
        fixed_at = large.model.response.reduces_to.get(t_small)
        if fixed_at is None:
            return None
    extra = [n for n in large.varying if n not in small.varying]
    if any(n not in large.varying for n in small.varying):
        return None
    large_values, small_values = large.model.values, small.model.values
    # every parameter of the larger model is either estimated by the smaller one, estimated
    # only by the larger one (then fixed in the smaller one, at its value or the restriction's),
    # or fixed in both at the same value
    boundary = 0
    for name, value in large_values.items():
        if name in small.varying:
            continue
        at = fixed_at.get(name, small_values.get(name))
        if at is None:
            return None
        if name in extra:
            domain = large.model.spec(name).domain
            boundary += int(at in (domain.lower, domain.upper))
        elif not math.isclose(value, at, rel_tol=1e-12, abs_tol=0.0):
            return None
    return boundary


def lr_p_value(lr: float, df: int, boundary: int) -> float:
    """P(chi-square > lr) for df, or for the mixture of chi-squares when ``boundary``
    restrictions lie on the edge of their domains (independent edges: binomial weights)."""
    if boundary == 0:
        return float(chdtrc(df, lr))
    total = 0.0
    for j in range(boundary + 1):
        dfj = df - boundary + j
        weight = math.comb(boundary, j) / 2 ** boundary
        total += weight * (float(chdtrc(dfj, lr)) if dfj > 0 else float(lr <= 0))
    return total
