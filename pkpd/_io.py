"""Writing output files whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

from ._errors import PkpdError


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (temporary file, fsync, rename)."""
    path = Path(path)
    if path.is_dir():
        raise PkpdError(f"Output {str(path)!r} is a folder; give a file name.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


OUTPUT_FORMATS = {".nc": "netCDF", ".csv": "CSV (one row per regimen, subject and time)"}


def check_output(path, formats=OUTPUT_FORMATS, what: str = "--out") -> Path:
    """Refuse an output path before any computation: unknown suffix, a folder, or no writable folder."""
    path = Path(path)
    if path.suffix.lower() not in formats:
        allowed = ", ".join(f"{k} ({v})" for k, v in formats.items())
        raise PkpdError(f"{what} {str(path)!r}: the file type follows the suffix; allowed: {allowed}.")
    if path.is_dir():
        raise PkpdError(f"{what} {str(path)!r} is a folder; give a file name.")
    folder = path.parent if str(path.parent) else Path(".")
    existing = next((p for p in [folder, *folder.parents] if p.exists()), None)
    if existing is not None and (not existing.is_dir() or not os.access(existing, os.W_OK)):
        raise PkpdError(f"{what} {str(path)!r}: cannot write in {str(existing)!r}.")
    return path


def write_dataset(ds, path) -> Path:
    """Write a dataset as netCDF (.nc) or a long CSV table (.csv), atomically."""
    path = check_output(path)
    if path.suffix.lower() == ".nc":
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            ds.to_netcdf(tmp, engine="h5netcdf")
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return path
    variables = [name for name, v in ds.data_vars.items() if v.ndim == max(x.ndim for x in ds.data_vars.values())]
    table = ds[variables].to_dataframe().reset_index()
    write_atomic(path, table.to_csv(index=False).encode("utf-8"))
    return path
