"""Writing output files whole or not at all, and checking output paths before any computation.

Every file pkpd writes (fit files, datasets, figures, NONMEM records) goes through
:func:`replace_atomic`: the content is written to a temporary file next to the target,
flushed to disk (``fsync``), and renamed over the target in one step. A crash, a kill or a
full disk while writing leaves the previous file as it was (and at most the temporary
``.<name>.<pid>.tmp`` beside it, removed when the error can still be handled).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

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


def check_output(path, formats=OUTPUT_FORMATS, what: str = "--out") -> Path:
    """Refuse an output path before any computation: a folder, an unknown suffix, or no writable folder."""
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise PkpdError(f"{what} must be a file name, got {path!r}.")
    path = Path(path)
    allowed = ", ".join(f"{k} ({v})" for k, v in formats.items())
    if path.is_dir():
        raise PkpdError(f"{what} {str(path)!r} is a folder; give a file name in it (e.g. "
                        f"{str(path / ('out' + next(iter(formats))))!r}).")
    if path.suffix.lower() not in formats:
        raise PkpdError(f"{what} {str(path)!r}: the file type follows the suffix; allowed: {allowed}.")
    folder = path.parent if str(path.parent) else Path(".")
    existing = next((p for p in [folder, *folder.parents] if p.exists()), None)
    if existing is not None and (not existing.is_dir() or not os.access(existing, os.W_OK)):
        raise PkpdError(f"{what} {str(path)!r}: cannot write in {str(existing)!r}.")
    return path


def write_dataset(ds, path) -> Path:
    """Write a dataset as netCDF (.nc) or a long CSV table (.csv), atomically."""
    path = check_output(path)
    if path.suffix.lower() == ".nc":
        return replace_atomic(path, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))
    variables = [name for name, v in ds.data_vars.items() if v.ndim == max(x.ndim for x in ds.data_vars.values())]
    table = ds[variables].to_dataframe().reset_index()
    write_atomic(path, table.to_csv(index=False).encode("utf-8"))
    return path
