"""Figures for reports. matplotlib is imported inside each function, so ``import pkpd`` stays fast and headless.

Each function builds a :class:`matplotlib.figure.Figure` without pyplot: it never changes
the matplotlib backend or pyplot's list of open figures. It returns the Figure and
writes a PNG when given a path; in a notebook, display the returned figure.

Every mark is explained on the figure: a legend under the panels names the regimens (by
colour) and says what lines, points, bands and bars are (which interval, of what). Titles
name the drug in words. Dose times are drawn as markers in a strip under the panels.
Artists carry a ``gid`` ("rate", "parameter band", "trial band", "marks", "observed",
"arm range", "doses", "rule doses", "median", "band") so that what is drawn can be checked
against the dataset it came from.
"""

from __future__ import annotations

import math
import re
import textwrap

import numpy as np
import xarray as xr

from ._errors import PkpdError
from .parallel import compute, is_lazy

# A prediction with fewer output times than this is drawn as points with interval bars:
# lines between a few weeks would draw a trajectory that was never computed.
MIN_CURVE_TIMES = 10
# Dodge step between points that share a time, as a fraction of the time axis.
DODGE = 0.013
BAND_ALPHA = 0.2
KEY_COLOR = "0.35"  # legend entries that explain marks rather than name a regimen
BANDS = {"parameter": ("lower", "upper"), "trial": ("trial_lower", "trial_upper")}
# Words of a model name that say what kind of model it is, not which drug (besides the
# registered endpoint families' prefixes).
_MODEL_KIND_WORDS = {"pk", "pd", "pkpd", "poppk", "model", "1cmt", "2cmt", "tmdd", "turnover"}


# -- time grids ---------------------------------------------------------------------------

def densify_times(times, horizon=None, *, time_unit: str = "day", points: int = 100) -> np.ndarray:
    """Output times (days) for a smooth response figure that still contains ``times``.

    A regular grid from day 0 to ``horizon`` (about ``points`` of them, an even number of
    days apart), joined with ``times``. Predict once on it (``time_unit="day"``, the
    default), then select ``times`` for a table and draw the whole grid with ``marks=``
    at ``times``. A predicted value at a time never depends on the other times asked for
    (the integration mesh follows the doses, not the output times), so the rates and
    parameter intervals at ``times`` are those of a prediction at ``times`` alone.

    Parameters
    ----------
    times : array-like
        The times you want reported, in ``time_unit``, increasing, >= 0.
    horizon : float, optional
        The end of the grid in ``time_unit`` (default: the last of ``times``).
    time_unit : {"day", "week", "hour"}
    points : int
        About how many grid points (at least 2); the step is an even number of days.

    Returns
    -------
    numpy.ndarray of times in days, increasing.

    Examples
    --------
    >>> days = densify_times([12, 28, 52], time_unit="week")
    >>> bool(set([84.0, 196.0, 364.0]) <= set(days)), float(days[1] - days[0]), days.size
    (True, 4.0, 92)
    """
    from . import _units
    from ._checks import increasing_times, number, whole
    days = _units.to_days(increasing_times(times, "times"), time_unit)
    points = whole("points", points, minimum=2, hint=" It is the number of grid points, e.g. 100.")
    if horizon is None:
        end = float(days[-1])
    else:
        end = float(_units.to_days(number("horizon", horizon, minimum=0), time_unit))
        if end < days[-1]:
            raise PkpdError(f"horizon {horizon:g} {time_unit}(s) is before the last time "
                            f"{float(_units.from_days(days[-1], time_unit)):g}; give a horizon at or after it.")
    step = 2.0 * max(1, math.ceil(end / (2 * points)))
    grid = np.arange(0.0, end + 1e-9, step)
    return np.union1d(np.union1d(grid, days), [end])


# -- words --------------------------------------------------------------------------------

def _drug(model_name) -> str:
    """A model name in words for a title: 'ustekinumab_pasi' -> 'Ustekinumab'."""
    from .model import endpoint_families
    kinds = _MODEL_KIND_WORDS | {prefix.lower() for prefix in endpoint_families()}
    words = [w for w in re.split(r"[_\s]+", str(model_name or "")) if w]
    kept = [w for w in words if w.lower() not in kinds] or words
    text = " ".join(kept)
    return text[:1].upper() + text[1:]


def _title(ds_or_name, what: str) -> str:
    name = ds_or_name.attrs.get("model", "") if hasattr(ds_or_name, "attrs") else ds_or_name
    drug = _drug(name)
    return f"{drug}: {what}" if drug else what[:1].upper() + what[1:]


def _family(endpoints) -> str:
    """The endpoints' common prefix ('PASI' for PASI75 and PASI90), or '' if they differ."""
    prefixes = {re.sub(r"\d+$", "", str(e)) for e in endpoints}
    return prefixes.pop() if len(prefixes) == 1 else ""


def _plain(value, _pos=None) -> str:
    """A tick label as a plain decimal number: 0.03, 3, 300 (never 3x10^0)."""
    return np.format_float_positional(float(f"{value:.3g}"), trim="-")


def _wrap(text, width=70) -> str:
    return textwrap.fill(str(text), width)


def _band_labels(ds) -> dict:
    """Bands present in ``ds`` -> (lower, upper, label saying what the interval is)."""
    level = float(ds.attrs.get("level", 0.95))
    out = {}
    draws = f" ({ds.sizes['draw']} draws)" if "draw" in ds.dims else ""
    size = ds.attrs.get("trial_size")
    source = "parameter and structural uncertainty" if "model_averaging" in ds.attrs else "parameter uncertainty"
    labels = {"parameter": f"{level:.0%} interval from {source}{draws}",
              "trial": f"{level:.0%} range observed in a trial arm" + (f" of {size}" if size is not None else "")}
    for band, (lower, upper) in BANDS.items():
        if lower in ds and upper in ds:
            out[band] = (ds[lower], ds[upper], labels[band])
    return out


def _select_bands(ds, bands) -> dict:
    available = _band_labels(ds)
    if bands is None:
        return available
    from ._checks import names as _names
    names = _names("bands", bands, " Allowed: 'parameter', 'trial', or bands=() for none.") if len(
        np.atleast_1d(np.asarray(bands, dtype=object))) else []
    unknown = [b for b in names if b not in BANDS]
    if unknown:
        raise PkpdError(f"Unknown band {unknown[0]!r}; allowed: 'parameter' (lower/upper), 'trial' "
                        "(trial_lower/trial_upper), or bands=() for none.")
    missing = [b for b in names if b not in available]
    if missing:
        how = "n_draws=" if missing[0] == "parameter" else "trial_size="
        raise PkpdError(f"Band {missing[0]!r} is not in the dataset (no {'/'.join(BANDS[missing[0]])}); "
                        f"predict with {how} to get it, or leave it out of bands=.")
    return {b: available[b] for b in names}


def _select_endpoints(ds, endpoints) -> list[str]:
    names = [str(e) for e in ds.endpoint.values]
    if endpoints is None:
        return names
    from ._checks import names as _names
    chosen = _names("endpoints", endpoints, f" The dataset's endpoints: {names}.") if not isinstance(
        endpoints, (list, tuple)) or endpoints else []
    unknown = [e for e in chosen if e not in names]
    if unknown:
        raise PkpdError(f"Endpoint {unknown[0]!r} is not in the dataset; its endpoints: {names}. Give some of "
                        "them, or endpoints=None for all.")
    if not chosen:
        raise PkpdError(f"endpoints is empty; give some of the dataset's endpoints {names}, or endpoints=None for all.")
    return chosen


# -- matplotlib pieces --------------------------------------------------------------------

def _figure(width, height):
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height), layout="constrained")


def _colors(n: int) -> list:
    import matplotlib
    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    return [cycle[i % len(cycle)] for i in range(n)]


def _key(kind: str, label: str, color=KEY_COLOR):
    """A legend handle that explains a kind of mark."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    if kind == "band":
        return Patch(facecolor=color, alpha=BAND_ALPHA + 0.1, edgecolor="none", label=label)
    if kind == "box":
        return Patch(facecolor=color, alpha=0.3, edgecolor=color, label=label)
    styles = {"line": dict(linestyle="-"), "dotted": dict(linestyle=":"), "point": dict(marker="o", linestyle="none"),
              "observed": dict(marker="o", markeredgecolor="black", linestyle="-", linewidth=1),
              "bar": dict(linestyle="-", linewidth=3, alpha=0.5), "capped": dict(marker="_", markersize=9, linewidth=1),
              "mark": dict(marker="o", markerfacecolor="white", linestyle=":"),
              "dose": dict(marker="^", linestyle="none"),
              "rule dose": dict(marker="^", markerfacecolor="white", linestyle="none"),
              "note": dict(linestyle="none")}
    return Line2D([], [], color=color, label=label, **styles[kind])


def _legend(fig, entries, ncol=2) -> None:
    """One legend under the panels (never over the data): regimens first, then the keys."""
    if not entries:
        return
    handles = [h for h, _ in entries]
    labels = [_wrap(text) for _, text in entries]
    fig.legend(handles, labels, loc="outside lower center", ncol=min(ncol, len(entries)), fontsize="small",
               frameon=False, handlelength=2.2)


def _legend_rows(entries, ncol=2) -> int:
    """About how many text lines the legend of ``entries`` takes (to size the figure)."""
    lines = sum(_wrap(text).count("\n") + 1 for _, text in entries)
    return math.ceil(lines / max(1, min(ncol, len(entries))))


def _week_ticks(ax, span) -> None:
    """Week axes tick at whole weeks that clinical reports use (multiples of 4 from 2 months on)."""
    from matplotlib.ticker import MaxNLocator, MultipleLocator
    for limit, step in ((8, 1), (16, 2), (60, 4), (120, 8), (260, 26)):
        if span <= limit:
            ax.xaxis.set_major_locator(MultipleLocator(step))
            return
    ax.xaxis.set_major_locator(MaxNLocator(steps=[1, 2, 5, 10], integer=True))


def _log_ticks(axis, low, high) -> None:
    """Plain-number labels on a log axis; short ranges get labelled minor ticks as well."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    decades = math.log10(high / low)
    axis.set_major_locator(LogLocator(base=10))
    axis.set_major_formatter(FuncFormatter(_plain))
    if decades < 1.2:
        axis.set_minor_locator(LogLocator(base=10, subs=(2, 3, 4, 5, 6, 7, 8, 9)))
        axis.set_minor_formatter(FuncFormatter(_plain))
    elif decades < 2.5:
        axis.set_minor_locator(LogLocator(base=10, subs=(2, 5)))
        axis.set_minor_formatter(FuncFormatter(_plain))
    else:
        axis.set_minor_locator(LogLocator(base=10, subs=tuple(range(2, 10))))
        axis.set_minor_formatter(NullFormatter())


def _nice(value: float, down: bool) -> float:
    """The nearest of 1, 2 and 5 times a power of ten below (or above) ``value``: a labelled limit."""
    power = 10.0 ** math.floor(math.log10(value))
    steps = [power * m for m in (1, 2, 5, 10)]
    return max(x for x in steps if x <= value) if down else min(x for x in steps if x >= value)


def _dodge(n: int, step: float) -> np.ndarray:
    """Offsets of n points sharing one time, centred on it."""
    return (np.arange(n) - (n - 1) / 2.0) * step


def _regimen_doses(text: str, horizon: float) -> tuple[np.ndarray, np.ndarray]:
    """Dose times (days, up to ``horizon``) of a regimen's base and of its rules."""
    from .dosing import parse_regimen
    regimen = parse_regimen(text)
    base = regimen.base.dose_times(horizon)
    ruled = [t for rule in regimen.rules for c in rule.courses for t in c.dose_times(horizon)]
    ruled = np.asarray(ruled, float)
    return base[base <= horizon], ruled[ruled <= horizon]


def _dose_strip(ax, texts, colors, horizon_days, unit) -> list:
    """One row of dose markers per regimen under a panel (times in ``unit``); returns the legend keys it needs."""
    from matplotlib.ticker import NullLocator

    from . import _units
    any_rule = False
    for i, (text, color) in enumerate(zip(texts, colors)):
        base, ruled = (_units.from_days(t, unit) for t in _regimen_doses(text, horizon_days))
        ax.plot(base, np.full(base.size, i), linestyle="none", marker="^", markersize=5, color=color,
                gid="doses", label=str(i))
        if ruled.size:
            any_rule = True
            ax.plot(ruled, np.full(ruled.size, i), linestyle="none", marker="^", markersize=6,
                    markerfacecolor="white", color=color, gid="rule doses", label=str(i))
    ax.set_gid("doses")
    ax.set_ylim(len(texts) - 0.4, -0.6)
    ax.yaxis.set_major_locator(NullLocator())
    ax.set_ylabel("doses", rotation=0, ha="right", va="center", fontsize="small")
    ax.grid(True, axis="x", alpha=0.3)
    keys = [(_key("dose", "dose"), "dose")]
    if any_rule:
        keys.append((_key("rule dose", "dose for the patients a response-guided rule fires for"),
                     "dose for the patients a response-guided rule fires for"))
    return keys


def _check_path(path):
    """Refuse a figure path before drawing: not .png, a folder, or a folder that cannot be written."""
    from pathlib import Path

    from ._io import check_output
    if path is None:
        return None
    if isinstance(path, (str, Path)) and Path(path).suffix.lower() != ".png" and not Path(path).is_dir():
        raise PkpdError(f"Figures are written as PNG; give a path ending in .png, got {str(path)!r}.")
    return check_output(path, {".png": "PNG image"}, "Figure path")


def _save(fig, path) -> None:
    """Write the figure as PNG, whole or not at all."""
    import io

    from ._io import write_atomic
    path = _check_path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    write_atomic(path, buffer.getvalue())


def _finish(fig, path):
    if path is not None:
        _save(fig, path)
    return fig


# -- concentrations -----------------------------------------------------------------------

def _time_unit(days) -> str:
    """A readable time unit for an axis over these days: hours up to 2 days, days up to 4 weeks."""
    span = float(np.max(days) - np.min(days)) if np.size(days) else 0.0
    return "hour" if span <= 2 else "day" if span <= 28 else "week"


def _log_floor(curves) -> float:
    """Lowest concentration worth a log axis: everything after each curve's climb from zero.

    The climb after the first dose starts at 0 (minus infinity on a log axis), so some of
    it is always cut; everything from the curve's first maximum on (troughs, the tail) is
    shown whole. A curve that only climbs is shown down to 1% of its last value.
    """
    lows = []
    for y in curves:
        positive = np.flatnonzero(y > 0)
        if not positive.size:
            continue
        y = y[positive[0]:]
        falls = np.flatnonzero(np.diff(y) < 0)
        after = y[falls[0]:] if falls.size else y[:0]
        after = after[after > 0]
        lows.append(after.min() if after.size else 0.01 * y.max())
    return min(lows)


def plot_concentrations(ds: xr.Dataset, path=None, *, quantiles=(0.05, 0.5, 0.95), log: bool = True,
                        doses: bool = True):
    """Concentrations over time: median and band of the virtual patients, one colour per regimen.

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`pkpd.simulate`: ``concentration`` (regimen, subject, time).
    path : str or Path, optional
        Write the figure there (PNG).
    quantiles : (low, middle, high)
        Quantiles over the virtual patients drawn as band and line (default 5%, 50%, 95%).
    log : bool
        Log concentration axis. Regimens without drug (placebo: all zero) are then left
        out and named in a note; the lower limit shows every trough of the band.
    doses : bool
        Draw each regimen's dose times in a strip under the panel.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_path(path)  # before drawing anything
    from . import _units
    from ._checks import dataset, number
    dataset("ds", ds, ["concentration"], " from pkpd.simulate")
    if not isinstance(quantiles, (tuple, list)) or len(quantiles) != 3:
        raise PkpdError(f"quantiles must be three numbers (low, middle, high), e.g. (0.05, 0.5, 0.95); "
                        f"got {quantiles!r}.")
    lo, mid, hi = (number("quantile", q, above=0, below=1) for q in quantiles)
    if not lo < mid < hi:
        raise PkpdError(f"quantiles must increase, e.g. (0.05, 0.5, 0.95); got {quantiles!r}.")
    conc = ds["concentration"]
    if is_lazy(conc.data):  # a large simulation, chunked over subjects: quantiles need them in memory
        from .pk._simulate import IN_MEMORY_BYTES
        if conc.nbytes > IN_MEMORY_BYTES:
            raise PkpdError(f"This simulation is too large to plot from memory ({conc.sizes['subject']:,} subjects x "
                            f"{conc.sizes['time']:,} times x {conc.sizes['regimen']} regimens, "
                            f"{conc.nbytes / 2 ** 30:.2g} GiB): the quantiles need every subject at once. Plot a "
                            "subset, e.g. plot_concentrations(ds.isel(subject=slice(0, 10_000))).")
        conc = compute(conc)
    n = ds.sizes["subject"]
    names = [str(r) for r in ds.regimen.values]
    colors = _colors(len(names))
    unit = _time_unit(ds.time.values)
    x = _units.from_days(ds.time.values, unit)
    drawn = [i for i, name in enumerate(names) if not log or bool((conc.sel(regimen=name) > 0).any())]
    without = [names[i] for i in range(len(names)) if i not in drawn]
    if not drawn:
        raise PkpdError(f"Every regimen ({', '.join(names)}) has zero concentrations, which a log axis cannot "
                        "show; pass log=False.")
    texts = ([str(ds.regimen_text.sel(regimen=names[i]).item()) for i in drawn]
             if doses and "regimen_text" in ds.coords else None)
    keys = []
    entries = [(_key("line", names[i], colors[i]), names[i]) for i in drawn]
    if n > 1:
        keys += [(_key("line", ""), f"median of {n} virtual patients"),
                 (_key("band", ""), f"{lo:.0%}-{hi:.0%} of {n} virtual patients")]
    if without:
        keys.append((_key("note", ""), f"{', '.join(without)}: no drug (concentration 0), not drawn on the log axis"))
    strip_height = 0.3 + 0.2 * len(drawn) if texts else 0.0
    legend_rows = _legend_rows(entries + keys) + 2
    fig = _figure(8.0, 4.6 + strip_height + 0.2 * legend_rows)
    if texts:
        ax, strip = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [4.6, strip_height]})
    else:
        ax, strip = fig.subplots(), None
    ax.set_gid("concentration")
    curves = []
    for i in drawn:
        c = conc.sel(regimen=names[i])
        q = c.quantile([lo, mid, hi], dim="subject").values
        ax.plot(x, q[1], color=colors[i], label=names[i], gid="median")
        if n > 1:
            ax.fill_between(x, q[0], q[2], color=colors[i], alpha=BAND_ALPHA, linewidth=0, label=names[i], gid="band")
        curves.append(q[0] if n > 1 else q[1])
        curves.append(q[2] if n > 1 else q[1])
    if log:
        ax.set_yscale("log")
        top = max(float(np.nanmax(y)) for y in curves)
        floor = _log_floor(curves[0::2])
        cut = floor < top * 1e-6  # at most six decades: a long washout's tail is cut, and the figure says so
        floor = max(floor, top * 1e-6)
        low, high = _nice(0.95 * floor, down=True), _nice(1.05 * top, down=False)
        if cut:
            keys.append((_key("note", ""), f"concentrations below {_plain(low)} {conc.attrs.get('units', '')} "
                         "not shown"))
        ax.set_ylim(low, high)
        _log_ticks(ax.yaxis, low, high)
    else:
        ax.set_ylim(0, None)
    ax.set_xlim(x[0] - 0.01 * (x[-1] - x[0]), x[-1] + 0.01 * (x[-1] - x[0]))
    if unit == "week":
        _week_ticks(ax, x[-1] - x[0])
    ax.set_ylabel(f"concentration ({conc.attrs.get('units', '')})")
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)
    if strip is not None:
        keys += _dose_strip(strip, texts, [colors[i] for i in drawn], float(ds.time.values[-1]), unit)
        ax.tick_params(labelbottom=False)
        strip.set_xlabel(f"time ({unit}s)")
    else:
        ax.set_xlabel(f"time ({unit}s)")
    if n > 1:
        who = f"median and {lo:.0%}-{hi:.0%} of {n} virtual patients"
    elif ds.attrs.get("population") == "typical":
        weight = float(ds["weight"].values[0]) if "weight" in ds else _reference_weight(ds)
        who = "the typical patient" + (f" ({weight:g} kg)" if weight is not None else "")
    else:
        who = "one virtual patient"
    ax.set_title(_title(ds, f"concentration in serum, {who}"))
    _legend(fig, entries + keys)
    return _finish(fig, path)


def _reference_weight(ds):
    import json
    try:
        return float(json.loads(ds.attrs.get("parameters", "{}"))["reference_weight"])
    except (KeyError, TypeError, ValueError):
        return None


# -- response over time -------------------------------------------------------------------

def _check_marks(ds, marks) -> np.ndarray:
    from ._checks import numbers
    weeks = ds["week"].values
    marks = numbers("marks (weeks)", marks)
    missing = [m for m in marks if not np.any(np.isclose(weeks, m, rtol=0, atol=1e-9))]
    if missing:
        raise PkpdError(f"Week {missing[0]:g} (marks=) is not among the dataset's times; predict on "
                        "pkpd.densify_times(weeks, time_unit='week'), which contains them.")
    return marks


def _observed_table(observed, regimens, endpoints):
    import pandas as pd
    if not isinstance(observed, pd.DataFrame):
        raise PkpdError(f"observed must be a pandas DataFrame with columns regimen, week, endpoint, rate; got "
                        f"{type(observed).__name__}.")
    missing = {"regimen", "week", "endpoint", "rate"} - set(observed.columns)
    if missing:
        raise PkpdError(f"observed lacks columns {sorted(missing)}; it needs regimen, week, endpoint, rate (shares "
                        "0-1) and optionally lower, upper, range_lower, range_upper.")
    unknown = sorted(set(map(str, observed["regimen"])) - set(regimens))
    if unknown:
        raise PkpdError(f"observed regimen {unknown[0]!r} is not in the dataset; its regimens: {regimens}.")
    return observed[observed["endpoint"].isin(endpoints)]


def _response_panels(fig, n_panels, ncols, strip_ratio):
    nrows = math.ceil(n_panels / ncols)
    if strip_ratio:
        grid = fig.add_gridspec(2 * nrows, ncols, height_ratios=[1.0, strip_ratio] * nrows)
    else:
        grid = fig.add_gridspec(nrows, ncols)
    panels, strips = [], []
    for k in range(n_panels):
        r, c = divmod(k, ncols)
        share = dict(sharex=panels[0], sharey=panels[0]) if panels else {}
        ax = fig.add_subplot(grid[2 * r if strip_ratio else r, c], **share)
        panels.append(ax)
        strips.append(fig.add_subplot(grid[2 * r + 1, c], sharex=ax) if strip_ratio else None)
    return panels, strips


def plot_response(ds: xr.Dataset, path=None, *, endpoints=None, bands=None, marks=None, observed=None,
                  observed_label: str = "observed responders with their interval",
                  range_label: str = "range an arm of its size would observe under the model",
                  line_label: str = "predicted rate", doses: bool = True, title: str | None = None):
    """Responder rates over time (weeks), one panel per endpoint, one colour per regimen.

    A dataset with at least ``MIN_CURVE_TIMES`` (10) times is drawn as curves: predict on
    :func:`pkpd.densify_times` and mark the weeks you report with ``marks``. Fewer times
    are drawn as points with interval bars, side by side where regimens share a week,
    since lines between them would show a trajectory that was never computed.

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`pkpd.predict` or :func:`pkpd.response_rates`: ``rate`` (regimen, time,
        endpoint), and optionally ``lower``/``upper`` (parameter uncertainty) and
        ``trial_lower``/``trial_upper`` (trial of n).
    path : str or Path, optional
        Write the figure there (PNG).
    endpoints : list of str, optional
        Panels to draw (default: every endpoint in ``ds``).
    bands : sequence of {"parameter", "trial"}, optional
        Intervals to draw (default: every one in ``ds``; ``()`` for none). Parameter
        uncertainty is a shaded band (bars for points), a trial arm's range dotted lines
        (capped bars for points); the legend says which is which and at what level.
    marks : list of weeks, optional
        Weeks to mark on every curve (the weeks a table reports); they must be in ``ds``.
    observed : pandas.DataFrame, optional
        Observed rates drawn as points with error bars: columns ``regimen``, ``week``,
        ``endpoint``, ``rate`` (share 0-1), optionally ``lower``/``upper`` (their interval)
        and ``range_lower``/``range_upper`` (what an arm of its size would observe under
        the model, drawn as a box behind the point: a visual predictive check).
    observed_label, range_label, line_label : str
        Legend text of the observed points, the boxes and the lines.
    doses : bool
        Draw each regimen's doses in a strip under the panels (rule doses hollow).
    title : str, optional
        Figure title (default: the drug and endpoint family in words).

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_path(path)  # before drawing anything
    from ._checks import dataset
    dataset("ds", ds, ["rate"], " from pkpd.predict or pkpd.response_rates")
    ends = _select_endpoints(ds, endpoints)
    chosen = _select_bands(ds, bands)
    names = [str(r) for r in ds.regimen.values]
    colors = _colors(len(names))
    weeks = ds["week"].values
    curve = weeks.size >= MIN_CURVE_TIMES
    marks = None if marks is None else _check_marks(ds, marks)
    obs = None if observed is None else _observed_table(observed, names, ends)
    horizon_days = float(ds.time.values[-1])
    texts = ([str(ds.regimen_text.sel(regimen=n).item()) for n in names]
             if doses and "regimen_text" in ds.coords else None)

    entries = [(_key("line" if curve else "point", n, colors[i]), n) for i, n in enumerate(names)]
    keys = [(_key("line" if curve else "point", ""), line_label)]
    if "parameter" in chosen:
        keys.append((_key("band" if curve else "bar", ""), chosen["parameter"][2]))
    if "trial" in chosen:
        keys.append((_key("dotted" if curve else "capped", ""), chosen["trial"][2]))
    if marks is not None:
        keys.append((_key("mark", ""), "week " + ", ".join(f"{m:g}" for m in marks) + " (reported)"))
    if obs is not None and len(obs):
        keys.append((_key("observed", ""), observed_label))
        if {"range_lower", "range_upper"} <= set(obs.columns):
            keys.append((_key("box", ""), range_label))

    ncols = 1 if len(ends) == 1 else 2
    nrows = math.ceil(len(ends) / ncols)
    strip_in = 0.25 + 0.16 * len(names) if texts else 0.0
    panel_in = 3.6
    legend_rows = _legend_rows(entries + keys) + 2
    fig = _figure(5.6 * ncols + 0.6, nrows * (panel_in + strip_in) + 0.9 + 0.2 * legend_rows)
    panels, strips = _response_panels(fig, len(ends), ncols, strip_in / panel_in if texts else 0.0)
    low_week, high_week = min(0.0, float(weeks.min())), float(weeks.max())
    if obs is not None and len(obs):
        low_week = min(low_week, float(obs["week"].min()))
        high_week = max(high_week, float(obs["week"].max()))
    span = max(high_week - low_week, 1.0)
    step = DODGE * span
    if not curve or obs is not None:  # room for the points dodged either side of the first and last week
        low_week -= len(names) * step / 2
        high_week += len(names) * step / 2

    for ax, end in zip(panels, ends):
        ax.set_gid(end)
        # points sharing a week (predicted without a curve, observed) are dodged by regimen
        for i, name in enumerate(names):
            rate = 100 * ds.rate.sel(regimen=name, endpoint=end).values
            xs = weeks if curve else weeks + _dodge(len(names), step)[i]  # every regimen has every week
            ax.plot(xs, rate, color=colors[i], linestyle="-" if curve else "none", marker=None if curve else "o",
                    label=name, gid="rate")
            for kind, (lower, upper, _label) in chosen.items():
                lo = 100 * lower.sel(regimen=name, endpoint=end).values
                hi = 100 * upper.sel(regimen=name, endpoint=end).values
                if curve and kind == "parameter":
                    ax.fill_between(weeks, lo, hi, color=colors[i], alpha=BAND_ALPHA, linewidth=0, label=name,
                                    gid="parameter band")
                elif curve:
                    ax.plot(weeks, lo, color=colors[i], linestyle=":", linewidth=0.9, alpha=0.8, label=name,
                            gid="trial band")
                    ax.plot(weeks, hi, color=colors[i], linestyle=":", linewidth=0.9, alpha=0.8, label=name,
                            gid="trial band")
                elif kind == "parameter":
                    ax.vlines(xs, lo, hi, color=colors[i], linewidth=3, alpha=0.5, label=name, gid="parameter band")
                else:
                    ax.vlines(xs, lo, hi, color=colors[i], linewidth=1, label=name, gid="trial band")
                    ax.plot(np.r_[xs, xs], np.r_[lo, hi], linestyle="none", marker="_", markersize=7,
                            color=colors[i], gid="trial band caps")
            if marks is not None:
                at = [int(np.argmin(np.abs(weeks - m))) for m in marks]
                ax.plot(weeks[at], rate[at], linestyle="none", marker="o", markersize=5, markerfacecolor="white",
                        color=colors[i], label=name, gid="marks", zorder=3)
            if obs is not None:
                _draw_observed(ax, obs, names, name, end, colors[i], step)
        if marks is not None:
            for m in marks:
                ax.axvline(m, color=KEY_COLOR, linestyle=":", linewidth=0.8, gid="mark line")
        threshold = ds.threshold.sel(endpoint=end).item() if "threshold" in ds.coords else None
        ax.set_title(f"{end}: at least {100 * threshold:g}% improvement" if threshold is not None else end,
                     fontsize="medium")
        ax.set_ylim(0, 100)
        ax.set_xlim(low_week - 0.02 * span, high_week + 0.02 * span)
        _week_ticks(ax, span)
        ax.grid(True, alpha=0.3)
        ax.set_ylabel("responders (%)")
    strip_keys = []
    for ax, strip in zip(panels, strips):
        if strip is not None:
            strip_keys = _dose_strip(strip, texts, colors, horizon_days, "week")
            ax.tick_params(labelbottom=False)
        (strip if strip is not None else ax).set_xlabel("time (weeks)")
    keys += strip_keys
    family = _family(ends)
    fig.suptitle(title or _title(ds, f"{family + ' ' if family else ''}response over time"))
    _legend(fig, entries + keys)
    return _finish(fig, path)


def _draw_observed(ax, obs, names, name, end, color, step) -> None:
    rows = obs[(obs["regimen"].astype(str) == name) & (obs["endpoint"] == end)]
    if not len(rows):
        return
    here = obs[obs["endpoint"] == end]
    xs = []
    for week in rows["week"].to_numpy(float):
        sharing = [n for n in names if n in set(here.loc[here["week"] == week, "regimen"].astype(str))]
        xs.append(week + _dodge(len(sharing), step)[sharing.index(name)])
    xs = np.asarray(xs)
    y = 100 * rows["rate"].to_numpy(float)
    if {"range_lower", "range_upper"} <= set(rows.columns):
        lo, hi = 100 * rows["range_lower"].to_numpy(float), 100 * rows["range_upper"].to_numpy(float)
        boxes = ax.bar(xs, hi - lo, bottom=lo, width=0.8 * step, color=color, alpha=0.3, edgecolor=color,
                       linewidth=0.8)
        for box in boxes:
            box.set(gid="arm range", label=name)
    err = None
    if {"lower", "upper"} <= set(rows.columns):
        err = np.vstack([y - 100 * rows["lower"].to_numpy(float), 100 * rows["upper"].to_numpy(float) - y])
    container = ax.errorbar(xs, y, yerr=err, fmt="o", color=color, markeredgecolor="black", capsize=3,
                            elinewidth=1, label=name, zorder=4)
    container.lines[0].set(gid="observed", label=name)
    for bars in container.lines[2]:
        bars.set(gid="observed interval", label=name)


def _clopper_pearson(k, n, level=0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Clopper-Pearson) interval of a binomial share k/n."""
    from scipy.stats import beta
    k, n = np.asarray(k, float), np.asarray(n, float)
    a = (1 - level) / 2
    lower = np.where(k > 0, beta.ppf(a, k, n - k + 1), 0.0)
    upper = np.where(k < n, beta.ppf(1 - a, k + 1, n - k), 1.0)
    return lower, upper


def plot_fit(result, path=None):
    """Observed trial rates against the fitted model: a visual predictive check of arm-level rates.

    Lines: the fitted model's rates over weeks 0 to the last observation + 12. Points: the
    observed share of responders with its 95% Clopper-Pearson interval, side by side where
    arms share a week. Boxes: the 95% range an arm of its size would observe under the
    fitted model (the interval of the fit report).

    Parameters
    ----------
    result : FitResult
        A fresh or loaded fit (``pkpd.fit``, ``pkpd.load_fit``).
    path : str or Path, optional
        Write the figure there (PNG).

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_path(path)  # before drawing anything
    from .inference import load_fit
    from .predict import predict
    result = load_fit(result)
    if result.trial is None:
        raise PkpdError("This fit has no trial table (a fit of priors alone): there are no observed rates to draw.")
    table = result.fitted_rates
    obs = table.rename(columns={"arm": "regimen", "observed": "rate", "lower": "range_lower",
                                "upper": "range_upper"})
    obs["lower"], obs["upper"] = _clopper_pearson(table["responders"], table["n"])
    observed_days = result.trial.days  # on the curve, so it passes through the fitted rates
    curve = predict(result, result.trial.regimens,
                    densify_times(observed_days, observed_days[-1] + 84.0, points=150))
    sizes = sorted(set(int(n) for n in table["n"]))
    arm = f"an arm of {sizes[0]}" if len(sizes) == 1 else "an arm of its size"
    trial = result.trial.name or "the trial"
    return plot_response(curve, path, endpoints=list(result.trial.endpoints), observed=obs,
                         observed_label=f"observed responders ({trial}), 95% Clopper-Pearson interval",
                         range_label=f"95% range of responders in {arm} under the fitted model",
                         line_label="fitted model",
                         title=_title(result.model.name, f"{_family(result.trial.endpoints)} response, observed "
                                                         "and fitted"))


# -- dose-response and comparisons --------------------------------------------------------

def _dose_label(schedule) -> str:
    """A dose axis label in words: '{dose} mg SC at week 0' -> 'dose (mg), given SC at week 0'."""
    if not schedule:
        return "dose (mg)"
    text = str(schedule)
    found = re.search(r"\{dose\}\s*(mg/kg|ug/kg|g/kg|mg|ug|g)\b", text, flags=re.I)
    unit = found.group(1) if found else "mg"
    rest = re.fullmatch(r"\s*\{dose\}\s*" + re.escape(unit) + r"\s+(.*?)\s*", text, flags=re.I | re.S)
    if rest and "{dose}" not in rest.group(1):
        return f"dose ({unit}), given {rest.group(1)}"
    return f"dose D ({unit}), given as: {text.replace('{dose}', 'D')}"


def plot_dose_response(ds: xr.Dataset, path=None, *, endpoints=None, bands=None, log=None):
    """Responder rates against dose (``ds`` from :func:`pkpd.dose_response`), with their intervals.

    Parameters
    ----------
    ds : xarray.Dataset
        ``rate`` (dose, time, endpoint) at one time; optionally ``lower``/``upper`` and
        ``trial_lower``/``trial_upper``.
    path : str or Path, optional
        Write the figure there (PNG).
    endpoints : list of str, optional
        Endpoints to draw (default: all in ``ds``).
    bands : sequence of {"parameter", "trial"}, optional
        Intervals to draw (default: every one in ``ds``).
    log : bool, optional
        Log dose axis. Default: when the positive doses span a factor of 10 or more. A
        zero dose then gets its own narrow panel at the left, labelled 0.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_path(path)  # before drawing anything
    from ._checks import dataset
    dataset("ds", ds, ["rate", "dose"], " from pkpd.dose_response")
    ends = _select_endpoints(ds, endpoints)
    chosen = _select_bands(ds, bands)
    doses = np.asarray(ds.dose.values, float)
    positive = doses[doses > 0]
    if log is None:
        log = positive.size >= 2 and positive.max() / positive.min() >= 10
    elif log and positive.size < 1:
        raise PkpdError("A log dose axis needs positive doses; these are all 0. Pass log=False.")
    zero = log and bool(np.any(doses == 0))
    week = float(ds.week.values[0])
    xlabel = _dose_label(ds.attrs.get("schedule"))
    colors = _colors(len(ends))
    entries = [(_key("line", e, colors[k]), e) for k, e in enumerate(ends)]
    keys = [(_key("point", ""), "predicted rate at a computed dose")]
    if "parameter" in chosen:
        keys.append((_key("band", ""), chosen["parameter"][2]))
    if "trial" in chosen:
        keys.append((_key("dotted", ""), chosen["trial"][2]))
    if zero:
        keys.append((_key("note", ""), "0: no drug (left panel; a log axis has no 0)"))
    fig = _figure(7.0, 5.0 + 0.2 * (_legend_rows(entries + keys) + 1))
    if zero:
        left, ax = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1, 9]})
    else:
        left, ax = None, fig.subplots()
    ax.set_gid("dose-response")
    if left is not None:
        left.set_gid("zero dose")
    slots = _dodge(len(ends), 0.35)
    for k, end in enumerate(ends):
        rate = 100 * ds.rate.sel(endpoint=end).isel(time=0).values
        keep = doses > 0 if log else np.ones(doses.size, bool)
        ax.plot(doses[keep], rate[keep], marker="o", color=colors[k], label=end, gid="rate")
        for kind, (lower, upper, _label) in chosen.items():
            lo = 100 * lower.sel(endpoint=end).isel(time=0).values
            hi = 100 * upper.sel(endpoint=end).isel(time=0).values
            if kind == "parameter":
                ax.fill_between(doses[keep], lo[keep], hi[keep], color=colors[k], alpha=BAND_ALPHA, linewidth=0,
                                label=end, gid="parameter band")
            else:
                ax.plot(doses[keep], lo[keep], ":", color=colors[k], linewidth=1, label=end, gid="trial band")
                ax.plot(doses[keep], hi[keep], ":", color=colors[k], linewidth=1, label=end, gid="trial band")
            if zero:  # endpoints side by side at dose 0
                z = doses == 0
                width = 3 if kind == "parameter" else 1
                left.vlines(np.full(z.sum(), slots[k]), lo[z], hi[z], color=colors[k], linewidth=width,
                            alpha=0.5 if kind == "parameter" else 1, label=end, gid=f"{kind} band")
        if zero:
            left.plot(np.full(int((doses == 0).sum()), slots[k]), rate[doses == 0], "o", color=colors[k], label=end,
                      gid="rate")
    if log:
        from matplotlib.ticker import FuncFormatter
        ax.set_xscale("log")
        ax.set_xlim(positive.min() / 1.3, positive.max() * 1.3)
        _log_ticks(ax.xaxis, positive.min() / 1.3, positive.max() * 1.3)
        ax.xaxis.set_major_formatter(FuncFormatter(_plain))
    else:
        ax.set_xlim(min(0.0, doses.min()) - 0.03 * np.ptp(doses), doses.max() * 1.03)
    if zero:
        left.set_xlim(-1, 1)
        left.set_xticks([0])
        left.set_xticklabels(["0"])
        left.spines["right"].set_visible(False)
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", left=False)
        left.set_ylabel(f"responders at week {week:g} (%)")
        left.grid(True, axis="y", alpha=0.3)
    else:
        ax.set_ylabel(f"responders at week {week:g} (%)")
    ax.set_xlabel(xlabel)
    ax.set_ylim(0, 100)
    ax.grid(True, which="major", alpha=0.3)
    family = _family(ends)
    title = _title(ds, f"{family + ' ' if family else ''}response at week {week:g} by dose")
    if left is None:
        ax.set_title(title)
    else:
        fig.suptitle(title)
    _legend(fig, entries + keys)
    return _finish(fig, path)


def plot_comparison(ds: xr.Dataset, path=None, *, week: float, endpoint: str = "PASI75", bands=None):
    """Regimens ranked by their rate at one week, with intervals (a forest plot).

    One row per regimen, best first (the order of :func:`pkpd.compare_regimens`): the
    predicted rate as a point, parameter uncertainty as a thick bar, a trial arm's range
    as a thin capped bar, and the numbers at the right.

    Parameters
    ----------
    ds : xarray.Dataset
        From :func:`pkpd.predict`, with ``week`` among its times.
    path : str or Path, optional
        Write the figure there (PNG).
    week : float
        The week to compare at.
    endpoint : str
        The endpoint to compare (default PASI75).
    bands : sequence of {"parameter", "trial"}, optional
        Intervals to draw (default: every one in ``ds``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_path(path)  # before drawing anything
    from ._checks import dataset
    from .predict import compare_regimens
    dataset("ds", ds, ["rate"], " from pkpd.predict")
    _select_endpoints(ds, [endpoint])
    chosen = _select_bands(ds, bands)
    table = compare_regimens(ds, week, endpoint)
    names = [str(r) for r in ds.regimen.values]
    colors = dict(zip(names, _colors(len(names))))
    rows = len(table)
    y = np.arange(rows)
    keys = [(_key("point", ""), f"predicted {endpoint} rate")]
    if "parameter" in chosen:
        keys.append((_key("bar", ""), chosen["parameter"][2]))
    if "trial" in chosen:
        keys.append((_key("capped", ""), chosen["trial"][2]))
    if chosen:
        keys.append((_key("note", ""), "numbers at the right: rate" + (" (parameter interval)" if "parameter" in chosen
                                                                       else "") + (" [trial range]" if "trial" in
                                                                                   chosen else "")))
    fig = _figure(8.5, 1.6 + 0.42 * rows + 0.2 * (_legend_rows(keys, ncol=1) + 1))
    ax = fig.subplots()
    ax.set_gid("comparison")
    ranked = [str(r) for r in table["regimen"]]
    row_colors = [colors[r] for r in ranked]
    if "parameter" in chosen:
        ax.hlines(y, 100 * table["lower"], 100 * table["upper"], colors=row_colors, linewidth=5, alpha=0.45,
                  gid="parameter band")
    if "trial" in chosen:
        ax.hlines(y, 100 * table["trial_lower"], 100 * table["trial_upper"], colors=row_colors, linewidth=1,
                  gid="trial band")
        ax.plot(np.r_[100 * table["trial_lower"], 100 * table["trial_upper"]], np.r_[y, y], linestyle="none",
                marker="|", markersize=8, color=KEY_COLOR, gid="trial band caps")
    ax.scatter(100 * table["rate"], y, c=row_colors, edgecolors="black", zorder=3, gid="rate")
    ax.set_yticks(y, [_wrap(r, 38) for r in ranked], fontsize="small")
    ax.set_ylim(rows - 0.5, -0.5)
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"{endpoint} responders at week {week:g} (%)")
    ax.grid(True, axis="x", alpha=0.3)
    right = ax.twinx()
    right.set_ylim(ax.get_ylim())
    values = []
    for r in table.itertuples():
        text = f"{100 * r.rate:.0f}%"
        if "parameter" in chosen:
            text += f" ({100 * r.lower:.0f}-{100 * r.upper:.0f})"
        if "trial" in chosen:
            text += f" [{100 * r.trial_lower:.0f}-{100 * r.trial_upper:.0f}]"
        values.append(text)
    right.set_yticks(y, values, fontsize="small")
    right.tick_params(axis="y", length=0)
    right.set_gid("values")
    ax.set_title(_title(ds, f"regimens ranked by {endpoint} at week {week:g}"))
    _legend(fig, keys, ncol=1)
    return _finish(fig, path)
