"""Figures. matplotlib is imported inside each function, so ``import pkpd`` stays fast and headless."""

from __future__ import annotations

import numpy as np
import xarray as xr


def plot_concentrations(ds: xr.Dataset, path=None, *, quantiles=(0.05, 0.5, 0.95), log=True):
    """Median and 5-95% band of ``ds.concentration`` over time, one line per regimen.

    Returns the matplotlib Figure; writes a PNG when ``path`` is given.
    """
    import matplotlib
    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    lo, mid, hi = quantiles
    fig, ax = plt.subplots(figsize=(8, 5))
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
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig


def plot_response(ds: xr.Dataset, path=None, *, endpoints=("PASI75", "PASI90"), interval=None,
                  observed=None):
    """Responder rates over time (weeks), one panel per endpoint, one line per regimen.

    ``ds`` has ``rate`` (regimen, time, endpoint). ``interval``: optional pair of
    DataArrays (lower, upper) with the same dims, drawn as bands. ``observed``: optional
    DataFrame with columns regimen, week, endpoint, rate (and optionally lower, upper),
    drawn as points with error bars. Returns the Figure; writes a PNG when ``path`` is given.
    """
    import matplotlib
    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    endpoints = [e for e in endpoints if e in ds.endpoint.values]
    fig, axes = plt.subplots(1, len(endpoints), figsize=(5.5 * len(endpoints), 5.5), sharey=True, squeeze=False)
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
    fig.suptitle(f"{ds.attrs.get('model', '')}: PASI response")
    fig.tight_layout()
    bottom = min(0.6, 0.12 + 0.045 * lines / min(2, len(labels)))
    fig.subplots_adjust(bottom=bottom)
    fig.legend(handles, labels, loc="lower center", ncol=min(2, len(labels)), fontsize="small", frameon=False)
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig


def plot_fit(result, path=None):
    """Observed (95% Clopper-Pearson) vs predicted rates of a fit, over weeks 0 to the last observation + 12."""
    from scipy.stats import beta

    from ._predict import predict
    obs = result.fitted_rates.rename(columns={"arm": "regimen", "observed": "rate"})
    k, n = obs["responders"].to_numpy(), obs["n"].to_numpy()
    obs["lower"] = np.where(k > 0, beta.ppf(0.025, k, n - k + 1), 0.0)
    obs["upper"] = np.where(k < n, beta.ppf(0.975, k + 1, n - k), 1.0)
    last = float(obs["week"].max())
    curve = predict(result, result.trial.regimens, np.arange(0.0, last + 12.5, 0.5))
    return plot_response(curve, path, endpoints=tuple(result.trial.endpoints), observed=obs)


def plot_dose_response(ds: xr.Dataset, path=None, *, endpoints=("PASI75", "PASI90")):
    """Rates against dose (``ds`` from :func:`pkpd.dose_response`), with parameter bands if present."""
    import matplotlib
    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    doses = ds.dose.values
    week = float(ds.week.values[0])
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
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
