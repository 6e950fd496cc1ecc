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
