"""Concentrations of any model (nonlinear ones included) from one stacked ODE system.

All subjects are one system, integrated with :func:`scipy.integrate.solve_ivp` between
dose times; a bolus is a jump in the state between segments. Dose times (after the lag)
must be common to all subjects; amounts and infusion durations may differ. A solver
failure raises :class:`pkpd.SolverError` with the time, the solver's message and the
parameters. Right-hand side: :func:`pkpd.pk._formulas.rhs`.
"""

from __future__ import annotations

import numpy as np

from .._errors import PkpdError, SolverError
from . import _formulas as _pk
from ._events import Event


def _solver_context(p: dict) -> str:
    parts = []
    for name, x in p.items():
        x = np.asarray(x)
        parts.append(f"{name}={x.min():.4g}..{x.max():.4g}" if x.size > 1 else f"{name}={float(x.flat[0]):.4g}")
    return ", ".join(parts)


def concentration_ode(times: np.ndarray, events: list[Event], p: dict, model,
                      rtol: float = 1e-8, atol: float = 1e-10, solver: str = "DOP853") -> np.ndarray:
    """Concentrations (n, k) from the stacked ODE system; see :func:`pkpd.pk._formulas.rhs`."""
    from scipy.integrate import solve_ivp
    from scipy.sparse import identity, kron
    n = np.asarray(p["CL"]).size
    two_cmt = model.structure == "2cmt"
    if any(ev.route == "sc" for ev in events):
        if "ka" not in p:
            raise PkpdError(f"Model '{model.name}' has no absorption depot (absorption='none'); "
                            "it takes IV doses only.")
        lag = np.asarray(p.get("tlag", 0.0), float)
        if np.ptp(lag) > 0:
            raise PkpdError("The ODE engine needs one lag time for all subjects; remove bsv_tlag "
                            "or use a linear model with method='closed_form'.")
        lag = float(lag.flat[0])
    boluses = []   # (time, state index, amount (n,))
    infusions = []  # (start, end (n,), rate (n,))
    for ev in events:
        if ev.route == "sc":
            boluses.append((ev.time + lag, 0, p["F"] * ev.amount))
        elif ev.route == "iv":
            boluses.append((ev.time, 1, ev.amount))
        else:
            infusions.append((ev.time, ev.time + ev.duration, ev.amount / ev.duration))
    marks = {b[0] for b in boluses} | {s for s, _, _ in infusions}
    marks |= {float(e) for _, ends, _ in infusions for e in np.unique(ends)}
    t0 = min([times[0]] + list(marks))
    grid = np.unique(np.asarray(sorted(marks | {t0, float(times[-1])})))
    grid = grid[grid <= times[-1]] if grid[-1] > times[-1] else grid

    y = np.zeros((4, n))
    if model.elimination == "tmdd_qss":
        y[3] = p["R0"]
    out = np.full((n, times.size), np.nan)
    options = dict(rtol=rtol, atol=atol, method=solver)
    if solver in ("BDF", "Radau"):
        options["jac_sparsity"] = kron(np.ones((4, 4)), identity(n), format="csr")

    p_column = {k: np.asarray(v, float).reshape(-1, 1) for k, v in p.items()}

    def record(idx, states):  # states: (4, n, len(idx))
        out[:, idx] = _pk.free_concentration(states[1], states[3], p_column, model.elimination)

    for i, start in enumerate(grid):
        for t_b, state, amount in boluses:
            if t_b == start:
                y[state] += amount
        stop = grid[i + 1] if i + 1 < grid.size else start
        last = i + 1 == grid.size
        in_seg = (times >= start) & ((times <= stop) if last else (times < stop))
        if stop == start:
            record(np.flatnonzero(in_seg), y[:, :, None])
            continue
        rate = np.zeros(n)
        for s, ends, r in infusions:
            rate = rate + np.where((s <= start) & (ends >= stop), r, 0.0)
        t_eval = np.append(times[in_seg], stop)
        t_eval = np.unique(t_eval)
        sol = solve_ivp(lambda t, yf: _pk.rhs(yf.reshape(4, n), p, rate, model.elimination,
                                               two_cmt).ravel(),
                        (start, stop), y.ravel(), t_eval=t_eval, **options)
        if not sol.success or sol.t.size != t_eval.size:
            raise SolverError(f"ODE solver ({solver}) failed between day {start:g} and day {stop:g}: "
                              f"{sol.message} Parameters: {_solver_context(p)}.")
        states = sol.y.reshape(4, n, -1)
        keep = np.isin(sol.t, times[in_seg])
        record(np.flatnonzero(in_seg), states[:, :, keep])
        y = states[:, :, -1].copy()
    if np.isnan(out).any():
        raise SolverError("Internal error: some output times were not reached by the ODE engine.")
    return out


