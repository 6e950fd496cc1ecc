r"""Drug-effect links as plain numpy functions (one formula each).

* :func:`hill_fraction`: :math:`C^h/(C_{50}^h + C^h)`, the one place the Hill term is written;
* :func:`emax`: :math:`E_{max} C^h/(EC_{50}^h + C^h)`, direct (sigmoid) Emax;
* :func:`inhibition`: :math:`I_{max} C^h/(IC_{50}^h + C^h)`, fractional inhibition, 0 <= Imax <= 1.

Arrays broadcast: concentrations (..., n_times), parameters against the leading axes.
"""

from __future__ import annotations

import numpy as np

from .._checks import array
from .._errors import PkpdError


def _nonnegative(name: str, x) -> np.ndarray:
    x = array(name, x)
    if not np.all(np.isfinite(x)):
        raise PkpdError(f"{name} contains {float(x[~np.isfinite(x)].flat[0])!r}; give finite values.")
    if np.any(x < 0):
        raise PkpdError(f"{name} must be >= 0, got {float(x[x < 0].flat[0])!r}.")
    return x


def _positive(name: str, x) -> np.ndarray:
    x = array(name, x)
    if not np.all(np.isfinite(x)) or np.any(x <= 0):
        bad = x[~(np.isfinite(x) & (x > 0))].flat[0]
        raise PkpdError(f"{name} must be finite and > 0, got {float(bad)!r}.")
    return x


def hill_fraction(c, c50, hill=1.0, out=None) -> np.ndarray:
    """C^h / (C50^h + C^h) without checks (engines call it in hot loops).

    ``out`` (shaped like the result) receives it, so repeated evaluations in a fit reuse
    one buffer. With ``hill`` 1 everywhere the powers are skipped.
    """
    if not np.all(np.asarray(hill) == 1.0):
        c, c50 = np.power(c, hill), np.power(c50, hill)
    if out is None:
        return c / (c + c50)
    np.add(c, c50, out=out)
    return np.divide(c, out, out=out)


def emax(c, Emax, EC50, hill=1.0):
    """Sigmoid Emax: ``Emax * C**hill / (EC50**hill + C**hill)`` (``hill=1``: direct Emax)."""
    c = _nonnegative("Concentration", c)
    Emax, EC50, hill = array("Emax", Emax), _positive("EC50", EC50), _positive("hill", hill)
    if not np.all(np.isfinite(Emax)):
        raise PkpdError(f"Emax must be finite, got {float(Emax[~np.isfinite(Emax)].flat[0])!r}.")
    return Emax * hill_fraction(c, EC50, hill)


def inhibition(c, Imax, IC50, hill=1.0):
    """Fractional inhibition ``Imax * C**hill / (IC50**hill + C**hill)``, 0 <= Imax <= 1."""
    Imax = array("Imax", Imax)
    bad = ~((Imax >= 0) & (Imax <= 1))
    if np.any(bad):
        raise PkpdError(f"Imax must lie in [0, 1], got {float(Imax[bad].flat[0])!r}.")
    return emax(c, Imax, IC50, hill)
