"""Writing output files whole or not at all, and checking output paths before any computation.

Every file pkpd writes (fit files, datasets, figures, NONMEM records) goes through
:func:`replace_atomic`: the content is written to a temporary file next to the target,
flushed to disk (``fsync``), and renamed over the target in one step. A crash, a kill or a
full disk while writing leaves the previous file as it was (and at most the temporary
``.<name>.<pid>.tmp`` beside it, removed when the error can still be handled).
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

from ._errors import PkpdError


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the platform allows opening folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - file systems that cannot sync folders
        pass
    finally:
        os.close(fd)


def replace_atomic(path, write: Callable[[Path], None]) -> Path:
    """Create ``path`` whole or not at all: ``write(temporary_path)`` writes the content to a
    temporary file in the same folder, which is synced and then renamed over ``path``."""
    path = Path(path)
    if path.is_dir():
        raise PkpdError(f"Output {str(path)!r} is a folder; give a file name.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)
    return path


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (temporary file, fsync, rename)."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
    replace_atomic(path, write)


OUTPUT_FORMATS = {".nc": "netCDF", ".csv": "CSV (one row per regimen, subject and time)"}
DATASET_FORMATS = {**OUTPUT_FORMATS, ".zarr": "zarr store, a folder (needs the zarr package: pip install 'pkpd[zarr]')"}


def _is_zarr_store(path: Path) -> bool:
    return path.is_dir() and any((path / name).exists() for name in ("zarr.json", ".zgroup", ".zattrs"))


def check_output(path, formats=OUTPUT_FORMATS, what: str = "--out") -> Path:
    """Refuse an output path before any computation: not a name, a folder, an unknown suffix, or no writable folder.

    A ``.zarr`` output is a folder: an existing zarr store there is replaced, any other folder refused.
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise PkpdError(f"{what} must be a file name, got {path!r}.")
    path = Path(path)
    suffix = path.suffix.lower()
    allowed = ", ".join(f"{k} ({v})" for k, v in formats.items())
    if suffix == ".zarr" and ".zarr" in formats:
        if path.exists() and not _is_zarr_store(path):
            raise PkpdError(f"{what} {str(path)!r} exists and is not a zarr store; remove it or choose another name.")
    elif path.is_dir():
        raise PkpdError(f"{what} {str(path)!r} is a folder; give a file name in it (e.g. "
                        f"{str(path / ('out' + next(iter(formats))))!r}).")
    if suffix not in formats:
        raise PkpdError(f"{what} {str(path)!r}: the file type follows the suffix; allowed: {allowed}.")
    folder = path.parent if str(path.parent) else Path(".")
    existing = next((p for p in [folder, *folder.parents] if p.exists()), None)
    if existing is not None and (not existing.is_dir() or not os.access(existing, os.W_OK)):
        raise PkpdError(f"{what} {str(path)!r}: cannot write in {str(existing)!r}.")
    return path


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _replace_folder(path: Path, write) -> None:
    """``write(tmp)`` to a temporary folder beside ``path`` (a zarr store), then rename it to ``path``.

    Files go through :func:`replace_atomic`. An existing zarr folder at ``path`` is moved aside first and deleted after the rename
    (restored if the rename fails), so ``path`` never holds a partial store.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    old = path.with_name(f".{path.name}.{os.getpid()}.old")
    try:
        write(tmp)
        _sync_tree(tmp)
        if path.is_dir():
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old, path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    _sync_folder(path.parent)


def _sync_tree(folder: Path) -> None:
    """fsync every file of a folder written whole (a zarr store) before it is renamed into place."""
    for file in folder.rglob("*"):
        if file.is_file():
            with open(file, "rb+") as f:
                os.fsync(f.fileno())


def write_dataset(ds, path, *, client=None) -> Path:
    """Write a dataset whole or not at all: netCDF (``.nc``), zarr (``.zarr``) or a long CSV table (``.csv``).

    A lazy dataset (a large :func:`pkpd.simulate`, whose concentrations are a dask array
    chunked over subjects) is computed chunk by chunk as it is written, so memory is
    bounded by the chunks in flight, not by the dataset. The chunks run on the dask
    ``client`` (given, or active; :mod:`pkpd.parallel`) and come back to this process,
    which writes the file, or on dask's threads here. The values written are the same
    either way. netCDF files are written with h5netcdf; a lazy variable's netCDF chunks
    are its dask chunks (one regimen x one chunk of subjects x all times), so reading one
    chunk of subjects back reads one piece of the file. A zarr store gets the same chunks
    (the zarr package is needed: ``pip install 'pkpd[zarr]'``). A CSV table holds every
    row of the variables with the most dimensions, written chunk by chunk in the same
    order as an in-memory dataset's.

    The output goes to a temporary file (or folder) beside ``path``, renamed to ``path``
    once complete; an existing file, or zarr store, at ``path`` is replaced.

    Returns the path.
    """
    from .parallel import is_lazy, store
    path = check_output(path, DATASET_FORMATS, "Output")
    suffix = path.suffix.lower()
    lazy = [name for name, v in ds.variables.items() if is_lazy(v.data)]
    if suffix == ".csv":
        replace_atomic(path, lambda tmp: _write_csv(ds, tmp, client))
        return path
    if suffix == ".zarr":
        import importlib.util
        if importlib.util.find_spec("zarr") is None:
            raise PkpdError(f"Writing {str(path)!r} needs the zarr package, which is not installed: "
                            "pip install 'pkpd[zarr]' (or write .nc, netCDF, which needs nothing more).")
        _replace_folder(path, lambda tmp: store(ds, lambda d: d.to_zarr(tmp, mode="w", zarr_format=2, compute=False), client))
        return path
    encoding = {name: {"chunksizes": tuple(max(c) for c in ds[name].data.chunks)} for name in lazy}
    if lazy:
        replace_atomic(path, lambda tmp: store(
            ds, lambda d: d.to_netcdf(tmp, engine="h5netcdf", encoding=encoding, compute=False), client))
    else:
        replace_atomic(path, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))
    return path


def _write_csv(ds, path: Path, client) -> None:
    """The rows of the variables with the most dimensions; a lazy dataset a piece at a time."""
    from .parallel import compute, is_lazy
    ndim = max(x.ndim for x in ds.data_vars.values())
    table = ds[[name for name, v in ds.data_vars.items() if v.ndim == ndim]]
    dims = list(table.dims)  # the order of to_dataframe's rows
    chunks = {}
    for v in table.variables.values():
        if is_lazy(v.data):
            chunks.update((d, c) for d, c in zip(v.dims, v.data.chunks) if len(c) > 1)
    # Pieces whole along every dimension after the last chunked one, one index at a time
    # along those before it: their rows, one after the other, are the table's rows in order.
    last = max((dims.index(d) for d in chunks), default=-1)
    ranges = []
    for i, d in enumerate(dims[:last + 1]):
        edges = np.cumsum((0,) + chunks[d]) if i == last else np.arange(table.sizes[d] + 1)
        ranges.append([slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])])
    with open(path, "w", encoding="utf-8", newline="") as f:
        for k, index in enumerate(itertools.product(*ranges)):
            piece = table.isel(dict(zip(dims, index)))
            if chunks:
                piece = compute(piece, client)
            piece.to_dataframe().reset_index().to_csv(f, index=False, header=k == 0)
        f.flush()
        os.fsync(f.fileno())
