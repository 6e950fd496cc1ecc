"""Figures. matplotlib is imported inside each function, so ``import pkpd`` stays fast and headless.

Each function builds a :class:`matplotlib.figure.Figure` without pyplot: it never changes
the matplotlib backend or pyplot's list of open figures. It returns the Figure and
writes a PNG when given a path; in a notebook, display the returned figure.
"""

from __future__ import annotations

import numpy as np
import xarray as xr


def _save(fig, path) -> None:
    """Write the figure as PNG, whole or not at all."""
    import io
    from pathlib import Path

    from ._errors import PkpdError
    from ._io import write_atomic
    if Path(path).suffix.lower() != ".png":
        raise PkpdError(f"Figures are written as PNG; give a path ending in .png, got {str(path)!r}.")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    write_atomic(Path(path), buffer.getvalue())


def plot_concentrations(ds: xr.Dataset, path=None, *, quantiles=(0.05, 0.5, 0.95), log=True):
    """Median and 5-95% band of ``ds.concentration`` over time, one line per regimen.

    Returns the matplotlib Figure; writes a PNG when ``path`` is given.
    """
    from matplotlib.figure import Figure

    lo, mid, hi = quantiles
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    weeks = ds["week"].values
    for name in ds.regimen.values:
        c = ds.concentration.sel(regimen=name)
        q = c.quantile([lo, mid, hi], dim="subject").values
        line, = ax.plot(weeks, q[1], label=str(name))
        if ds.sizes["subject"] > 1:
            ax.fill_between(weeks, q[0], q[2], color=line.get_color(), alpha=0.15, linewidth=0)
    if log:
        ax.set_yscale("log")
        positive = ds.concentration.values[ds.concentration.values > 0]
        if positive.size:
            ax.set_ylim(max(positive.min(), np.nanmax(positive) * 1e-3), None)
    ax.set_xlabel("time (weeks)")
    ax.set_ylabel(f"concentration ({ds.concentration.attrs.get('units', '')})")
    n = ds.sizes["subject"]
    ax.set_title(f"{ds.attrs.get('model', '')}: median" + (f" and {lo:.0%}-{hi:.0%} of {n} virtual patients"
                                                           if n > 1 else " (typical patient)"))
    ax.legend(fontsize="small")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    if path is not None:
        _save(fig, path)
    return fig


def plot_response(ds: xr.Dataset, path=None, *, endpoints=None, interval=None,
                  observed=None):
    """Responder rates over time (weeks), one panel per endpoint, one line per regimen.

    ``ds`` has ``rate`` (regimen, time, endpoint). ``interval``: optional pair of
    DataArrays (lower, upper) with the same dims, drawn as bands. ``observed``: optional
    DataFrame with columns regimen, week, endpoint, rate (and optionally lower, upper),
    drawn as points with error bars. Returns the Figure; writes a PNG when ``path`` is given.
    """
    from matplotlib.figure import Figure

    if endpoints is None:  # the two middle endpoints of the family: PASI75 and PASI90 of PASI50-100
        names = list(ds.endpoint.values)
        endpoints = names[1:3] if len(names) >= 3 else names
    endpoints = [e for e in endpoints if e in ds.endpoint.values]
    fig = Figure(figsize=(5.5 * len(endpoints), 5.5))
    axes = fig.subplots(1, len(endpoints), sharey=True, squeeze=False)
    weeks = ds["week"].values
    for ax, end in zip(axes[0], endpoints):
        for name in ds.regimen.values:
            rate = ds.rate.sel(regimen=name, endpoint=end).values * 100
            line, = ax.plot(weeks, rate, label=str(name))
            if interval is not None:
                lo, hi = (x.sel(regimen=name, endpoint=end).values * 100 for x in interval)
                ax.fill_between(weeks, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
            if observed is not None:
                obs = observed[(observed["regimen"] == name) & (observed["endpoint"] == end)]
                if len(obs):
                    err = None
                    if {"lower", "upper"} <= set(obs.columns):
                        err = [100 * (obs["rate"] - obs["lower"]), 100 * (obs["upper"] - obs["rate"])]
                    ax.errorbar(obs["week"], 100 * obs["rate"], yerr=err, fmt="o", color=line.get_color(),
                                capsize=3)
        ax.set_title(end)
        ax.set_xlabel("time (weeks)")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("responders (%)")
    axes[0][0].set_ylim(0, 100)
    # Regimen names can be whole prescriptions: a wrapped legend under the panels.
    import textwrap
    handles, labels = axes[0][0].get_legend_handles_labels()
    labels = [textwrap.fill(label, 60) for label in labels]
    lines = sum(label.count("\n") + 1 for label in labels)
    fig.suptitle(f"{ds.attrs.get('model', '')}: response")
    fig.tight_layout()
    bottom = min(0.6, 0.12 + 0.045 * lines / min(2, len(labels)))
    fig.subplots_adjust(bottom=bottom)
    fig.legend(handles, labels, loc="lower center", ncol=min(2, len(labels)), fontsize="small", frameon=False)
    if path is not None:
        _save(fig, path)
    return fig


def plot_fit(result, path=None):
    """Observed (95% Clopper-Pearson) vs predicted rates of a fit, over weeks 0 to the last observation + 12."""
    from scipy.stats import beta

    from .predict import predict
    obs = result.fitted_rates.rename(columns={"arm": "regimen", "observed": "rate"})
    k, n = obs["responders"].to_numpy(), obs["n"].to_numpy()
    obs["lower"] = np.where(k > 0, beta.ppf(0.025, k, n - k + 1), 0.0)
    obs["upper"] = np.where(k < n, beta.ppf(0.975, k + 1, n - k), 1.0)
    last = float(obs["week"].max())
    curve = predict(result, result.trial.regimens, np.arange(0.0, last + 12.5, 0.5), time_unit="week")
    return plot_response(curve, path, endpoints=tuple(result.trial.endpoints), observed=obs)


def plot_dose_response(ds: xr.Dataset, path=None, *, endpoints=None):
    """Rates against dose (``ds`` from :func:`pkpd.dose_response`), with parameter bands if present."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4.5))
    ax = fig.subplots()
    doses = ds.dose.values
    week = float(ds.week.values[0])
    if endpoints is None:
        names = list(ds.endpoint.values)
        endpoints = names[1:3] if len(names) >= 3 else names
    for end in [e for e in endpoints if e in ds.endpoint.values]:
        rate = ds.rate.sel(endpoint=end).isel(time=0).values * 100
        line, = ax.plot(doses, rate, marker="o", label=end)
        if "lower" in ds:
            ax.fill_between(doses, ds.lower.sel(endpoint=end).isel(time=0) * 100,
                            ds.upper.sel(endpoint=end).isel(time=0) * 100, color=line.get_color(), alpha=0.15,
                            linewidth=0)
    schedule = ds.attrs.get("schedule")
    ax.set_xlabel(f"dose (mg), schedule: {schedule}" if schedule else "dose (mg)")
    ax.set_ylabel(f"responders at week {week:g} (%)")
    ax.set_ylim(0, 100)
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title(f"{ds.attrs.get('model', '')}: dose-response")
    fig.tight_layout()
    if path is not None:
        _save(fig, path)
    return fig
