"""Comparing regimens and doses from a fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .. import _units
from .._checks import dataset, format_number, number, numbers
from .._errors import PkpdError
from ._predict import predict


def compare_regimens(ds: xr.Dataset, week: float, endpoint: str = "PASI75") -> pd.DataFrame:
    """Regimens of a prediction ranked by their rate at ``week`` for ``endpoint``, as a DataFrame."""
    dataset("ds", ds, ["rate"], " from pkpd.predict")
    if not isinstance(endpoint, str):
        raise PkpdError(f"endpoint must be one endpoint name such as 'PASI75', got {endpoint!r}.")
    day = float(_units.to_days(number("week", week), "week"))
    if day not in ds.time.values:
        raise PkpdError(f"Week {week:g} is not among the predicted weeks {[float(w) for w in ds.week.values]}.")
    if endpoint not in ds.endpoint.values:
        raise PkpdError(f"Endpoint {endpoint!r} was not predicted; predicted: {list(ds.endpoint.values)}.")
    sel = dict(time=day, endpoint=endpoint)
    table = pd.DataFrame({"regimen": ds.regimen.values, "rate": ds.rate.sel(**sel).values})
    if "lower" in ds:
        table["lower"], table["upper"] = ds.lower.sel(**sel).values, ds.upper.sel(**sel).values
    if "trial_lower" in ds:
        table["trial_lower"], table["trial_upper"] = ds.trial_lower.sel(**sel).values, ds.trial_upper.sel(**sel).values
    table = table.sort_values("rate", ascending=False, kind="stable").reset_index(drop=True)
    table.index = table.index + 1
    table.index.name = f"rank ({endpoint}, week {week:g})"
    return table


def dose_response(fit, doses, schedule: str = "{dose} mg SC at week 0", week: float = 12, **kwargs) -> xr.Dataset:
    """Rates at ``week`` across doses: ``schedule`` is regimen text with a ``{dose}`` field.

    Returns predict's dataset with the regimen dimension renamed ``dose`` (mg). Other
    keyword arguments go to :func:`pkpd.predict`.
    """
    if not isinstance(schedule, str) or "{dose}" not in schedule:
        raise PkpdError(f"schedule must contain '{{dose}}', e.g. '{{dose}} mg SC at week 0'; got {schedule!r}.")
    doses = [float(d) for d in numbers("Dose (mg)", doses, minimum=0)] if not isinstance(doses, (list, tuple)) or \
        doses else []
    if not doses:
        raise PkpdError("Give at least one dose.")
    # Every digit of a dose is kept (format_number: the shortest text that reads back as the same float).
    regs = {format_number(d): schedule.format(dose=format_number(d)) for d in doses}
    if len(regs) != len(doses):
        raise PkpdError(f"Doses must be distinct, got {doses}.")
    ds = predict(fit, regs, [week], time_unit="week", **kwargs)
    ds.attrs["schedule"] = schedule
    return ds.rename(regimen="dose").assign_coords(dose=("dose", np.asarray(doses), {"units": "mg"}))
