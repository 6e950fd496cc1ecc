"""Work budgets: every computation is estimated before it starts and refused, with a clear
error, when it would go over a budget. One place for the limits and their messages.

=================  ==================  =====================  =================================================
budget             default             environment variable   what it bounds
=================  ==================  =====================  =================================================
``memory``         4 GiB               ``PKPD_MEMORY``        the largest arrays one call allocates (estimated
                                                              from the sizes of the inputs before allocating)
``doses``          1,000,000           ``PKPD_DOSES``         doses per subject and regimen up to the last time
                                                              simulated (only those can change an output)
``ode_seconds``    300                 ``PKPD_ODE_SECONDS``   wall time of one ODE integration (then
                                                              :class:`pkpd.SolverError`)
``rule_histories`` 10,000              ``PKPD_RULE_HISTORIES`` dosing histories the response-guided rules of
                                                              one regimen lead to (see README, "Rule cost")
=================  ==================  =====================  =================================================

Raise a budget for a block of code with ``with pkpd.budget(memory="16 GB"): ...``, or for
a whole process (and for the command line) with the environment variable. Memory reads
bytes or text with a unit (``"500 MB"``, ``"16GiB"``). A budget applies in the process
that reads it: on a dask.distributed cluster set the environment variables on the workers.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading

from ._errors import PkpdError

DEFAULTS = {"memory": 4 * 2 ** 30, "doses": 1_000_000, "ode_seconds": 300.0, "rule_histories": 10_000}
ENVIRONMENT = {"memory": "PKPD_MEMORY", "doses": "PKPD_DOSES", "ode_seconds": "PKPD_ODE_SECONDS",
               "rule_histories": "PKPD_RULE_HISTORIES"}
_UNITS = {"": 1, "b": 1, "kb": 10 ** 3, "mb": 10 ** 6, "gb": 10 ** 9, "tb": 10 ** 12,
          "kib": 2 ** 10, "mib": 2 ** 20, "gib": 2 ** 30, "tib": 2 ** 40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)\s*([A-Za-z]*)\s*\Z")

_lock = threading.Lock()
_overrides: dict[str, float] = {}  # set by budget(); process-wide, so dask's threads see them too


def _read(name: str, value, source: str) -> float:
    """A budget value as a positive number (memory: bytes, from a number or text with a unit)."""
    from ._checks import number, whole
    hint = f" Give it as {'bytes or text with a unit such as 8GB' if name == 'memory' else 'a positive number'}."
    if name == "memory" and isinstance(value, str):
        m = _SIZE.match(value)
        unit = m.group(2).lower() if m else None
        if m is None or unit not in _UNITS:
            raise PkpdError(f"Memory budget {value!r} ({source}) is not a size; allowed: a number of bytes or a "
                            f"number with one of the units {sorted(u for u in _UNITS if u)}, e.g. '8GB'.")
        value = float(m.group(1)) * _UNITS[unit]
    if name in ("doses", "rule_histories"):
        return whole(f"Budget {name} ({source})", value, minimum=1, hint=hint, text=True)
    return number(f"Budget {name} ({source})", value, above=0, hint=hint, text=True)


def limit(name: str) -> float:
    """The budget in force: a ``budget()`` block, else the environment variable, else the default."""
    with _lock:
        if name in _overrides:
            return _overrides[name]
    text = os.environ.get(ENVIRONMENT[name])
    if text is not None and text.strip():
        return _read(name, text.strip(), f"environment variable {ENVIRONMENT[name]}")
    return DEFAULTS[name]


@contextlib.contextmanager
def budget(*, memory=None, doses=None, ode_seconds=None, rule_histories=None):
    """Raise (or lower) pkpd's work budgets within a ``with`` block.

    Parameters
    ----------
    memory : int or str, optional
        Bytes, or text such as ``"16 GB"`` (default budget 4 GiB; ``PKPD_MEMORY``).
    doses : int, optional
        Doses per subject and regimen up to the last time simulated (default 1,000,000;
        ``PKPD_DOSES``).
    ode_seconds : float, optional
        Wall time of one ODE integration before :class:`pkpd.SolverError` (default 300;
        ``PKPD_ODE_SECONDS``).
    rule_histories : int, optional
        Dosing histories one regimen's response-guided rules may lead to (default 10,000;
        ``PKPD_RULE_HISTORIES``).

    Examples
    --------
    >>> import pkpd
    >>> with pkpd.budget(memory="16 GB", ode_seconds=600):
    ...     pass  # a large simulation here
    """
    given = {k: v for k, v in dict(memory=memory, doses=doses, ode_seconds=ode_seconds,
                                   rule_histories=rule_histories).items() if v is not None}
    new = {k: _read(k, v, f"pkpd.budget({k}=...)") for k, v in given.items()}
    with _lock:
        saved = dict(_overrides)
        _overrides.update(new)
    try:
        yield
    finally:
        with _lock:
            _overrides.clear()
            _overrides.update(saved)


def how_to_raise(name: str) -> str:
    example = {"memory": "memory='16GB'", "doses": "doses=10_000_000", "ode_seconds": "ode_seconds=1200",
               "rule_histories": "rule_histories=100_000"}[name]
    env = {"memory": "16GB", "doses": "10000000", "ode_seconds": "1200", "rule_histories": "100000"}[name]
    return f"Or raise the budget: with pkpd.budget({example}): ..., or {ENVIRONMENT[name]}={env} in the environment."


def format_bytes(n: float) -> str:
    for unit, size in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} bytes"


def check_memory(nbytes: float, what: str, fix: str) -> None:
    """Refuse a computation whose arrays would take ``nbytes``: ``what`` says which, ``fix`` how to shrink it."""
    allowed = limit("memory")
    if nbytes > allowed:
        raise PkpdError(f"{what} would need about {format_bytes(nbytes)}, over the memory budget of "
                        f"{format_bytes(allowed)}. {fix} {how_to_raise('memory')}")


def check_doses(count: float, what: str, fix: str) -> None:
    """Refuse ``count`` doses (per subject and regimen) over the dose budget."""
    allowed = limit("doses")
    if count > allowed:
        many = f"{count:,.0f} doses" if count < float("inf") else "more doses than can be counted"
        raise PkpdError(f"{what} has {many} up to the last time simulated, over the dose budget of "
                        f"{allowed:,.0f}. {fix} {how_to_raise('doses')}")
