"""Dose tables: every subject's records as arrays, the input of the exposure engines.

A :class:`DoseTable` holds n subjects' records padded to a common length R: each subject
its own times, amounts, compartments, rates, intervals, covariates and output records.
Subjects never need to share dose times; the engines work on the arrays without a
Python loop over subjects. It is built from a regimen (every subject the same records,
amounts resolved at each subject's weight) or from a NONMEM dataset (each individual
its own records, see :func:`pkpd.read_nonmem`).

Records keep the dataset's time unit (so that equal times stay equal, as NONMEM compares
them) and NONMEM's meaning; what they do to the state is resolved by
:mod:`pkpd.pk._events`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import numpy as np

from .. import _units
from .._errors import PkpdError
from ._dataset import Dataset
from ._objects import Regimen, infusion_duration

# Compartment codes of dose records.
DEPOT, CENTRAL, NONE = 0, 1, -1
CODES = {"depot": DEPOT, "central": CENTRAL}


@dataclass(frozen=True, eq=False)
class DoseTable:
    """Records of ``n`` subjects, padded to ``R`` records each (arrays of shape (n, R)).

    Attributes
    ----------
    time : float
        Record time in ``time_unit``.
    evid, amount, compartment, rate, interval, additional, steady_state
        NONMEM's EVID, AMT (mg), CMT as a compartment code (0 depot, 1 central, -1 none),
        RATE (mg per ``time_unit``; -1/-2 modelled), II (``time_unit``), ADDL and SS.
    valid : bool
        False on padding.
    output : bool
        A prediction is wanted after this record (dataset records).
    line : int
        CSV line of the record (-1 for regimens), for messages; ``labels`` the subjects' IDs.
    overrides : {dose parameter: (n, R)}
        Dose parameters given per record, in the table's units; NaN leaves the model's value.
    weight : (n, R) or None
        Body weight (kg) at each record.
    """

    time: np.ndarray
    evid: np.ndarray
    amount: np.ndarray
    compartment: np.ndarray
    rate: np.ndarray
    interval: np.ndarray
    additional: np.ndarray
    steady_state: np.ndarray
    valid: np.ndarray
    output: np.ndarray
    line: np.ndarray
    labels: tuple = ()
    overrides: Mapping[str, np.ndarray] = field(default_factory=dict)
    weight: np.ndarray | None = None
    time_unit: str = "day"

    def __post_init__(self):
        n, r = np.shape(self.time)
        for name in ("evid", "amount", "compartment", "rate", "interval", "additional", "steady_state", "valid",
                     "output", "line"):
            if np.shape(getattr(self, name)) != (n, r):
                raise PkpdError(f"DoseTable.{name} must have shape ({n}, {r}).")
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))
        object.__setattr__(self, "time_unit", _units.time_unit(self.time_unit))

    @property
    def n(self) -> int:
        return int(np.shape(self.time)[0])

    @property
    def days_per_unit(self) -> float:
        return float(_units.to_days(1.0, self.time_unit))

    def where(self, i: int, r: int, column: str | None = None) -> str:
        """Names record r of subject i in messages (ID, CSV line, column)."""
        label = self.labels[i] if i < len(self.labels) else i
        line = int(self.line[i, r])
        text = f"ID {label}" + (f", CSV line {line}" if line >= 0 else f", record {r + 1}")
        return f"{text}, column {column}" if column else text

    # -- builders ---------------------------------------------------------------------------
    @classmethod
    def from_regimen(cls, regimen: Regimen, n: int, weight=None, horizon: float | None = None) -> "DoseTable":
        """The records of ``regimen`` for ``n`` subjects (times in days).

        Explicit dose times are one record each; a repeat is one record with II and
        ADDL (up to ``horizon``, days, for an open-ended one) and SS=1 when it is at
        steady state. Amounts are resolved at each subject's ``weight`` (kg, (n,)).
        Routes: "sc" doses the depot, "iv" the central compartment, "infusion" the
        central compartment at a rate (mg/day; a duration is turned into its rate).
        """
        if regimen.rules:
            raise PkpdError(f"Regimen '{regimen}' has response-guided rules: who gets which doses depends on "
                            "the response. Use pkpd.predict or pkpd.response_rates with a response model; for "
                            "concentrations, simulate a dosing history (Regimen.history({0}): rule 0 fired).")
        records = [record for _, record in course_records(regimen, n, weight, horizon)]
        r = max(len(records), 1)
        shape = (n, r)
        table = dict(time=np.zeros(shape), evid=np.full(shape, 2), amount=np.zeros(shape),
                     compartment=np.full(shape, NONE), rate=np.zeros(shape), interval=np.zeros(shape),
                     additional=np.zeros(shape, dtype=np.int64), steady_state=np.zeros(shape, dtype=np.int64),
                     valid=np.zeros(shape, bool), output=np.zeros(shape, bool), line=np.full(shape, -1))
        if records:
            m = len(records)
            columns = list(zip(*records))
            for name, column in (("time", 0), ("compartment", 2), ("interval", 4), ("additional", 5),
                                 ("steady_state", 6)):
                table[name][:, :m] = np.asarray(columns[column], dtype=table[name].dtype)
            for j in range(m):
                table["amount"][:, j] = columns[1][j]
                table["rate"][:, j] = columns[3][j]
            table["evid"][:, :m] = 1
            table["valid"][:, :m] = True
        w = None if weight is None else np.broadcast_to(np.asarray(weight, float).reshape(-1, 1), shape)
        return cls(**table, labels=tuple(range(n)), weight=w, time_unit="day")

    @classmethod
    def stack(cls, tables) -> "DoseTable":
        """The subjects of several tables (of one time unit, without per-record columns) in one
        table, records padded to the longest with invalid records at each subject's last time."""
        tables = list(tables)
        if len(tables) == 1:
            return tables[0]
        units = {t.time_unit for t in tables}
        if len(units) != 1 or any(t.overrides for t in tables):
            raise PkpdError("Internal error: only tables of one time unit without per-record columns stack.")
        R = max(np.shape(t.time)[1] for t in tables)
        pad = dict(evid=2, amount=0.0, compartment=NONE, rate=0.0, interval=0.0, additional=0, steady_state=0,
                   valid=False, output=False, line=-1)

        def padded(table, name):
            a = np.asarray(getattr(table, name))
            extra = R - a.shape[1]
            if extra == 0:
                return a
            fill = np.repeat(a[:, -1:], extra, axis=1) if name in ("time", "weight") else \
                np.full((a.shape[0], extra), pad[name], dtype=a.dtype)
            return np.concatenate([a, fill], axis=1)
        fields = {name: np.concatenate([padded(t, name) for t in tables]) for name in pad}
        weights = [t.weight for t in tables]
        weight = None
        if any(w is not None for w in weights):
            if any(w is None for w in weights):
                raise PkpdError("Internal error: stacking tables with and without body weights.")
            weight = np.concatenate([padded(t, "weight") for t in tables])
        return cls(time=np.concatenate([padded(t, "time") for t in tables]), **fields,
                   labels=tuple(x for t in tables for x in (t.labels or range(t.n))), weight=weight,
                   time_unit=units.pop())

    @classmethod
    def from_dataset(cls, data: Dataset, individuals, compartments: Mapping[int, str]) -> "DoseTable":
        """The records of some of ``data``'s individuals (indices), padded to the longest.

        ``compartments`` maps CMT numbers of dose records to "depot" or "central" (the
        model's NONMEM numbering unless the dataset gives its own); CMT 0 is CMT 1.
        """
        individuals = np.asarray(individuals, dtype=np.int64)
        starts = np.searchsorted(data.individual, individuals, side="left")
        ends = np.searchsorted(data.individual, individuals, side="right")
        counts = ends - starts
        n, r = individuals.size, int(counts.max())
        col = np.arange(r)
        valid = col[None, :] < counts[:, None]
        index = np.where(valid, starts[:, None] + col[None, :], (ends - 1)[:, None])

        def take(name, dtype=float):
            return np.asarray(data.columns[name], dtype=dtype)[index]

        evid = take("EVID").astype(np.int64)
        evid[~valid] = 2
        cmt = take("CMT").astype(np.int64)
        dose = valid & ((evid == 1) | (evid == 4))
        cmt = np.where(dose & (cmt == 0), 1, cmt)
        code = np.full((n, r), NONE)
        for number, name in compartments.items():
            code[cmt == number] = CODES[name]
        bad = dose & (code == NONE)
        line = np.asarray(data.line)[index]
        labels = tuple(data.columns["ID"][starts])
        if bad.any():
            i, j = map(int, np.argwhere(bad)[0])
            known = ", ".join(f"{k}: {v}" for k, v in sorted(compartments.items()))
            raise PkpdError(f"ID {_label(labels[i])}, CSV line {int(line[i, j])}, column CMT: CMT {int(cmt[i, j])} is "
                            f"not a dosing compartment of this model ({known}). Dose the depot or the central "
                            "compartment, or map CMT numbers with read_nonmem(..., compartments={...}).")
        time = take("TIME")
        # Padding repeats the last record's time, so it adds no time step.
        zero = ~valid
        amount, rate, interval = take("AMT"), take("RATE"), take("II")
        additional, ss = take("ADDL").astype(np.int64), take("SS").astype(np.int64)
        for a in (amount, rate, interval, additional, ss):
            a[zero] = 0
        overrides = {name: np.where(valid, take(column), np.nan) for name, column in data.parameters.items()}
        weight = None
        if data.weight is not None:
            weight = take(data.weight)
        return cls(time=time, evid=evid, amount=amount, compartment=np.where(dose, code, NONE), rate=rate,
                   interval=interval, additional=additional, steady_state=ss, valid=valid, output=valid.copy(),
                   line=np.where(valid, line, -1), labels=tuple(_label(x) for x in labels), overrides=overrides,
                   weight=weight, time_unit=data.time_unit)


def _label(x):
    x = float(x)
    return int(x) if x.is_integer() else x


def course_records(regimen: Regimen, n: int, weight=None, horizon: float | None = None) -> list:
    """The records :meth:`DoseTable.from_regimen` makes of ``regimen``, in their order: (index of
    the course that gives it, (time, amount (a float or (n,)), compartment, rate, interval,
    additional, ss))."""
    records = []
    for index, course in enumerate(regimen.courses):
        # A float, or (n,) where the amount depends on weight.
        amount = course.amount.resolve(weight) if course.amount.depends_on_weight else \
            float(course.amount.resolve())
        compartment = DEPOT if course.route == "sc" else CENTRAL
        rate = 0.0
        if course.route == "infusion":
            rate = amount / infusion_duration(amount, course.rate, course.duration)
        for t in course.times:
            records.append((index, (t, amount, compartment, rate, 0.0, 0, 0)))
        if course.every is not None:
            count = course.repeat_count(horizon)
            if count > 0:
                records.append((index, (course.first_repeat, amount, compartment, rate, course.every, count - 1,
                                int(course.steady_state))))
    records.sort(key=lambda record: record[1][0])  # stable: course order at equal times
    return records
