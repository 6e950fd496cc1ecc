"""The exception and warning types users catch or filter."""


class PkpdError(ValueError):
    """Bad input: the message names the value, says what is allowed and how to fix it."""


class SolverError(PkpdError, RuntimeError):
    """The ODE solver failed or ran out of its time budget; the message carries the time, the
    solver's message and the parameters. A :class:`PkpdError` (what to change is in the
    message), and a ``RuntimeError`` as before."""


class PkpdWarning(UserWarning):
    """Something worth knowing about a result that is still returned (the CLI prints it on one line)."""
