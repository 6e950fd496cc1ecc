"""Checks of numbers shared by every layer: finite, in range, whole. One place for each rule."""

from __future__ import annotations

import math
import numbers as _numbers

import numpy as np

from ._errors import PkpdError


def _from_text(value, text: bool):
    """Numbers written as text (a field of a file) are read when ``text``; otherwise kept as text."""
    if text and isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value


def number(what: str, value, *, minimum: float | None = None, maximum: float | None = None,
           above: float | None = None, below: float | None = None, hint: str = "", text: bool = False) -> float:
    """``value`` as a finite float within the given limits, or a PkpdError naming ``what``.

    ``minimum``/``maximum`` are closed limits, ``above``/``below`` open ones. Booleans and
    text are refused (``True`` is not the number 1 here); ``text=True`` reads a number
    written as text (a field of a file: ``"12"``, not ``"twelve"``).
    """
    value = _from_text(value, text)
    if isinstance(value, (bool, np.bool_)) or isinstance(value, (str, bytes)):
        raise PkpdError(f"{what} must be a number, got {value!r}.{hint}")
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise PkpdError(f"{what} must be a number, got {value!r}.{hint}") from None
    if not math.isfinite(x):
        raise PkpdError(f"{what} must be finite, got {value!r}.{hint}")
    limits = []
    if minimum is not None and x < minimum:
        limits.append(f">= {minimum:g}")
    if above is not None and x <= above:
        limits.append(f"> {above:g}")
    if maximum is not None and x > maximum:
        limits.append(f"<= {maximum:g}")
    if below is not None and x >= below:
        limits.append(f"< {below:g}")
    if limits:
        allowed = " and ".join(_describe(minimum, maximum, above, below))
        raise PkpdError(f"{what} must be {allowed}, got {value!r}.{hint}")
    return x


def _describe(minimum, maximum, above, below) -> list[str]:
    out = []
    if minimum is not None:
        out.append(f">= {minimum:g}")
    if above is not None:
        out.append(f"> {above:g}")
    if maximum is not None:
        out.append(f"<= {maximum:g}")
    if below is not None:
        out.append(f"< {below:g}")
    return out


def whole(what: str, value, *, minimum: int | None = None, maximum: int | None = None, hint: str = "",
          text: bool = False) -> int:
    """``value`` as an int if it is a whole number within the limits (2.0 is 2; 2.7 is refused);
    ``text=True`` reads one written as text."""
    value = _from_text(value, text)
    if isinstance(value, (bool, np.bool_)) or isinstance(value, (str, bytes)):
        raise PkpdError(f"{what} must be a whole number, got {value!r}.{hint}")
    if isinstance(value, _numbers.Integral):
        n = int(value)
    else:
        try:
            x = float(value)
        except (TypeError, ValueError, OverflowError):
            raise PkpdError(f"{what} must be a whole number, got {value!r}.{hint}") from None
        if not math.isfinite(x) or x != math.floor(x):
            raise PkpdError(f"{what} must be a whole number, got {value!r}.{hint}")
        n = int(x)
    if (minimum is not None and n < minimum) or (maximum is not None and n > maximum):
        allowed = " and ".join(_describe(minimum, maximum, None, None))
        raise PkpdError(f"{what} must be a whole number {allowed}, got {value!r}.{hint}")
    return n


def increasing_times(values, what: str = "times") -> np.ndarray:
    """A non-empty 1-D float array of finite times >= 0 that increase strictly."""
    try:
        raw = np.asarray(values)
        t = np.atleast_1d(raw.astype(float))
    except (TypeError, ValueError):
        raise PkpdError(f"{what} must be numbers, got {values!r}.") from None
    if raw.dtype.kind not in "iuf" or isinstance(values, bool):
        raise PkpdError(f"{what} must be numbers, got {values!r}.")
    if t.ndim != 1 or t.size == 0:
        raise PkpdError(f"{what} must be a non-empty 1-D sequence, got shape {t.shape}.")
    if not np.all(np.isfinite(t)):
        raise PkpdError(f"{what} must be finite; got {float(t[~np.isfinite(t)][0])!r}.")
    if np.any(t < 0):
        raise PkpdError(f"{what} must be >= 0 (time 0 is the first day of treatment); got {float(t[t < 0][0])!r}.")
    if np.any(np.diff(t) <= 0):
        i = int(np.flatnonzero(np.diff(t) <= 0)[0])
        raise PkpdError(f"{what} must increase strictly; {float(t[i + 1])!r} follows {float(t[i])!r}. "
                        "Sort them and drop repeats.")
    return t


def format_number(x: float) -> str:
    """Shortest text that reads back as the same float ('45', '0.5', '1e-07'; 'inf' and 'nan' as such)."""
    x = float(x)
    if not math.isfinite(x):
        return repr(x)
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    for digits in range(1, 18):
        s = f"{x:.{digits}g}"
        if float(s) == x:
            return s
    return repr(x)


def nearest(name: str, allowed) -> str:
    """' Did you mean 'x'?' for the closest allowed name, or '' when none is close."""
    import difflib
    match = difflib.get_close_matches(str(name), [str(a) for a in allowed], n=1, cutoff=0.6)
    return f" Did you mean '{match[0]}'?" if match else ""


def mapping(what: str, value, hint: str = "") -> dict:
    """``value`` as a dict (None is empty), or a PkpdError naming ``what``."""
    from collections.abc import Mapping
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PkpdError(f"{what} must be a mapping such as {{name: value}}, got {value!r}.{hint}")
    return dict(value)


def names(what: str, value, hint: str = "") -> list[str]:
    """One name or a sequence of names (text), as a list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple, np.ndarray)) and all(isinstance(v, (str, np.str_)) for v in value):
        return [str(v) for v in value]
    raise PkpdError(f"{what} must be a name or a list of names, got {value!r}.{hint}")


def array(what: str, values, hint: str = "") -> np.ndarray:
    """Numbers of any shape as a float array (text, booleans and other objects refused)."""
    from collections.abc import Mapping
    try:
        raw = np.asarray(values)
    except (TypeError, ValueError):
        raw = None
    if isinstance(values, (str, bytes, bool, np.bool_, Mapping)) or raw is None or raw.dtype.kind not in "iuf":
        raise PkpdError(f"{what} must be a number or an array of numbers, got {values!r}.{hint}")
    return raw.astype(float)


def numbers(what: str, values, *, minimum: float | None = None, maximum: float | None = None,
            above: float | None = None, below: float | None = None, hint: str = "") -> np.ndarray:
    """One number or a 1-D sequence of finite numbers within the limits, as a float array (1-D)."""
    from collections.abc import Mapping
    bad_kind = isinstance(values, (str, bytes, bool, np.bool_, Mapping))
    try:
        raw = np.asarray(values)
    except (TypeError, ValueError):
        bad_kind = True
    if not bad_kind and (raw.dtype.kind not in "iuf" or raw.ndim > 1):
        bad_kind = True
    if bad_kind:
        raise PkpdError(f"{what} must be a number or a list of numbers, got {values!r}.{hint}")
    x = np.atleast_1d(raw.astype(float))
    ok = np.isfinite(x)
    for limit, inside in ((minimum, np.greater_equal), (above, np.greater), (maximum, np.less_equal),
                          (below, np.less)):
        if limit is not None:
            ok &= inside(x, limit)
    if not ok.all():  # the first bad one, named, with number()'s message
        i = int(np.argmin(ok))
        number(f"{what} (entry {i})" if x.size > 1 else what, x[i], minimum=minimum, maximum=maximum, above=above,
               below=below, hint=hint)
    return x


def dataset(what: str, ds, variables=(), made_by: str = ""):
    """``ds`` if it is an xarray Dataset with these data variables, else a PkpdError."""
    import xarray as xr
    if not isinstance(ds, xr.Dataset):
        raise PkpdError(f"{what} must be an xarray Dataset{made_by}, got {type(ds).__name__}.")
    missing = [v for v in variables if v not in ds]
    if missing:
        raise PkpdError(f"{what} has no {missing} (it has {sorted(map(str, ds.data_vars))}){made_by}.")
    return ds
