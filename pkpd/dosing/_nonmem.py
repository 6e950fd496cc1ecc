"""NONMEM-style dosing records (ID, TIME, AMT, EVID, CMT, II, ADDL, RATE, SS) to and from regimens.

Conventions, so that a table from NONMEM, mrgsolve or rxode2 means the same here:

* Column names are case-insensitive (mrgsolve writes ``time``, ``amt``...). ID, TIME,
  AMT, EVID and CMT are required; II, ADDL, RATE and SS default to 0.
* TIME and II are in ``time_unit`` (default days); RATE is mg per ``time_unit``.
* ``compartments`` maps CMT to the route: by default ``{1: "sc", 2: "iv"}``, the
  ADVAN2/ADVAN4 layout (depot = 1, central = 2).
* EVID=1 rows are doses. EVID=0 (observation) and EVID=2 (other-type) rows carry no
  dose and are not part of a regimen; EVID=3/4 (reset) have no regimen meaning here
  and raise.
* RATE=0 is a bolus; RATE>0 an infusion at that rate into the central compartment
  (its duration is AMT/RATE). RATE=-1/-2 (rate or duration modelled in $PK) raise:
  write the rate in the table.
* Bioavailability F applies to SC (depot) doses only; infusions here are IV, with F=1,
  so F never changes an infusion's rate or duration.
* ADDL=k with II: the dose is repeated k more times every II after TIME.
* SS=1 with II: the subject is at steady state at TIME under this dose every II (the
  dose at TIME included), then ADDL continues; the history is simulated as explicit
  earlier doses (see :class:`pkpd.Course`). SS=2 (superposition steady state) raises.
* On export, an infusion given by duration is written with its equivalent RATE, and
  weight-dependent amounts are resolved at each ID's weight.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from .. import _units
from .._errors import PkpdError
from ._objects import Amount, Course, Regimen, infusion_duration

REQUIRED = ("ID", "TIME", "AMT", "EVID", "CMT")
OPTIONAL = ("II", "ADDL", "RATE", "SS")
DEFAULT_COMPARTMENTS = {1: "sc", 2: "iv"}


def _scale(time_unit: str) -> float:
    """Days per unit of TIME and II."""
    return float(_units.to_days(1.0, time_unit))


def read_nonmem(source, time_unit: str = "day",
                compartments: Mapping[int, str] | None = None) -> dict:
    """Read dosing records (a CSV path or a DataFrame) into ``{ID: Regimen}``.

    IDs with no dose rows get a placebo regimen. See the module notes for conventions.
    """
    scale = _scale(time_unit)
    cmts = dict(DEFAULT_COMPARTMENTS if compartments is None else compartments)
    table = source if isinstance(source, pd.DataFrame) else pd.read_csv(source)
    table = table.rename(columns={c: str(c).strip().upper() for c in table.columns})
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise PkpdError(f"Dosing table lacks columns {missing}; required: {list(REQUIRED)}, optional: "
                        f"{list(OPTIONAL)}. Found: {list(table.columns)}.")
    for c in OPTIONAL:
        if c not in table.columns:
            table[c] = 0.0
    out: dict = {}
    last_time: dict = {}
    for pos, row in enumerate(table.itertuples(index=False)):
        line = pos + 2  # the CSV line (header is line 1)
        where = f"Dosing table row {pos + 1} (CSV line {line}, ID {row.ID})"
        values = {c: getattr(row, c) for c in REQUIRED[1:] + OPTIONAL}
        for c, v in values.items():
            if not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(float(v)):
                raise PkpdError(f"{where}: {c} must be a finite number, got {v!r}.")
        out.setdefault(row.ID, [])
        t = float(row.TIME)
        if t < 0:
            raise PkpdError(f"{where}: TIME {t:g} is negative; times count from 0.")
        if t < last_time.get(row.ID, -math.inf):
            raise PkpdError(f"{where}: TIME {t:g} is before the previous record of this ID; sort by ID and TIME.")
        last_time[row.ID] = t
        evid = int(row.EVID)
        if evid in (0, 2):
            continue
        if evid != 1:
            raise PkpdError(f"{where}: EVID {evid} is not supported; allowed: 0 (observation), 1 (dose), "
                            "2 (other). Resets (3, 4) have no regimen meaning.")
        amt = float(row.AMT)
        if amt < 0:
            raise PkpdError(f"{where}: AMT {amt:g} is negative; doses are >= 0 mg.")
        cmt = int(row.CMT)
        if cmt not in cmts:
            raise PkpdError(f"{where}: CMT {cmt} is not a dosing compartment; known: {cmts} "
                            "(pass compartments= to map others).")
        route = cmts[cmt]
        rate = float(row.RATE)
        if rate in (-1.0, -2.0):
            raise PkpdError(f"{where}: RATE {rate:g} (modelled rate/duration) is not supported; give the "
                            "infusion rate in mg per time unit.")
        if rate < 0:
            raise PkpdError(f"{where}: RATE {rate:g} is not allowed; use 0 (bolus) or a rate > 0.")
        fields = dict(amount=Amount(amt), route=route, unit="day" if time_unit != "week" else "week")
        if rate > 0:
            if route != "iv":
                raise PkpdError(f"{where}: an infusion (RATE > 0) into CMT {cmt} ('{route}'); infusions go "
                                "into the central compartment only.")
            fields.update(route="infusion", rate=rate / scale)
        ii, addl, ss = float(row.II), int(row.ADDL), int(row.SS)
        if addl < 0 or ii < 0:
            raise PkpdError(f"{where}: ADDL {addl} and II {ii:g} must be >= 0.")
        if ss not in (0, 1):
            raise PkpdError(f"{where}: SS {ss} is not supported; allowed: 0, or 1 (steady state with II).")
        if (addl > 0 or ss == 1) and ii <= 0:
            raise PkpdError(f"{where}: ADDL/SS need an interval II > 0, got II {ii:g}.")
        try:
            if addl > 0 or ss == 1:
                course = Course(every=ii * scale, start=t * scale, count=addl + 1,
                                steady_state=(ss == 1), **fields)
            else:
                course = Course(times=(t * scale,), **fields)
        except PkpdError as err:
            raise PkpdError(f"{where}: {err}") from None
        out[row.ID].append(course)
    return {k: Regimen(tuple(_merge(v))) for k, v in out.items()}


def _merge(courses: list[Course]) -> list[Course]:
    """Join consecutive single-time courses of the same dose into one course."""
    merged: list[Course] = []
    for c in courses:
        prev = merged[-1] if merged else None
        same = prev is not None and prev.every is None and c.every is None and \
            (prev.amount, prev.route, prev.rate, prev.duration) == (c.amount, c.route, c.rate, c.duration) \
            and c.times[0] > prev.times[-1]
        if same:
            merged[-1] = Course(prev.amount, prev.route, prev.times + c.times, rate=prev.rate,
                                duration=prev.duration, unit=prev.unit)
        else:
            merged.append(c)
    return merged


def write_nonmem(regimens, path=None, weight=None, time_unit: str = "day") -> pd.DataFrame:
    """Write regimens as NONMEM dosing records; returns the table (and writes CSV to ``path``).

    Parameters
    ----------
    regimens : Regimen or {ID: Regimen}
    weight : float or {ID: float}, optional
        Body weight (kg) per ID, needed when an amount is in mg/kg or weight-banded.
    time_unit : {"day", "week", "hour"}
        Unit of TIME and II in the table (RATE is mg per this unit).
    """
    scale = _scale(time_unit)
    if isinstance(regimens, Regimen):
        regimens = {1: regimens}
    rows = []
    for ident, reg in regimens.items():
        if reg.rules:
            raise PkpdError(f"Regimen of ID {ident} ('{reg}') has response-guided rules, which NONMEM dosing "
                            "records cannot hold; export each variant (Regimen.variants()) instead.")
        w = weight.get(ident) if isinstance(weight, Mapping) else weight
        for course in reg.courses:
            if course.amount.depends_on_weight and w is None:
                raise PkpdError(f"Regimen of ID {ident} ('{reg}') depends on body weight; pass weight=.")
            amt = float(course.amount.resolve(w))
            cmt = 1 if course.route == "sc" else 2
            rate = 0.0
            if course.route == "infusion":
                rate = amt / float(infusion_duration(amt, course.rate, course.duration)) * scale
            base = dict(ID=ident, AMT=amt, EVID=1, CMT=cmt, RATE=rate)
            for t in course.times:
                rows.append(dict(base, TIME=t / scale, II=0.0, ADDL=0, SS=0))
            if course.every is not None:
                if course.open_ended:
                    raise PkpdError(f"Regimen of ID {ident} ('{reg}') repeats without end; NONMEM records need "
                                    "ADDL: end the repeat with 'until week N' or 'x N'.")
                n = course.dose_times().size - len(course.times)
                rows.append(dict(base, TIME=course.first_repeat / scale, II=course.every / scale,
                                 ADDL=n - 1, SS=int(course.steady_state)))
    table = pd.DataFrame(rows, columns=["ID", "TIME", "AMT", "EVID", "CMT", "II", "ADDL", "RATE", "SS"])
    table = table.sort_values(["ID", "TIME"], kind="stable").reset_index(drop=True)
    if path is not None:
        table.to_csv(Path(path), index=False)
    return table
