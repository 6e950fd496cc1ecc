"""Running independent chunks of work: the one place pkpd imports dask.

Heavy entry points (``simulate``, ``simulate_trial``, ``predict`` with draws,
``dose_response``, the parameter-recovery benchmark) split their work into chunks (of
patients, draws or regimens) whose results do not depend on where or in which order they
run, and hand them to :func:`run_chunks`. With a ``dask.distributed`` client (passed as
``client=`` or active in the process, e.g. after ``Client(LocalCluster())`` or
``Client("tcp://scheduler:8786")``) the chunks run on its workers; otherwise on dask's
threads. The results are identical either way.

Custom response models and endpoint families must be registered in the worker processes
too (define them in a module the workers import, or register them with ``client.run``).
"""

from __future__ import annotations

from typing import Callable, Sequence


def active_client(client=None):
    """The dask.distributed Client to use: ``client``, else the one active in this process, else None."""
    if client is not None:
        return client
    try:
        from distributed import get_client
    except ImportError:  # pragma: no cover - distributed is a dependency
        return None
    try:
        return get_client()
    except ValueError:  # no client has been started
        return None


def run_chunks(function: Callable, arguments: Sequence[tuple], client=None, progress: Callable | None = None) -> list:
    """``[function(*args) for args in arguments]``, on a dask.distributed client or on dask's threads.

    ``progress(done, total)`` is called as chunks finish.
    """
    arguments = list(arguments)
    if not arguments:
        return []
    total = len(arguments)
    client = active_client(client)
    if client is not None:
        futures = client.map(function, *(list(column) for column in zip(*arguments)), pure=False)
        if progress is not None:
            from distributed import as_completed
            for done, _ in enumerate(as_completed(futures), start=1):
                progress(done, total)
        return client.gather(futures)
    import dask
    from dask.callbacks import Callback
    tasks = [dask.delayed(function)(*args) for args in arguments]
    if progress is None:
        return list(dask.compute(*tasks, scheduler="threads"))
    keys = {task.key for task in tasks}
    done = []

    def finished(key, result, dsk, state, worker_id):
        if key in keys:
            done.append(key)
            progress(len(done), total)

    with Callback(posttask=finished):
        return list(dask.compute(*tasks, scheduler="threads"))
