"""Labels every result dataset carries: regimen and time coordinates, and where it came from.

One place, so that simulations, response rates, virtual trials and predictions name the
same coordinates and the same provenance attributes.
"""

from __future__ import annotations

import json

import numpy as np

from . import _units
from ._version import __version__


def regimen_coords(regimens: dict) -> dict:
    """``regimen`` (the names) and ``regimen_text`` (the printed regimens)."""
    return {"regimen": list(regimens), "regimen_text": ("regimen", [str(r) for r in regimens.values()])}


def time_coords(times_days) -> dict:
    """``time`` in days (the dimension) and ``week`` alongside it."""
    t = np.asarray(times_days, float)
    return {"time": ("time", t, {"units": "day"}), "week": ("time", _units.from_days(t, "week"), {"units": "week"})}


def attrs(model, **extra) -> dict:
    """Model name, origin and SHA-256, its parameter values (JSON, internal units), pkpd's version."""
    out = {"model": model.name, "model_file": model.path, "model_sha256": model.sha256,
           "parameters": json.dumps(model.values, sort_keys=True), "pkpd_version": __version__}
    for key, value in extra.items():
        out[key] = "none" if value is None else value
    return out
