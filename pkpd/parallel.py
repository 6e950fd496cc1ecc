"""Running independent chunks of work: the one place pkpd imports dask.

Heavy entry points (``simulate``, ``simulate_trial``, ``predict`` with draws,
``dose_response``, the parameter-recovery benchmark) split their work into chunks (of
patients, draws or regimens) whose results do not depend on where or in which order they
run, and hand them to :func:`run_chunks`. With a ``dask.distributed`` client (passed as
``client=`` or active in the process, e.g. after ``Client(LocalCluster())`` or
``Client("tcp://scheduler:8786")``) the chunks run on its workers; otherwise on dask's
threads. The results are identical either way.

A simulation too large for memory is instead a lazy array (:func:`lazy_array`): one
task per chunk, computed when the dataset is written (:func:`store`, through
:func:`pkpd.write_dataset`) or reduced (:func:`compute`), again on the client or on
threads, with each chunk dropped once written or reduced.

Custom response models and endpoint families must be registered in the worker processes
too (define them in a module the workers import, or register them with ``client.run``).
"""

from __future__ import annotations

import sys
from typing import Callable, Sequence


def active_client(client=None):
    """The dask.distributed Client to use: ``client``, else the one active in this process, else None."""
    if client is not None:
        return client
    if "distributed" not in sys.modules:  # no client can have been started
        return None
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


def is_lazy(data) -> bool:
    """Whether ``data`` (an array, or an xarray object's data) is a dask array, computed only when needed."""
    return type(data).__module__.split(".")[0] == "dask"


def lazy_array(function: Callable, blocks: dict, chunks: tuple, dtype=float):
    """A dask array with ``chunks`` whose block at ``index`` is ``function(*blocks[index])``.

    Nothing is computed here: each block is computed when it is needed (by ``compute``,
    a write, a reduction), on the active dask.distributed client or on dask's threads.
    ``function`` must be importable by name for a cluster's workers to run it.
    """
    from functools import partial
    from uuid import uuid4

    import numpy as np
    import dask.array as da
    from dask.highlevelgraph import HighLevelGraph
    name = f"{getattr(function, '__name__', 'block').strip('_')}-{uuid4().hex}"
    # One callable per block: the arguments stay opaque to dask (no tokenising or traversal).
    graph = {(name, *index): (partial(function, *args),) for index, args in blocks.items()}
    meta = np.empty((0,) * len(chunks), dtype=dtype)
    return da.Array(HighLevelGraph.from_collections(name, graph, dependencies=()), name, chunks, dtype=dtype,
                    meta=meta)


def _fetch_block(client, graph: dict, key):
    """One block of a dask array, computed on the client's workers from its part of the graph."""
    from dask.optimization import cull
    needed, _ = cull(graph, [key])  # the block's own tasks, without walking the whole array
    return client.get(needed, key, sync=True)


# Bytes of blocks fetched from a cluster at a time while a dataset is written (besides the
# cluster's own memory): bounds the writing process's memory whatever the cluster's size.
FETCH_BYTES = 512 * 2 ** 20


def store(ds, write: Callable, client=None) -> None:
    """Write the xarray dataset ``ds`` with ``write(ds)``, which returns a dask Delayed (for
    example ``lambda d: d.to_netcdf(path, compute=False)``), computing dask-backed variables
    block by block as they are written.

    Blocks run on the dask.distributed ``client`` (given, or active) and come back to this
    process, which writes them: the file is this process's, whether the cluster is local
    or remote. At most 2 x the cluster's threads blocks (and at most ``FETCH_BYTES``) are
    in flight. Without a client, the blocks run on dask's threads here. Either way each
    block is written and dropped as soon as it is computed, so memory is bounded by the
    blocks in flight, not the dataset's size.
    """
    client = active_client(client)
    workers = None
    if client is not None:
        lazy = {name: v for name, v in ds.variables.items() if is_lazy(v.data)}
        if lazy:
            largest = max(v.data.dtype.itemsize * max_block_size(v.data) for v in lazy.values())
            threads = sum(client.nthreads().values())
            workers = max(1, min(2 * threads, FETCH_BYTES // max(largest, 1)))
            fetched = {}
            for name, v in lazy.items():
                graph = dict(v.data.__dask_graph__())
                blocks = {index: (client, graph, (v.data.name, *index)) for index in _block_indices(v.data)}
                fetched[name] = v.copy(data=lazy_array(_fetch_block, blocks, v.data.chunks, v.dtype))
            ds = ds.assign({k: v for k, v in fetched.items() if k in ds.data_vars}).assign_coords(
                {k: v for k, v in fetched.items() if k not in ds.data_vars})
    _on_threads(write(ds), workers)


def _on_threads(obj, workers=None):
    """``obj.compute()`` on a pool of threads that is drained before returning or raising, so no
    chunk is still running (or writing) once a failure is reported."""
    import os
    from concurrent.futures import ThreadPoolExecutor
    pool = ThreadPoolExecutor(workers or os.cpu_count() or 1)
    try:
        return obj.compute(scheduler="threads", pool=pool)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _block_indices(array):
    import itertools
    return itertools.product(*(range(n) for n in array.numblocks))


def max_block_size(array) -> int:
    """Elements of the largest block of a dask array."""
    import math
    return math.prod(max(c) if c else 0 for c in array.chunks)


def compute(obj, client=None):
    """``obj.compute()`` (an xarray or dask object) on the client (given, or active) or on dask's
    threads; ``obj`` itself when nothing in it is lazy."""
    parts = [obj, getattr(obj, "data", None)] + [v.data for v in getattr(obj, "variables", {}).values()]
    if not any(is_lazy(p) for p in parts):
        return obj
    client = active_client(client)
    return obj.compute(scheduler=client) if client is not None else _on_threads(obj)
