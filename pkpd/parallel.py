"""Running independent chunks of work: the one place pkpd imports dask.

Heavy entry points split their work into chunks (of patients, draws or regimens) whose
results do not depend on the order they run in, and hand them to :func:`run_chunks`.
"""

from __future__ import annotations

from typing import Callable, Sequence


def run_chunks(function: Callable, arguments: Sequence[tuple], scheduler: str = "threads") -> list:
    """``[function(*args) for args in arguments]``, computed by dask (threads by default)."""
    import dask

    tasks = [dask.delayed(function)(*args) for args in arguments]
    return list(dask.compute(*tasks, scheduler=scheduler))
