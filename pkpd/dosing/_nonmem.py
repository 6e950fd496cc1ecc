"""NONMEM datasets in and out: :func:`read_nonmem` and :func:`write_nonmem`.

Reading follows NONMEM's data conventions, so that a file made for NONMEM, mrgsolve or
rxode2 means the same here:

* The first line names the columns (case-insensitive; a leading ``#`` or ``@`` is dropped).
  Later rows whose first non-blank character is in ``ignore`` are comments and are
  skipped (NONMEM's IGNORE=C and IGNORE=#; ``@`` stands for any letter or ``@``, as
  NONMEM's IGNORE=@). The skipped lines are listed in ``Dataset.skipped``.
* ``.`` is NONMEM's missing value: 0 for the data items EVID, AMT, CMT, RATE, II, ADDL,
  SS and MDV (as NONMEM reads it), missing for DV and covariates. A record with MDV 1 has
  no observation: its DV is missing whatever the file holds there (NONMEM ignores it). Any other text in a
  column pkpd reads is an error naming the ID, the row, the CSV line and the column.
* ID and TIME are required. A new block of ID starts a new individual (IDs 1, 2, 1 are
  three individuals); within one, TIME may not decrease. TIME must be >= 0.
* The time unit is never guessed: ``time_unit`` ("hour", "day" or "week") is required; II
  is in the same unit and RATE is mg per that unit. AMT is mg and DV mg/L.
* EVID, CMT, SS, ADDL and MDV must be whole numbers (EVID 1.5 or ADDL 2.7 are errors,
  never truncated). Without an EVID column NONMEM's default holds: a record with AMT > 0
  (and MDV 1 or no MDV) is a dose, the others observations. Without MDV, MDV is 0 on
  observation records and 1 on the others (a DV of '.' on an observation is then unknown,
  e.g. to be simulated).
* EVID 0 observation, 1 dose, 2 other event, 3 reset, 4 reset and dose. Observation,
  other and reset records carry no dose (AMT, RATE, SS, ADDL 0). SS 0, 1 or 2; SS and
  ADDL need II > 0, except the steady-state constant infusion (AMT 0, RATE > 0, II 0,
  SS 1). RATE 0 is a bolus, RATE > 0 an infusion at that rate, -1 and -2 a rate or a
  duration modelled by the model's dose parameters. CMT 0 (or no CMT column) on a dose is
  NONMEM's default dose compartment, CMT 1.
* Covariates: ``WT`` (body weight, kg, > 0) when the file has it (``weight=`` names another
  column), and every column named in ``covariates``; they may change from record to record.
  ``parameters`` maps a model dose parameter to a column giving its value per dose record
  (NONMEM's ``F2 = BIOAV`` is ``{"F_central": "BIOAV"}``); values are in the dataset's units.
* Other columns are kept as written and written back.

The meaning of the records in a simulation (resets, steady state, lag times, F) is in the
README section "Dosing conventions (NONMEM records)" and :mod:`pkpd.pk._events`.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from .. import _units
from .._checks import format_number, mapping, nearest, names as names_of, number, numbers, whole
from .._errors import PkpdError
from ._dataset import ITEMS, Dataset
from ._objects import Regimen, infusion_duration
from ._parser import parse_regimen

COMPARTMENT_NAMES = ("depot", "central")
WHOLE = {"EVID": (0, 4), "CMT": (0, None), "SS": (0, 2), "ADDL": (0, None), "MDV": (0, 1)}


class _Where:
    """Names a record in messages: its ID, its row among the records and its CSV line."""

    def __init__(self, ids: list[str], lines: np.ndarray):
        self.ids, self.lines = ids, lines

    def __call__(self, i: int, column: str | None = None) -> str:
        text = f"ID {self.ids[i]}, row {i + 1} (CSV line {int(self.lines[i])})"
        return f"{text}, column {column}" if column else text


def _is_comment(first: np.ndarray, ignore: str) -> np.ndarray:
    """Rows whose first field starts (after blanks) with an ignore character ('@': also any letter)."""
    lead = pd.Series(first, dtype=object).astype(str).str.lstrip().str[:1]
    out = lead.isin(list(ignore)).to_numpy(bool, copy=True)
    if "@" in ignore:
        out = out | lead.str.isalpha().fillna(False).to_numpy(bool)
    return out


def _read_rows(source, ignore: str):
    """(header, columns of text, CSV line of each row, skipped lines, origin) of a CSV or a DataFrame."""
    if isinstance(source, pd.DataFrame):
        header = [str(c) for c in source.columns]
        lines = np.arange(len(source), dtype=np.int64) + 2  # as in a CSV with a header line
        columns = [source.iloc[:, j].to_numpy() for j in range(source.shape[1])]
        comment = _is_comment(columns[0], ignore) if columns else np.zeros(0, bool)
        return (header, [c[~comment] for c in columns], lines[~comment], tuple(lines[comment].tolist()),
                "a DataFrame")
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise PkpdError(f"NONMEM dataset {str(path)!r} does not exist.") from None
    except UnicodeDecodeError as err:
        raise PkpdError(f"NONMEM dataset {str(path)!r} is not UTF-8 text (byte {err.start}).") from None
    numbered = [(k, line) for k, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not numbered:
        raise PkpdError(f"NONMEM dataset {str(path)!r} is empty.")
    header = next(csv.reader([numbered[0][1].strip().lstrip("#@")]))
    body = numbered[1:]
    comment = _is_comment(np.asarray([line for _, line in body], dtype=object), ignore) if body else np.zeros(0, bool)
    skipped = tuple(k for (k, _), c in zip(body, comment) if c)
    kept = [(k, line) for (k, line), c in zip(body, comment) if not c]
    rows = list(csv.reader([line for _, line in kept]))
    lines = np.asarray([k for k, _ in kept], dtype=np.int64)
    for (line_number, _), fields in zip(kept, rows):
        if len(fields) != len(header):
            raise PkpdError(f"NONMEM dataset {str(path)!r}, CSV line {line_number}: {len(fields)} fields, but the header "
                            f"names {len(header)} columns. Mark comment rows with 'C' or '#' in the first column.")
    columns = [np.asarray([r[j] for r in rows], dtype=object) for j in range(len(header))]
    return header, columns, lines, skipped, str(path)


def _numbers(name: str, values: np.ndarray, where: "_Where", missing_is_zero: bool) -> np.ndarray:
    """Floats of one column; '.' (and an empty field) is NONMEM's missing value."""
    if values.dtype.kind in "iuf":
        x = values.astype(float)
        missing = np.isnan(x)
    else:
        text = pd.Series(values, dtype=object).astype(str).str.strip()
        missing = (text.isin([".", ""]) | pd.isna(pd.Series(values, dtype=object))).to_numpy()
        x = pd.to_numeric(text.where(~missing, "0"), errors="coerce").to_numpy(float)
        bad = np.isnan(x) & ~missing
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise PkpdError(f"{where(i, name)}: {text.iloc[i]!r} is not a number. NONMEM's missing value is '.'; "
                            "comment rows start with 'C' or '#'.")
    bad = ~np.isfinite(x) & ~missing
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise PkpdError(f"{where(i, name)}: {values[i]!r} is not a finite number.")
    return np.where(missing, 0.0 if missing_is_zero else np.nan, x)


def _whole(name: str, values: np.ndarray, where: _Where) -> None:
    low, high = WHOLE[name]
    bad = (values != np.floor(values)) | (values < low) | ((values > high) if high is not None else False)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        allowed = f"{low}..{high}" if high is not None else f">= {low}"
        raise PkpdError(f"{where(i, name)}: {format_number(values[i])} is not allowed; {name} is a whole number "
                        f"({allowed}). Values are never rounded: fix the record.")


def read_nonmem(source, *, time_unit: str | None = None, covariates=(), weight: str = "WT",
                parameters: Mapping[str, str] | None = None, compartments: Mapping[int, str] | None = None,
                ignore: str = "#@C") -> Dataset:
    """Read a NONMEM dataset (a CSV path or a DataFrame) into a :class:`pkpd.dosing.Dataset`.

    Parameters
    ----------
    source : path or pandas.DataFrame
    time_unit : {"hour", "day", "week"}
        Unit of TIME and II (RATE is mg per this unit). Required: NONMEM datasets are
        often in hours, and a wrong unit would silently stretch every interval.
    covariates : sequence of str
        Further columns to keep as covariates (numbers; may change within an individual).
    weight : str
        The column with body weight in kg (default ``"WT"``); used when present.
    parameters : {model parameter: column}, optional
        Columns that give a dose parameter per dose record, in the dataset's units, e.g.
        ``{"F_central": "BIOAV", "tlag_central": "LAGT"}``.
    compartments : {CMT: "depot" or "central"}, optional
        Dosing compartments by CMT number. Default: the model's NONMEM numbering (with a
        depot, CMT 1 depot and 2 central as ADVAN2/4; without, CMT 1 central as ADVAN1/3).
    ignore : str
        First characters of comment rows (``@`` also stands for any letter).

    Returns
    -------
    Dataset

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"ID": [1, 1, 1], "TIME": [0, 0, 24], "AMT": [100, ".", "."],
    ...                       "EVID": [1, 0, 0], "CMT": [1, 2, 2], "DV": [".", ".", 1.2], "WT": [70, 70, 70]})
    >>> data = read_nonmem(table, time_unit="hour")
    >>> data.n_individuals, data.covariates, data["DV"].tolist()
    (1, ('WT',), [nan, nan, 1.2])
    """
    if time_unit is None:
        raise PkpdError("read_nonmem needs time_unit= ('hour', 'day' or 'week'): the unit of TIME and II in the "
                        "file (RATE is mg per that unit). NONMEM datasets are often in hours; pkpd never guesses.")
    unit = _units.time_unit(time_unit)
    if not isinstance(source, (str, os.PathLike, pd.DataFrame)):
        raise PkpdError(f"read_nonmem reads a CSV path or a pandas DataFrame, got {type(source).__name__}.")
    if not isinstance(ignore, str):
        raise PkpdError(f"ignore must be text: the first characters of comment rows, e.g. '#@C'; got {ignore!r}.")
    covariates = names_of("covariates", covariates) if not isinstance(covariates, (list, tuple)) or covariates else []
    if weight is not None and not isinstance(weight, str):
        raise PkpdError(f"weight must name the body-weight column, e.g. 'WT'; got {weight!r}.")
    parameters = mapping("parameters", parameters, " Give {model parameter: column}, e.g. {'F_central': 'BIOAV'}.")
    header, rows, lines, skipped, origin = _read_rows(source, ignore)  # rows: one array per column
    names = [h.strip().upper() for h in header]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise PkpdError(f"NONMEM dataset {origin}: columns {dupes} appear twice.")
    text = dict(zip(names, rows))
    for required in ("ID", "TIME"):
        if required not in text:
            raise PkpdError(f"NONMEM dataset {origin} has no {required} column; columns: {names}. Required: ID, "
                            f"TIME; read when present: {list(ITEMS[2:])}, covariates and dose-parameter columns.")
    if not lines.size:
        raise PkpdError(f"NONMEM dataset {origin} has no records.")
    ids_text = pd.Series(text["ID"], dtype=object).astype(str).str.strip().tolist()
    where = _Where(ids_text, lines)
    cols: dict[str, np.ndarray] = {"ID": _numbers("ID", text["ID"], where, False)}
    if np.isnan(cols["ID"]).any():
        i = int(np.flatnonzero(np.isnan(cols["ID"]))[0])
        raise PkpdError(f"{where(i, 'ID')}: ID is missing ('.'); every record belongs to an ID.")
    time = _numbers("TIME", text["TIME"], where, False)
    if np.isnan(time).any():
        i = int(np.flatnonzero(np.isnan(time))[0])
        raise PkpdError(f"{where(i, 'TIME')}: TIME is missing ('.'); every record has a time.")
    cols["TIME"] = time
    for name in ("AMT", "CMT", "RATE", "II", "ADDL", "SS"):
        cols[name] = _numbers(name, text[name], where, True) if name in text else np.zeros(lines.size)
    cols["DV"] = _numbers("DV", text["DV"], where, False) if "DV" in text else np.full(lines.size, np.nan)
    mdv = _numbers("MDV", text["MDV"], where, True) if "MDV" in text else None
    if mdv is not None:
        _whole("MDV", mdv, where)
    if "EVID" in text:
        evid = _numbers("EVID", text["EVID"], where, True)
    else:  # NONMEM's default: a record with an amount is a dose unless MDV says it is observed
        dose = (cols["AMT"] > 0) & (mdv != 0 if mdv is not None else True)
        evid = np.where(dose, 1.0, np.where(mdv == 1, 2.0, 0.0) if mdv is not None else 0.0)
    cols["EVID"] = evid
    for name in ("EVID", "CMT", "SS", "ADDL"):
        _whole(name, cols[name], where)
    if mdv is None:  # NONMEM: observation records are observed (MDV 0), others not
        mdv = np.where(evid == 0, 0.0, 1.0)
    cols["MDV"] = mdv
    # NONMEM ignores DV where MDV is 1: no observation there (a written file may hold 0).
    cols["DV"] = np.where(mdv == 1, np.nan, cols["DV"])
    _check_records(cols, where)
    days = float(_units.to_days(1.0, unit))
    with np.errstate(over="ignore"):
        for name, value in (("TIME", cols["TIME"] * days), ("II", cols["II"] * days), ("RATE", cols["RATE"] / days)):
            huge = ~np.isfinite(value)
            if huge.any():
                i = int(np.flatnonzero(huge)[0])
                raise PkpdError(f"{where(i, name)}: {format_number(cols[name][i])} is too large to convert to days "
                                "(it overflows a float); check the value and time_unit.")

    individual = np.cumsum(np.r_[False, cols["ID"][1:] != cols["ID"][:-1]]).astype(np.int64)
    back = np.flatnonzero((np.diff(time) < 0) & (individual[1:] == individual[:-1]))
    if back.size:
        i = int(back[0]) + 1
        raise PkpdError(f"{where(i, 'TIME')}: TIME {format_number(time[i])} is before the previous record of this "
                        f"ID ({format_number(time[i - 1])}); sort each ID block by TIME (a new block of the same ID "
                        "would be a new individual).")
    negative = np.flatnonzero(time < 0)
    if negative.size:
        i = int(negative[0])
        raise PkpdError(f"{where(i, 'TIME')}: TIME {format_number(time[i])} is negative; times count from 0.")

    covs = []
    weight_col = str(weight).strip().upper() if weight else None
    if weight_col and weight_col in text:
        covs.append(weight_col)
    for c in covariates:
        c = str(c).strip().upper()
        if c not in text:
            raise PkpdError(f"Covariate column {c!r} is not in the dataset; columns: {names}." + nearest(c, names))
        if c in ITEMS:
            raise PkpdError(f"{c!r} is a NONMEM data item, not a covariate.")
        if c not in covs:
            covs.append(c)
    for c in covs:
        cols[c] = _numbers(c, text[c], where, False)
    if weight_col in covs:
        w = cols[weight_col]
        bad = np.isnan(w) | (w <= 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise PkpdError(f"{where(i, weight_col)}: body weight {str(text[weight_col][i]).strip()!r} is not allowed; "
                            "it must be a number of kg > 0 on every record.")
    params = {}
    for name, column in parameters.items():
        if not isinstance(name, str) or not isinstance(column, str):
            raise PkpdError(f"parameters maps model parameter names to column names (text), got {name!r}: {column!r}.")
        column = column.strip().upper()
        if column not in text:
            raise PkpdError(f"Column {column!r} (for parameter {name!r}) is not in the dataset; columns: {names}."
                            + nearest(column, names))
        if column not in cols:
            cols[column] = _numbers(column, text[column], where, False)
        bad = cols[column] < 0
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise PkpdError(f"{where(i, column)}: {format_number(cols[column][i])} is negative; it gives parameter "
                            f"{name!r}, which is >= 0.")
        params[str(name)] = column
    if compartments is not None:
        compartments = _compartments(compartments)
    used = set(cols)
    extra = tuple(n for n in names if n not in used)
    for n in extra:
        cols[n] = np.asarray([v if isinstance(v, str) else _text(np.asarray([v]))[0] for v in text[n]], dtype=object)
    order = tuple(ITEMS) + tuple(n for n in names if n not in ITEMS)
    return Dataset(cols, individual, lines, unit, tuple(covs), weight_col if weight_col in covs else None,
                   params, compartments, extra, order, skipped, origin)


def _compartments(given: Mapping[int, str]) -> dict[int, str]:
    out = {}
    for cmt, name in mapping("compartments", given, " Give {CMT: 'depot' or 'central'}, e.g. {2: 'central'}.").items():
        cmt = whole("compartments: CMT", cmt, minimum=1)
        if not isinstance(name, str) or name not in COMPARTMENT_NAMES:
            raise PkpdError(f"compartments: CMT {cmt} -> {name!r}; dosing compartments are {list(COMPARTMENT_NAMES)}."
                            + nearest(str(name), COMPARTMENT_NAMES))
        out[int(cmt)] = name
    return out


def _check_records(c: dict, where: _Where) -> None:
    """Refuse records NONMEM would refuse, naming the first bad one."""
    evid, amt, rate, ii, addl, ss = c["EVID"], c["AMT"], c["RATE"], c["II"], c["ADDL"], c["SS"]

    def first(mask, column, message):
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            raise PkpdError(f"{where(i, column)}: {message(i)}")

    first(amt < 0, "AMT", lambda i: f"AMT {format_number(amt[i])} is negative; doses are amounts >= 0 mg.")
    first((rate < 0) & (rate != -1) & (rate != -2), "RATE",
          lambda i: f"RATE {format_number(rate[i])} is not allowed; use 0 (bolus), a rate > 0 (mg per time unit), "
                    "-1 (rate modelled by the rate_* parameter) or -2 (duration modelled by duration_*).")
    first(ii < 0, "II", lambda i: f"II {format_number(ii[i])} is negative; the dosing interval is > 0.")
    dose = (evid == 1) | (evid == 4)
    for column, values in (("AMT", amt), ("RATE", rate), ("SS", ss), ("ADDL", addl), ("II", ii)):
        first(~dose & (values != 0), column,
              lambda i, column=column, values=values: f"EVID {int(evid[i])} ("
              f"{ {0: 'observation', 2: 'other event', 3: 'reset'}[int(evid[i])]}) carries no dose, but {column} "
              f"is {format_number(values[i])}. Make it a dose (EVID 1 or 4) or set {column} to 0.")
    constant = dose & (ss == 1) & (amt == 0) & (rate > 0) & (ii == 0)
    first(constant & (addl > 0), "ADDL", lambda i: "a steady-state constant infusion (AMT 0, RATE > 0, II 0, SS 1) "
          "takes no ADDL (NONMEM's rule): its infusion ends at the record.")
    first(dose & (ss > 0) & (ii == 0) & ~constant, "II",
          lambda i: f"SS {int(ss[i])} needs the dosing interval II > 0 (only SS 1 with AMT 0 and RATE > 0 may have "
                    "II 0: a steady-state constant infusion).")
    first(dose & (addl > 0) & (ii == 0), "II", lambda i: f"ADDL {int(addl[i])} needs the interval II > 0.")
    first(dose & (amt == 0) & (rate > 0) & ~constant, "AMT",
          lambda i: "AMT 0 with RATE > 0 is only allowed as a steady-state constant infusion (SS 1, II 0).")
    first(dose & (amt == 0) & (rate < 0), "AMT",
          lambda i: f"AMT 0 with RATE {int(rate[i])} (modelled infusion) gives nothing to infuse.")


# -- writing ------------------------------------------------------------------------------

def dataset_from_regimens(regimens, weight=None, time_unit: str = "day", times=None) -> Dataset:
    """A dataset with the dose records of ``regimens`` (a Regimen or {ID: Regimen}).

    ``weight`` (kg, one value or {ID: kg}) resolves weight-based amounts and becomes the WT
    column; ``times`` (days) adds observation records (EVID 0, no DV yet) for every ID.
    Compartments follow NONMEM's ADVAN2/4 numbering (CMT 1 depot for SC doses, CMT 2
    central for IV doses and infusions; observations CMT 2). An infusion given by duration
    is written with its rate; a course at steady state is an SS=1 record.
    """
    unit = _units.time_unit(time_unit)
    if isinstance(regimens, (Regimen, str)):
        regimens = {1: regimens}
    if not isinstance(regimens, Mapping) or not regimens:
        raise PkpdError(f"write_nonmem writes a Dataset, a regimen, or {{ID: regimen}} (IDs 1, 2, ...); got "
                        f"{regimens!r}.")
    if isinstance(weight, Mapping):
        weight = {k: float(numbers(f"weight of ID {k} (kg)", v, above=0)[0]) for k, v in weight.items()}
    elif weight is not None:
        if isinstance(weight, str) or np.ndim(weight) != 0:
            raise PkpdError(f"weight must be one number (kg) or {{ID: kg}}, got {weight!r}.")
        weight = number("weight (kg)", weight, above=0)
    if times is not None:
        times = numbers("times (days)", times, minimum=0)
    rows = []
    for ident, reg in regimens.items():
        if isinstance(reg, str):
            reg = parse_regimen(reg)
        if not isinstance(reg, Regimen):
            raise PkpdError(f"ID {ident}: expected a Regimen or regimen text, got {type(reg).__name__}.")
        if reg.rules:
            raise PkpdError(f"Regimen of ID {ident} ('{reg}') has response-guided rules, which NONMEM records "
                            "cannot hold; export a dosing history instead (Regimen.history({0}): rule 0 fired).")
        w = weight.get(ident) if isinstance(weight, Mapping) else weight
        own = []
        for course in reg.courses:
            if course.amount.depends_on_weight and w is None:
                raise PkpdError(f"Regimen of ID {ident} ('{reg}') depends on body weight; pass weight=.")
            amt = float(course.amount.resolve(w))
            cmt = 1 if course.route == "sc" else 2
            rate = 0.0
            if course.route == "infusion":
                rate = amt / float(infusion_duration(amt, course.rate, course.duration)) / _units.from_days(1.0, unit)
            base = dict(ID=ident, AMT=amt, EVID=1, CMT=cmt, RATE=rate, DV=np.nan, MDV=1)
            for t in course.times:
                own.append(dict(base, TIME=_units.from_days(t, unit), II=0.0, ADDL=0, SS=0))
            if course.every is not None:
                if course.open_ended:
                    raise PkpdError(f"Regimen of ID {ident} ('{reg}') repeats without end; NONMEM records need "
                                    "ADDL: end the repeat with 'until week N' or 'x N'.")
                n = course.repeat_count()
                own.append(dict(base, TIME=_units.from_days(course.first_repeat, unit),
                                II=_units.from_days(course.every, unit), ADDL=n - 1, SS=int(course.steady_state)))
        for t in ([] if times is None else np.atleast_1d(np.asarray(times, float))):
            own.append(dict(ID=ident, TIME=_units.from_days(float(t), unit), EVID=0, AMT=0.0, CMT=2,
                            RATE=0.0, II=0.0, ADDL=0, SS=0, DV=np.nan, MDV=0))
        # Doses before observations at the same time (the prediction includes the dose).
        own.sort(key=lambda r: (r["TIME"], r["EVID"] == 0))
        if w is not None:
            for r in own:
                r["WT"] = float(w)
        rows += own
    for ident in regimens:
        if isinstance(ident, bool) or not isinstance(ident, (int, float, np.integer, np.floating)):
            raise PkpdError(f"NONMEM IDs are numbers; got ID {ident!r}. Key the regimens by 1, 2, ...")
    if not rows:
        raise PkpdError("No records to write: give at least one regimen with a dose, or observation times.")
    table = pd.DataFrame(rows, columns=list(ITEMS) + (["WT"] if "WT" in rows[0] else []))
    return read_nonmem(table.astype(float), time_unit=unit, compartments={1: "depot", 2: "central"})


def _text(values: np.ndarray) -> list[str]:
    out = []
    for v in values:
        if isinstance(v, str):
            out.append(v)
        elif v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(".")
        else:
            out.append(format_number(float(v)))
    return out


def write_nonmem(data, path=None, *, time_unit: str | None = None, weight=None, times=None) -> pd.DataFrame:
    """Write NONMEM records: a :class:`Dataset`, or regimens as dose records.

    The CSV has ``ID, TIME, EVID, AMT, CMT, RATE, II, ADDL, SS, DV, MDV``, then covariates
    and the other columns of the dataset, so that NONMEM ($INPUT with these names),
    mrgsolve and rxode2 read it. Numbers keep every digit; a missing DV on a record
    without an observation (MDV 1) is written as 0, other missing values as NONMEM's ``.``.

    Parameters
    ----------
    data : Dataset, Regimen or {ID: Regimen}
    path : path, optional
        Write the CSV there (whole or not at all).
    time_unit : {"hour", "day", "week"}, optional
        Unit of TIME and II in the file (RATE is mg per this unit). Default: the dataset's
        own, or days for regimens.
    weight : float or {ID: float}, optional
        Regimens only: body weight (kg) per ID, for weight-based amounts (written as WT).
    times : array-like, optional
        Regimens only: observation times (days) to add as EVID 0 records.

    Returns
    -------
    pandas.DataFrame
        The records as written (text).
    """
    if path is not None:
        from .._io import check_output
        path = check_output(path, {".csv": "NONMEM records (CSV)"}, "write_nonmem path")
    if not isinstance(data, Dataset):
        data = dataset_from_regimens(data, weight=weight, time_unit=time_unit or "day", times=times)
    elif weight is not None or times is not None:
        raise PkpdError("weight= and times= apply to regimens; a Dataset carries its own WT and records.")
    unit = _units.time_unit(time_unit or data.time_unit)
    factor = _units.to_days(1.0, data.time_unit) / _units.to_days(1.0, unit)  # file unit per new unit
    cols = {name: np.asarray(data.columns[name]) for name in data.order}
    if unit != data.time_unit:
        cols["TIME"] = cols["TIME"] * factor
        cols["II"] = cols["II"] * factor
        rate = cols["RATE"]
        cols["RATE"] = np.where(rate > 0, rate / factor, rate)
        from ..model._registry import PK_SPECS  # columns giving a lag, duration or rate change with the unit
        for name, column in data.parameters.items():
            internal = PK_SPECS[name].unit if name in PK_SPECS else "1"
            power = 1 if internal == "day" else -1 if internal.endswith("/day") else 0
            cols[column] = cols[column] * factor ** power
    dv = np.asarray(cols["DV"], float)
    cols["DV"] = np.where(np.isnan(dv) & (cols["MDV"] == 1), 0.0, dv)
    table = pd.DataFrame({name: _text(values) for name, values in cols.items()})
    if path is not None:
        from .._io import write_atomic
        write_atomic(path, table.to_csv(index=False).encode("utf-8"))
    return table
