"""The exception and warning types users catch or filter."""


class PkpdError(ValueError):
    """Bad input: the message names the value, says what is allowed and how to fix it."""


class SolverError(RuntimeError):
    """The ODE solver failed; the message carries the time, the solver's message and the parameters."""


class PkpdWarning(UserWarning):
    """Something worth knowing about a result that is still returned (the CLI prints it on one line)."""
