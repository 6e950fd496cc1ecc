r"""Indirect-response (turnover) models driven by a PK model's concentration, solved exactly.

Types (Dayneka, Garg & Jusko, J Pharmacokinet Biopharm 1993;21:457-478,
doi:10.1007/BF01061691), with baseline :math:`R_0 = k_{in}/k_{out}`,
:math:`I = I_{max}C^h/(IC_{50}^h + C^h)` and :math:`S = E_{max}C^h/(EC_{50}^h + C^h)`:

====  ==========================================================
I     :math:`\dot R = k_{in}(1 - I) - k_{out} R`  (inhibit production)
II    :math:`\dot R = k_{in} - k_{out}(1 - I) R`  (inhibit loss)
III   :math:`\dot R = k_{in}(1 + S) - k_{out} R`  (stimulate production)
IV    :math:`\dot R = k_{in} - k_{out}(1 + S) R`  (stimulate loss)
====  ==========================================================

I and III are first-order responses to a Hill-type input, II and IV have a drug-modulated
loss rate; both are solved exactly for the known concentration on the Gauss-Legendre mesh
of :mod:`pkpd.response._quadrature`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import array, number
from .._errors import PkpdError
from ._links import hill_fraction

KINDS = ("I", "II", "III", "IV")


def _parameter(name, value, *, above=None, minimum=None, maximum=None):
    x = array(f"Indirect response: {name}", value)
    if x.ndim > 1 or x.size == 0:
        raise PkpdError(f"Indirect response: {name} must be one number or one per patient, got shape {x.shape}.")
    for v in np.atleast_1d(x):
        number(f"Indirect response: {name}", v, above=above, minimum=minimum, maximum=maximum)
    return float(x) if x.ndim == 0 else x


@dataclass(frozen=True, eq=False)
class IndirectResponse:
    """An indirect-response model (``kind`` I-IV) with its parameters.

    Each parameter is one number or one per patient: ``kout`` (1/day), ``R0`` (baseline,
    in the response's own unit), ``Imax`` (0-1) and ``IC50`` (mg/L) for I and II, ``Emax``
    (>= 0) and ``EC50`` (mg/L) for III and IV, ``hill``. Use it with
    :func:`pkpd.simulate_response`.
    """

    kind: str
    kout: object
    R0: object = 1.0
    Imax: object = None
    IC50: object = None
    Emax: object = None
    EC50: object = None
    hill: object = 1.0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise PkpdError(f"Unknown indirect-response type {self.kind!r}; allowed: {list(KINDS)}.")
        inhibits = self.kind in ("I", "II")
        need = ("Imax", "IC50") if inhibits else ("Emax", "EC50")
        missing = [n for n in need if getattr(self, n) is None]
        if missing:
            raise PkpdError(f"Indirect-response type {self.kind} {'inhibits' if inhibits else 'stimulates'}; give "
                            f"{' and '.join(need)} (missing {missing}).")
        other = [n for n in (("Emax", "EC50") if inhibits else ("Imax", "IC50")) if getattr(self, n) is not None]
        if other:
            raise PkpdError(f"Indirect-response type {self.kind} takes {' and '.join(need)}, not {other}.")
        object.__setattr__(self, "kout", _parameter("kout", self.kout, above=0))
        object.__setattr__(self, "R0", _parameter("R0", self.R0, above=0))
        object.__setattr__(self, "hill", _parameter("hill", self.hill, above=0))
        if inhibits:
            object.__setattr__(self, "Imax", _parameter("Imax", self.Imax, minimum=0, maximum=1))
            object.__setattr__(self, "IC50", _parameter("IC50", self.IC50, above=0))
        else:
            object.__setattr__(self, "Emax", _parameter("Emax", self.Emax, minimum=0))
            object.__setattr__(self, "EC50", _parameter("EC50", self.EC50, above=0))

    def subset(self, rows) -> "IndirectResponse":
        """The same model for a slice of the patients (per-patient parameters sliced)."""
        kw = {name: (getattr(self, name)[rows] if np.ndim(getattr(self, name)) else getattr(self, name))
              for name in ("kout", "R0", "Imax", "IC50", "Emax", "EC50", "hill")}
        return IndirectResponse(self.kind, **kw)

    @property
    def _effect(self):
        """(amplitude, potency) of the Hill term: -Imax and IC50, or +Emax and EC50."""
        if self.kind in ("I", "II"):
            return -np.asarray(self.Imax, float), self.IC50
        return np.asarray(self.Emax, float), self.EC50

    def _check_rows(self, n: int) -> None:
        for name in ("kout", "R0", "Imax", "IC50", "Emax", "EC50", "hill"):
            value = getattr(self, name)
            if np.ndim(value) and np.size(value) != n:
                raise PkpdError(f"Indirect response: {name} has {np.size(value)} values for {n} patients.")

    def first_order_terms(self, n: int) -> tuple:
        """Types I and III as y' = k (base + amp f(C) - y), y(0) = y0, f = C^h/(c50^h + C^h): the
        arrays (k, base, amp, c50, hill, y0) for ``n`` patients (length 1 when shared), with
        R = y: k = kout, base = y0 = R0, amp = -R0 Imax (I) or R0 Emax (III)."""
        if self.kind not in ("I", "III"):
            raise PkpdError(f"Indirect-response type {self.kind} has a drug-modulated loss, not a first-order "
                            "response to a Hill term.")
        self._check_rows(n)
        amp, c50 = self._effect
        R0 = np.asarray(self.R0, float)
        return tuple(np.ascontiguousarray(np.atleast_1d(np.asarray(v, float)))
                     for v in (self.kout, R0, R0 * amp, c50, self.hill, R0))

    def solve(self, trajectory) -> np.ndarray:
        """R (patient, time) at the trajectory's output times, from R(0) = R0."""
        n = trajectory.n
        if self.kind in ("I", "III"):
            return trajectory.first_order_hill(*self.first_order_terms(n))
        self._check_rows(n)
        amp, c50 = self._effect
        R0 = np.broadcast_to(np.asarray(self.R0, float), (n,))
        kout = np.broadcast_to(np.asarray(self.kout, float), (n,))
        shape = (n, 1, 1)
        f = hill_fraction(trajectory.node_conc, np.broadcast_to(np.asarray(c50, float), (n,)).reshape(shape),
                          np.broadcast_to(np.asarray(self.hill, float), (n,)).reshape(shape))
        g = 1.0 + np.broadcast_to(amp, (n,)).reshape(shape) * f
        return trajectory.modulated_loss(kout * R0, kout, g, R0)
