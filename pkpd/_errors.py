"""The one exception type users catch for bad input to pkpd."""


class PkpdError(ValueError):
    """Bad input: the message names the value, says what is allowed and how to fix it."""


class SolverError(RuntimeError):
    """The ODE solver failed; the message carries the time, the solver's message and the parameters."""
