r"""Concentrations of any model (nonlinear ones included) from one stacked ODE system.

All subjects are one system, integrated with :func:`scipy.integrate.solve_ivp`; a bolus is
a jump in the state between segments, never a short infusion. Subjects need not share
dose times: when they do not, every subject steps from its own previous event (or output)
to its next one at the same time, on a rescaled clock :math:`t = t_0 + h\tau`,
:math:`\tau \in [0, 1]`, :math:`dy/d\tau = h\,f(y)` with its own step h (the system is
autonomous between events, so this is exact). When they do, one common clock integrates
between event times and reads the outputs inside each segment.

Steady state (SS records): for linear models the exact state of the closed form
(:func:`pkpd.pk._linear.steady_states`); for nonlinear ones the periodic state of one
dosing cycle, found by cycling the dose: Newton's method on the map "state after one
cycle", with a finite-difference Jacobian, from the initial state. It stops when the
state repeats to the solver's tolerance and raises :class:`pkpd.SolverError` after
``SS_MAX_ITERATIONS`` iterations. SS=2 (a steady state added to the current state) is
only defined for linear kinetics and is refused for nonlinear ones.

Solvers: ``solver="auto"`` (the default) integrates with the explicit DOP853 (8th order,
as accurate as the closed forms need) and, when one integration takes more than
``STIFF_EVALUATIONS`` right-hand-side evaluations (a stiff system: Michaelis-Menten
elimination with a tiny Km, fast target binding), redoes it with the implicit Radau
method, its Jacobian's sparsity given (states couple only within a subject). Any other
name is a :func:`scipy.integrate.solve_ivp` method, used as is. Every integration runs
within the ``ode_seconds`` budget (:func:`pkpd.budget`, ``PKPD_ODE_SECONDS``): past it,
:class:`pkpd.SolverError` says so, instead of the process hanging.

A solver failure raises :class:`pkpd.SolverError` with the time, the solver's message
and the parameters. Right-hand side: :func:`pkpd.pk._formulas.rhs`.
"""

from __future__ import annotations

import time

import numpy as np

from .._budget import how_to_raise
from .._errors import PkpdError, SolverError
from . import _formulas as _pk
from . import _linear
from ._events import SS_BOLUS, SS_CONSTANT, SS_INFUSION, Events

SS_MAX_ITERATIONS = 50
SOLVERS = ("auto", "DOP853", "RK45", "RK23", "Radau", "BDF", "LSODA")
# DOP853 takes 12 evaluations a step; a non-stiff segment of antibody PK needs a few hundred
# steps at rtol 1e-8. Beyond this many in one integration the system is stiff: Radau takes over.
STIFF_EVALUATIONS = 60_000
STIFF_SOLVER = "Radau"


class _Stiff(Exception):
    """Internal: the explicit solver of solver="auto" took too many steps."""


def _solver_context(p: dict) -> str:
    parts = []
    for name, x in p.items():
        x = np.asarray(x)
        parts.append(f"{name}={x.min():.4g}..{x.max():.4g}" if x.size > 1 else f"{name}={float(x.flat[0]):.4g}")
    return ", ".join(parts)


class _System:
    """The stacked right-hand side of one model, and its integration over a step."""

    def __init__(self, model, rtol, atol, solver):
        from .._budget import limit
        from .._checks import number
        if solver not in SOLVERS:
            raise PkpdError(f"Unknown ODE solver {solver!r}; allowed: {list(SOLVERS)} ('auto' switches from DOP853 to "
                            "Radau when the system is stiff).")
        self.model, self.solver = model, solver
        self.two_cmt = model.structure == "2cmt"
        self.options = dict(rtol=number("rtol", rtol, above=0, below=1), atol=number("atol", atol, above=0))
        self.seconds = limit("ode_seconds")
        self.deadline = time.monotonic() + self.seconds
        self.stiff = False  # set once solver="auto" has met stiffness: later integrations start implicit

    def initial(self, p: dict, n: int) -> np.ndarray:
        y = np.zeros((4, n))
        if self.model.elimination == "tmdd_qss":
            y[3] = np.broadcast_to(p["R0"], (n,))
        return y

    def concentration(self, y, p: dict) -> np.ndarray:
        return _pk.free_concentration(y[1], y[3], p, self.model.elimination)

    def _solve(self, fun, span, y, t_eval, p, where: str):
        method = self.solver
        if method == "auto":
            method = STIFF_SOLVER if self.stiff else "DOP853"
        try:
            return self._run(method, fun, span, y, t_eval, p, where, cap=self.solver == "auto" and not self.stiff)
        except _Stiff:
            self.stiff = True
            return self._run(STIFF_SOLVER, fun, span, y, t_eval, p, where, cap=False)

    def _run(self, method, fun, span, y, t_eval, p, where: str, cap: bool):
        from scipy.integrate import solve_ivp
        options = dict(self.options, method=method)
        if method in ("BDF", "Radau"):
            from scipy.sparse import identity, kron
            options["jac_sparsity"] = kron(np.ones((4, 4)), identity(y.shape[1]), format="csr")
        calls = 0

        def counted(t, yf):
            nonlocal calls
            calls += 1
            if cap and calls > STIFF_EVALUATIONS:
                raise _Stiff()
            if time.monotonic() > self.deadline:
                hint = (" If the system is stiff (an explicit solver then crawls), use solver='auto' (the default) "
                        "or 'Radau'." if self.solver in ("DOP853", "RK45", "RK23") else "")
                raise SolverError(f"ODE solver ({method}) ran out of its time budget of {self.seconds:g} s {where} "
                                  f"(at day {t:.6g} of {span[0]:g}-{span[1]:g}, {calls:,} evaluations).{hint} "
                                  f"Simulate fewer subjects or a shorter time. {how_to_raise('ode_seconds')} "
                                  f"Parameters: {_solver_context(p)}.")
            return fun(t, yf)
        sol = solve_ivp(counted, span, y.ravel(), t_eval=t_eval, **options)
        if not sol.success or (t_eval is not None and sol.t.size != len(t_eval)):
            raise SolverError(f"ODE solver ({method}) failed {where}: {sol.message} "
                              f"Parameters: {_solver_context(p)}.")
        return sol

    def advance(self, y, h, p, rate, where: str) -> np.ndarray:
        """The state after each subject's own step h (days), on the rescaled clock."""
        n = y.shape[1]
        if not np.any(h > 0):
            return y
        scale = h[None, :]
        sol = self._solve(lambda _, yf: (scale * _pk.rhs(yf.reshape(4, n), p, rate, self.model.elimination,
                                                          self.two_cmt)).ravel(),
                          (0.0, 1.0), y, [1.0], p, where)
        return sol.y[:, -1].reshape(4, n)

    def segment(self, y, start, stop, t_eval, p, rate):
        """States (4, n, len(t_eval)) on a common clock from ``start`` to ``stop``, and the end state."""
        n = y.shape[1]
        t_eval = np.unique(np.append(t_eval, stop))
        sol = self._solve(lambda _, yf: _pk.rhs(yf.reshape(4, n), p, rate, self.model.elimination,
                                                self.two_cmt).ravel(),
                          (start, stop), y, t_eval, p, f"between day {start:g} and day {stop:g}")
        states = sol.y.reshape(4, n, -1)
        return states, sol.t, states[:, :, -1].copy()


def _at(p: dict, rows, cols) -> dict:
    """Parameters of subjects ``rows`` at parameter sets ``cols`` (arrays (n,) or (n, R))."""
    out = {}
    for k, v in p.items():
        v = np.asarray(v, float)
        out[k] = v[rows] if v.ndim == 1 else v[rows, np.minimum(cols, v.shape[1] - 1)]
    return out


def _steady_states(events: Events, p: dict, system: _System, n: int) -> np.ndarray:
    """The state (m, 4) each steady-state record enters (before its own dose)."""
    ss = events.steady
    out = np.zeros((ss.m, 4))
    if ss.m == 0:
        return out
    model = system.model
    if model.is_linear:
        out[:, :3] = _linear.steady_states(events, _linear.Modes(p, n))
        return out
    if ss.add.any():
        i = int(np.flatnonzero(ss.add)[0])
        raise PkpdError(f"{ss.where(i)}: SS 2 adds a steady state to the current state, which is defined for "
                        f"linear kinetics only; model '{model.name}' has {model.elimination} elimination. "
                        "Use SS 1 (reset to the steady state) or give the doses explicitly.")
    q = _at(p, ss.subject, ss.record)
    m = ss.m
    unit = np.zeros((2, m))
    unit[ss.compartment, np.arange(m)] = 1.0
    tau, D = ss.interval, ss.duration
    k = np.floor(np.where(ss.kind == SS_INFUSION, D / np.where(tau > 0, tau, 1.0), 0.0))
    rest = np.where(ss.kind == SS_INFUSION, np.clip(D - k * tau, 0.0, tau), 0.0)
    full = unit * np.where(ss.kind == SS_INFUSION, (k + 1) * ss.rate, 0.0)
    part = unit * np.where(ss.kind == SS_INFUSION, k * ss.rate, np.where(ss.kind == SS_CONSTANT, ss.rate, 0.0))
    bolus = unit * np.where(ss.kind == SS_BOLUS, ss.amount, 0.0)
    const = ss.kind == SS_CONSTANT
    # One cycle from the state just after a dose arrives (phase 0): [0, rest) at the full
    # rate, [rest, tau) at the partial rate. A constant infusion cycles over 1 day.
    span = np.where(const, 1.0, tau)

    def cycle(x, copies: int):
        qq = {key: np.tile(v, copies) for key, v in q.items()}
        y = system.advance(x, np.tile(rest, copies), qq, np.tile(full, copies), "while cycling to steady state")
        y = system.advance(y, np.tile(span - rest, copies), qq, np.tile(part, copies),
                           "while cycling to steady state")
        y[:2] += np.tile(bolus, copies)
        return y

    rtol, atol = system.options["rtol"], system.options["atol"]
    x = system.initial(q, m)
    x[:2] += bolus
    # States that move: the depot (with absorption), central, peripheral (2 cmt), target (TMDD).
    active = [i for i, on in enumerate(("ka" in q, True, system.two_cmt, model.elimination == "tmdd_qss")) if on]
    a = len(active)
    for _ in range(SS_MAX_ITERATIONS):
        # Newton on F(x) = cycle(x) - x, with the Jacobian of cycle() from forward differences
        # (the copies integrate as one system).
        eps = np.sqrt(rtol) * np.maximum(np.abs(x), atol / rtol)
        stacked = np.tile(x, a + 1)
        for c, i in enumerate(active):
            stacked[i, (c + 1) * m:(c + 2) * m] += eps[i]
        y = cycle(stacked, a + 1)
        fx = y[:, :m] - x
        if np.all(np.abs(fx) <= atol + rtol * np.abs(y[:, :m])):
            x = y[:, :m]
            break
        jac = np.empty((m, a, a))
        for c, i in enumerate(active):
            jac[:, :, c] = ((y[active, (c + 1) * m:(c + 2) * m] - y[active, :m]) / eps[i]).T
        step = np.zeros_like(x)
        step[active] = np.linalg.solve(jac - np.eye(a), -fx[active].T[:, :, None])[:, :, 0].T
        # Keep amounts >= 0: shorten the step where it would cross zero.
        with np.errstate(divide="ignore", invalid="ignore"):
            limit = np.where(step < 0, -0.9 * x / step, np.inf).min(axis=0)
        x = x + step * np.minimum(1.0, np.where(np.isfinite(limit), limit, 1.0))
    else:
        worst = int(np.argmax(np.max(np.abs(fx) / (atol + rtol * np.abs(y[:, :m])), axis=0)))
        raise SolverError(f"{ss.where(worst)}: the steady state did not converge within {SS_MAX_ITERATIONS} "
                          f"Newton iterations over one dosing interval (change per cycle {np.abs(fx[:, worst]).max():.3g} "
                          f"mg, tolerance {atol:g} + {rtol:g}*|state|). Parameters: {_solver_context(q)}.")
    # The state at the record: phase p after the last implied arrival.
    x = x.copy()
    early = ss.phase <= rest
    y = system.advance(x, np.where(early, ss.phase, rest), q, full, "while reaching the steady-state phase")
    y = system.advance(y, np.where(early, 0.0, ss.phase - rest), q, part, "while reaching the steady-state phase")
    if const.any():
        y[:, const] = x[:, const]  # the constant infusion's state does not depend on the phase
    initial = system.initial(q, m)
    return (y - initial).T  # added to the reset (initial) state


def concentration_ode(events: Events, p: dict, model, rtol: float = 1e-8, atol: float = 1e-10,
                      solver: str = "auto") -> np.ndarray:
    """Concentrations (n, K) at the outputs of ``events`` from the stacked ODE system."""
    n, J = events.time.shape
    if "ka" not in p and np.any(events.bolus[..., 0] != 0):
        raise PkpdError(f"Model '{model.name}' has no absorption depot (absorption='none'); it takes IV doses only.")
    system = _System(model, rtol, atol, solver)
    ss_state = _steady_states(events, p, system, n)
    if events.shared_clock:
        return _shared_clock(events, p, system, ss_state)
    return _own_clocks(events, p, system, ss_state)


def _apply_event(y, rate, reset, bolus, ss, rate_change, ss_state, initial):
    """Apply one event per subject (arrays over subjects) to the state and the infusion rates."""
    if reset.any():
        y[:, reset] = initial[:, reset]
        rate[:, reset] = 0.0
    y[:2] += bolus.T
    has = ss >= 0
    if has.any():
        y[:, has] += ss_state[ss[has]].T
    rate += rate_change.T


def _event(events: Events, j):
    return events.reset[:, j], events.bolus[:, j], events.ss[:, j], events.rate[:, j]


def _shared_clock(events: Events, p: dict, system: _System, ss_state) -> np.ndarray:
    n, J = events.time.shape
    rows = np.arange(n)
    times = events.time[0]
    out_pos, out_time = events.out_position[0], events.out_time[0]
    K = out_pos.size
    out = np.full((n, K), np.nan)
    y = system.initial(_at(p, rows, events.record[:, 0]), n)
    initial = y.copy()
    rate = np.zeros((2, n))
    first = np.flatnonzero(out_pos == 0)
    if first.size:
        out[:, first] = system.concentration(y[:, :, None], _at(p, rows[:, None], events.out_record[:, first]))
    for j in range(J):
        _apply_event(y, rate, *_event(events, j), ss_state, initial)
        start = times[j]
        stop = times[j + 1] if j + 1 < J else max(start, out_time.max())
        mine = np.flatnonzero(out_pos == j + 1)
        # Each output reads the state with its own record's parameters (V, and KSS for TMDD).
        own = _at(p, rows[:, None], events.out_record[:, mine])
        if stop == start:
            if mine.size:
                out[:, mine] = system.concentration(y[:, :, None], own)
            continue
        q = _at(p, rows, events.record[:, j + 1] if j + 1 < J else events.out_record[:, -1])
        states, t, y = system.segment(y, start, stop, out_time[mine], q, rate)
        if mine.size:
            idx = np.searchsorted(t, out_time[mine])
            out[:, mine] = system.concentration(states[:, :, idx], own)
    if np.isnan(out).any():
        raise SolverError("Internal error: some output times were not reached by the ODE engine.")
    return out


def _own_clocks(events: Events, p: dict, system: _System, ss_state) -> np.ndarray:
    """Every subject on its own clock: events and outputs merged in processing order."""
    n, J = events.time.shape
    K = events.out_position.shape[1]
    rows = np.arange(n)
    # Outputs with position q come after event q-1 and before event q.
    key = np.concatenate([2 * np.arange(J)[None, :] + 1 + np.zeros((n, 1), dtype=np.int64),
                          2 * events.out_position], axis=1)
    order = np.argsort(key, axis=1, kind="stable")
    is_output = order >= J
    index = np.where(is_output, order - J, order)
    time = np.where(is_output, events.out_time[rows[:, None], np.minimum(index, K - 1)],
                    events.time[rows[:, None], np.minimum(index, J - 1)])
    record = np.where(is_output, events.out_record[rows[:, None], np.minimum(index, K - 1)],
                      events.record[rows[:, None], np.minimum(index, J - 1)])
    out = np.full((n, K), np.nan)
    y = system.initial(_at(p, rows, record[:, 0]), n)
    initial = y.copy()
    rate = np.zeros((2, n))
    previous = time[:, 0].copy()
    for m in range(J + K):
        q = _at(p, rows, record[:, m])
        h = time[:, m] - previous
        y = system.advance(y, h, q, rate, f"in the step to day {time[:, m].max():g} (one clock per subject)")
        previous = time[:, m]
        ev = ~is_output[:, m]
        if ev.any():
            # Subjects whose item m is an event apply their own event (vectorised by masking).
            jj = np.minimum(index[:, m], J - 1)
            _apply_event(y, rate, np.where(ev, events.reset[rows, jj], False),
                         np.where(ev[:, None], events.bolus[rows, jj], 0.0), np.where(ev, events.ss[rows, jj], -1),
                         np.where(ev[:, None], events.rate[rows, jj], 0.0), ss_state, initial)
        if (~ev).any():
            k = index[~ev, m]
            out[rows[~ev], k] = system.concentration(y[:, ~ev], {key: v[~ev] for key, v in q.items()})
    return out
