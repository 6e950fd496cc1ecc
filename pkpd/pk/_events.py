r"""From dose records to what happens to the state, when: NONMEM's event semantics.

:func:`resolve` turns a :class:`pkpd.dosing.DoseTable` and the subjects' dose parameters
into :class:`Events`: per subject, in processing order, the times at which a bolus
arrives, an infusion rate changes, the state is reset or a steady state is entered, and
where each output falls among them. Everything is vectorised over subjects (a sort of
all events at once); subjects need not share times. The engines (closed form and ODE)
then only propagate the state.

Conventions (NONMEM's; the README lists them with their sources):

* Records are processed in data order. Events a record schedules for later (additional
  doses, doses arriving after a lag, infusion ends) happen at their time, *before* any
  record at that same time, so an observation at the time of an additional dose sees it.
* A dose record (EVID 1, or 4 after its reset) gives AMT at TIME, arriving in its
  compartment at TIME + lag (the compartment's ``tlag``/``tlag_central``). ADDL=k repeats
  it k times every II, each the same dose. F scales the amount; for an infusion with a
  RATE in the data (or a modelled rate, RATE -1) the rate is kept and the duration
  becomes F*AMT/RATE; with a modelled duration (RATE -2) the duration is kept and the
  rate becomes F*AMT/D.
* A reset (EVID 3, EVID 4, and every SS=1 dose) sets the state back to its initial
  value and cancels what earlier records scheduled and has not happened yet (additional
  doses, lagged arrivals, infusions in progress).
* Steady state (SS=1 after its reset, SS=2 on top of the current state): the state the
  subject would be in at TIME after implied doses at TIME - k*II (k = 1, 2, ...). The
  implied doses arrive with lag min(ALAG, II), i.e. TIME is at phase max(II - ALAG, 0) of
  the dosing cycle (with ALAG >= II NONMEM takes the state just after an arrival). The
  record's own dose then arrives at TIME + ALAG, and its ADDL doses follow. Implied
  infusions still running at TIME go on and end at TIME - k*II + ALAG + D. A steady
  state of a constant infusion (AMT 0, RATE > 0, II 0) sets the state and the infusion
  ends at the record (NONMEM's rule).
* The output after a record includes that record's own events (a bolus with no lag, a
  reset, a steady state). Outputs on a grid (regimens) include everything at or before
  their time.
* Parameters that change from record to record (time-varying covariates) hold from the
  previous record up to a record (NONMEM advances the state to a record with that
  record's parameters); dose parameters (F, lag, modelled rate or duration) are those
  of the dose record.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .. import _units
from .._budget import check_doses, check_memory
from .._errors import PkpdError
from ..dosing._tables import CENTRAL, DEPOT, DoseTable

# Kinds of steady state.
SS_BOLUS, SS_INFUSION, SS_CONSTANT = 0, 1, 2
N_DOSED = 2  # compartments doses can go into: depot (0) and central (1)


@dataclass(frozen=True)
class SteadyStates:
    """Steady states to compute (one per SS record), arrays of shape (m,)."""

    subject: np.ndarray
    record: np.ndarray      # the record whose parameters the steady state uses
    compartment: np.ndarray
    amount: np.ndarray      # mg per dose (F applied); boluses
    rate: np.ndarray        # mg/day; infusions
    duration: np.ndarray    # days; infusions
    interval: np.ndarray    # days
    phase: np.ndarray       # days since the last implied arrival
    kind: np.ndarray        # SS_BOLUS, SS_INFUSION or SS_CONSTANT
    add: np.ndarray         # True for SS=2 (added to the current state)
    table: DoseTable | None = None

    @property
    def m(self) -> int:
        return int(self.subject.size)

    def where(self, i: int) -> str:
        """The record of steady state i, for messages (ID and CSV line)."""
        return self.table.where(int(self.subject[i]), int(self.record[i]))


@dataclass(frozen=True)
class Events:
    """What happens to each subject's state, in processing order (arrays (n, J)).

    ``bolus`` and ``rate`` (n, J, 2) are the amount (mg) added to and the change of the
    infusion rate (mg/day) into (depot, central); ``reset`` resets the state before the
    rest of the event; ``ss`` indexes ``steady`` (-1: none); ``record`` is the record whose
    parameters hold on the step that ends at the event; ``same_rows``: every subject has the
    first one's events and outputs (they were resolved once and copied). Outputs: ``out_time`` (n, K) in
    days, ``out_record`` (n, K) the record whose parameters hold there, and
    :attr:`out_position` (n, K), the number of events applied before each output. With
    output times common to all subjects, ``event_slot`` (n, J) is the first output after
    each event (K: none) and ``out_position`` is derived from it when asked for.
    """

    time: np.ndarray
    bolus: np.ndarray
    rate: np.ndarray
    reset: np.ndarray
    ss: np.ndarray
    record: np.ndarray
    steady: SteadyStates
    out_time: np.ndarray
    out_record: np.ndarray
    positions: np.ndarray | None = None
    event_slot: np.ndarray | None = None
    same_rows: bool = False  # every subject's events are the first's (one pattern, copied)
    origin: tuple | None = None  # (events, index): these are the rows ``index`` of those (patterns, copied)

    @property
    def n(self) -> int:
        return int(self.time.shape[0])

    def patterns(self) -> tuple["Events", np.ndarray | None]:
        """(distinct, index): events with fewer subjects whose rows ``index`` are these subjects'
        (they were copied from those), or (self, None). Work that treats each subject on its own
        can be done on the distinct ones and its result taken."""
        if self.origin is not None:
            return self.origin
        if self.same_rows and self.n > 1:
            return self.rows(slice(0, 1)), np.zeros(self.n, dtype=np.int64)
        return self, None

    @cached_property
    def out_position(self) -> np.ndarray:
        if self.positions is not None:
            return self.positions
        n, K = self.out_time.shape
        counts = np.zeros((n, K + 1), dtype=np.int64)
        np.add.at(counts, (np.repeat(np.arange(n), self.event_slot.shape[1]), self.event_slot.ravel()), 1)
        # Padding events (repeats of the last time) are no-ops; counting them is harmless.
        return np.cumsum(counts, axis=1)[:, :K]

    def rows(self, rows: slice) -> "Events":
        """The events of subjects ``rows`` (a slice)."""
        index = np.arange(self.n)[rows]
        st = self.steady
        keep = np.isin(st.subject, index)
        renumber = np.cumsum(keep) - 1
        steady = SteadyStates(**{f: getattr(st, f)[keep] for f in (
            "subject", "record", "compartment", "amount", "rate", "duration", "interval", "phase", "kind", "add")},
            table=st.table)
        steady = dataclasses.replace(steady, subject=steady.subject - index[0]) if index.size else steady
        ss = self.ss[rows]
        if st.m:
            ss = np.where(ss >= 0, renumber[np.maximum(ss, 0)], -1)
        return Events(time=self.time[rows], bolus=self.bolus[rows], rate=self.rate[rows], reset=self.reset[rows],
                      ss=ss, record=self.record[rows], steady=steady,
                      out_time=self.out_time[rows], out_record=self.out_record[rows],
                      positions=None if self.positions is None else self.positions[rows],
                      event_slot=None if self.event_slot is None else self.event_slot[rows], same_rows=self.same_rows,
                      origin=None if self.origin is None else (self.origin[0], self.origin[1][rows]))

    def take(self, index, table: DoseTable | None = None) -> "Events":
        """The events of subjects ``index`` (repeats allowed), each with its own copy of its steady
        states; ``table`` (the records of the subjects taken, for messages) replaces the steady
        states' table when given. Taking one subject for all gives events with ``same_rows``."""
        index = np.asarray(index, dtype=np.int64)
        n = index.size
        st = self.steady
        if n and not st.m and np.all(index == index[0]):  # one subject for all: read-only views of its rows
            i = int(index[0])

            def copies(a):
                return None if a is None else np.broadcast_to(a[i:i + 1], (n,) + a.shape[1:])
            steady = dataclasses.replace(st, table=st.table if table is None else table)
            return Events(time=copies(self.time), bolus=copies(self.bolus), rate=copies(self.rate),
                          reset=copies(self.reset), ss=copies(self.ss), record=copies(self.record), steady=steady,
                          out_time=copies(self.out_time), out_record=copies(self.out_record),
                          positions=copies(self.positions), event_slot=copies(self.event_slot), same_rows=True)
        ss = self.ss[index]
        if st.m:
            per = np.bincount(st.subject, minlength=self.n)
            begin = np.cumsum(per) - per
            count = per[index]
            own = np.cumsum(count) - count  # where subject i's copies start
            pick = np.repeat(begin[index] - own, count) + np.arange(int(count.sum()))
            steady = SteadyStates(subject=np.repeat(np.arange(n), count), record=st.record[pick],
                                  compartment=st.compartment[pick], amount=st.amount[pick], rate=st.rate[pick],
                                  duration=st.duration[pick], interval=st.interval[pick], phase=st.phase[pick],
                                  kind=st.kind[pick], add=st.add[pick], table=st.table if table is None else table)
            ss = np.where(ss >= 0, ss - begin[index][:, None] + own[:, None], -1)
        else:
            steady = dataclasses.replace(st, table=st.table if table is None else table)
        source, where = self.patterns()
        origin = (source, index if where is None else where[index]) if source.n < n else None
        if origin is not None and not st.m:
            return _Copies.of(origin, steady, self.same_rows or bool(n and np.all(index == index[0])))
        return Events(time=self.time[index], bolus=self.bolus[index], rate=self.rate[index],
                      reset=self.reset[index], ss=ss, record=self.record[index], steady=steady,
                      out_time=self.out_time[index], out_record=self.out_record[index],
                      positions=None if self.positions is None else self.positions[index],
                      event_slot=None if self.event_slot is None else self.event_slot[index],
                      same_rows=self.same_rows or bool(n and np.all(index == index[0])), origin=origin)

    @property
    def shared_clock(self) -> bool:
        """Every subject has its events and outputs at the same times and positions."""
        return bool(np.all(self.time == self.time[:1]) and np.all(self.out_time == self.out_time[:1])
                    and np.all(self.out_position == self.out_position[:1]))


_PER_SUBJECT = ("time", "bolus", "rate", "reset", "ss", "record", "out_time", "out_record", "positions", "event_slot")


def _copied(name: str) -> property:
    """A field of :class:`_Copies`: the patterns' rows, taken when first read (or as given)."""
    def get(self):
        values = self.__dict__
        if name not in values:
            source, index = self.origin
            field = getattr(source, name)
            values[name] = None if field is None else field[index]
        return values[name]

    def put(self, value):  # dataclasses.replace builds a new one with every field given
        self.__dict__[name] = value
    return property(get, put)


class _Copies(Events):
    """:class:`Events` whose subjects are copies of a few patterns (``origin``: the patterns and
    the pattern of each subject), without steady states. Work per subject is done on the
    patterns (:meth:`Events.patterns`; the mesh kernel's inputs, breakpoints), so the per-subject
    arrays are taken from them only if something reads them."""

    @classmethod
    def of(cls, origin: tuple, steady: SteadyStates, same_rows: bool) -> "_Copies":
        out = object.__new__(cls)
        for name, value in (("origin", origin), ("steady", steady), ("same_rows", same_rows)):
            object.__setattr__(out, name, value)
        return out

    @property
    def n(self) -> int:
        return int(self.origin[1].size)


for _name in _PER_SUBJECT:
    setattr(_Copies, _name, _copied(_name))


def _column(v) -> np.ndarray:
    """A value per subject (n,) as a column (n, 1); scalars and (n, R) arrays as they are."""
    v = np.asarray(v, float)
    return v[:, None] if v.ndim == 1 else v


def _by_compartment(values: dict, compartment: np.ndarray) -> np.ndarray:
    return np.where(compartment == DEPOT, values["depot"], values["central"])


def resolve(table: DoseTable, dose: dict, grid: np.ndarray | None = None, varying: bool = False) -> Events:
    """Resolve ``table`` into :class:`Events` (see :func:`_resolve`), once per distinct subject.

    Subjects with the same records and dose parameters have the same events (all patients
    of a regimen given in mg, without variability in F or lag): they are resolved once and
    the result is copied to each of them.
    """
    n, R = table.time.shape
    if n < 2:
        return _resolve(table, dose, grid, varying)
    columns = [table.time, table.evid, table.amount, table.compartment, table.rate, table.interval, table.additional,
               table.steady_state, table.valid, table.output]
    columns += [_column(v) for what in dose.values() for v in what.values()]
    columns += list(table.overrides.values())
    if all(same_rows(c, n) for c in columns):  # one pattern, the usual regimen: no key to build
        first, inverse = np.zeros(1, np.int64), np.zeros(n, np.int64)
    else:
        columns[10:] = [np.broadcast_to(c, (n, R)) for c in columns[10:]]
        key = np.concatenate([np.asarray(c, float).reshape(n, R) for c in columns], axis=1)
        finite = np.isfinite(key)  # non-finite entries (NaN: no model value) as a code beside a 0
        key = np.concatenate([np.where(finite, key, 0.0), np.where(finite, 0.0, np.where(np.isnan(key), 1.0,
                                                                                          np.sign(key) * 2))], axis=1)
        first, inverse = _patterns(key)
        if first.size == n or not np.array_equal(key, key[first][inverse]):
            return _resolve(table, dose, grid, varying)
    labels = tuple(table.labels[i] if i < len(table.labels) else i for i in first)
    small = DoseTable(**{name: getattr(table, name)[first] for name in (
        "time", "evid", "amount", "compartment", "rate", "interval", "additional", "steady_state", "valid", "output",
        "line")}, labels=labels, overrides={k: v[first] for k, v in table.overrides.items()},
        weight=None if table.weight is None else table.weight[first], time_unit=table.time_unit)
    small_dose = {what: {role: (v[first] if np.ndim(v) >= 1 and np.shape(v)[0] == n else v)
                         for role, v in by_role.items()} for what, by_role in dose.items()}
    return _resolve(small, small_dose, grid, varying).take(inverse, table)


def same_rows(column, n: int) -> bool:
    """Whether every subject's row of ``column`` (a number, (1, ...) or (n, ...)) is the first's,
    NaN equal to NaN."""
    c = np.asarray(column)
    if c.ndim == 0 or c.shape[0] == 1:
        return True
    same = c == c[:1]
    if c.dtype.kind == "f":
        same |= np.isnan(c) & np.isnan(c[:1])
    return bool(same.all())


def _patterns(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of ``key``: (index of each one's first row, in row order; pattern of each
    row). Rows are grouped by a random projection computed column by column (elementwise, so
    equal rows project equally; np.unique over rows is slow); the caller checks the grouping."""
    weights = np.random.default_rng(0).standard_normal(key.shape[1])
    projection = np.zeros(key.shape[0])
    for j in range(key.shape[1]):
        projection += key[:, j] * weights[j]
    _, first, inverse = np.unique(projection, return_index=True, return_inverse=True)
    order = np.argsort(first)  # patterns in the order of their first row (errors name the first)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return first[order], rank[inverse.ravel()]


def _resolve(table: DoseTable, dose: dict, grid: np.ndarray | None = None, varying: bool = False) -> Events:
    """Resolve ``table`` into :class:`Events`.

    Parameters
    ----------
    table : DoseTable
    dose : {"F", "lag", "rate", "duration"} -> {"depot", "central"} -> array (n, R) or (n, 1)
        Each subject's dose parameters at each record, internal units (lag and duration
        in days, rate in mg/day); NaN where the model gives none. Per-record columns of
        the table (``table.overrides``) replace them.
    grid : array (K,), optional
        Output times (days) common to all subjects; without it the outputs are the
        table's output records.
    varying : bool
        Parameters change from record to record: find the record in force at each grid time.
    """
    n, R = table.time.shape
    dpu = table.days_per_unit
    unit = table.time_unit

    def per_record(name: str) -> np.ndarray:
        values = {role: np.broadcast_to(_column(v), (n, R)) for role, v in dose[name].items()}
        out = _by_compartment(values, table.compartment)
        if name in ("lag", "duration"):
            out = _units.from_days(out, unit)
        elif name == "rate":
            out = out * dpu  # mg/day -> mg per table unit
        role_names = OVERRIDES[name]
        for role, pname in role_names.items():
            given = table.overrides.get(pname)
            if given is not None:
                use = (table.compartment == (DEPOT if role == "depot" else CENTRAL)) & ~np.isnan(given)
                out = np.where(use, given, out)
        return out

    valid, evid, ss = table.valid, table.evid, table.steady_state
    t, ii, addl = table.time, table.interval, table.additional
    is_dose = valid & ((evid == 1) | (evid == 4))
    F, lag = per_record("F"), per_record("lag")
    amount = table.amount * F
    rate_col = table.rate
    constant = is_dose & (ss == 1) & (table.amount == 0) & (rate_col > 0) & (ii == 0)
    modelled_rate = is_dose & (rate_col == -1)
    modelled_duration = is_dose & (rate_col == -2)
    r_model = per_record("rate") if modelled_rate.any() else np.full((n, R), np.nan)
    d_model = per_record("duration") if modelled_duration.any() else np.full((n, R), np.nan)
    for mask, values, what in ((modelled_rate, r_model, "rate"), (modelled_duration, d_model, "duration")):
        bad = mask & ~(values > 0)
        if bad.any():
            i, r = map(int, np.argwhere(bad)[0])
            role = "depot" if table.compartment[i, r] == DEPOT else "central"
            raise PkpdError(f"{table.where(i, r, 'RATE')}: RATE {int(rate_col[i, r])} asks for the modelled {what} of "
                            f"doses into the {role} compartment, but the model gives no {what}_{role} > 0 "
                            f"(got {values[i, r]!r}); add it to the model's [parameters] or give it per record.")
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(rate_col > 0, rate_col, np.where(modelled_rate, r_model, amount / d_model))
        duration = np.where(modelled_duration, d_model, amount / rate)
    infusion = is_dose & (rate_col != 0) & ~constant
    bad = infusion & ~(np.isfinite(duration) & (duration >= 0))
    if bad.any():
        i, r = map(int, np.argwhere(bad)[0])
        raise PkpdError(f"{table.where(i, r, 'RATE')}: the infusion's duration is {duration[i, r]!r}; check AMT, "
                        "RATE and the bioavailability.")
    bad = is_dose & ~((F >= 0) & np.isfinite(F))
    if bad.any():
        i, r = map(int, np.argwhere(bad)[0])
        raise PkpdError(f"{table.where(i, r)}: bioavailability F = {F[i, r]!r}; it must be a number >= 0.")
    bad = is_dose & ~((lag >= 0) & np.isfinite(lag))
    if bad.any():
        i, r = map(int, np.argwhere(bad)[0])
        raise PkpdError(f"{table.where(i, r)}: lag time = {lag[i, r]!r}; it must be a number >= 0.")
    # A zero-length infusion (F = 0) gives nothing; it has no start or end.
    infusion &= duration > 0
    bolus_dose = is_dose & (rate_col == 0)

    parts = []  # flat event arrays: subject, time, cls, seq, sub, kind fields

    def add(subject, time, cls, seq, sub, bolus_cmt=None, bolus_amt=None, rate_cmt=None, rate_delta=None,
            record=False):
        m = subject.size
        parts.append(dict(
            subject=subject, time=time, cls=np.broadcast_to(cls, (m,)), seq=seq, sub=np.broadcast_to(sub, (m,)),
            bolus_cmt=np.full(m, -1) if bolus_cmt is None else bolus_cmt,
            bolus_amt=np.zeros(m) if bolus_amt is None else bolus_amt,
            rate_cmt=np.full(m, -1) if rate_cmt is None else rate_cmt,
            rate_delta=np.zeros(m) if rate_delta is None else rate_delta,
            record=np.broadcast_to(record, (m,))))

    # Transient doses: TIME + k*II + lag for k = 0..ADDL (SS constant infusions give none). Additional
    # doses arriving after a subject's last output change no output: they are left out, so ADDL=10^9
    # costs what the doses up to the last output cost.
    giving = (bolus_dose | infusion) & ~constant
    si, sr = np.nonzero(giving)
    counts = addl[si, sr] + 1
    if si.size:
        if grid is not None:
            last_out = np.full(n, float(_units.from_days(np.max(grid), unit)) if np.size(grid) else 0.0)
        else:
            last_out = np.where(table.output, t, -np.inf).max(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            reach = np.floor((last_out[si] - t[si, sr] - lag[si, sr]) / ii[si, sr])
        reach = np.where((ii[si, sr] > 0) & np.isfinite(reach), np.maximum(reach, 0), counts - 1)
        counts = np.minimum(counts, reach + 1).astype(np.int64)
        per_subject = np.bincount(si, weights=counts, minlength=n)
        worst = int(np.argmax(per_subject))
        check_doses(per_subject[worst], f"{table.where(worst, int(sr[si == worst][0]))}: the records of this subject",
                    "Check ADDL and II (ADDL counts additional doses, II their interval in the file's time unit).")
        # About a dozen float arrays (subject, event) once resolved; an infusion is two events.
        check_memory(n * (2 * per_subject[worst] + R) * 12 * 8, f"The dosing events of {n} subjects",
                     "Simulate fewer subjects or a shorter time at once.")
    di = np.repeat(np.arange(si.size), counts)
    k = np.arange(di.size) - np.repeat(np.cumsum(counts) - counts, counts)
    ds, dr = si[di], sr[di]
    arrive = t[ds, dr] + k * ii[ds, dr] + lag[ds, dr]
    own = (k == 0) & (lag[ds, dr] == 0)  # arrives with its record
    cls = np.where(own, 1, 0)
    cmt = table.compartment[ds, dr]
    b = bolus_dose[ds, dr]
    add(ds[b], arrive[b], cls[b], dr[b], 1, bolus_cmt=cmt[b], bolus_amt=amount[ds, dr][b])
    f = ~b
    add(ds[f], arrive[f], cls[f], dr[f], 1, rate_cmt=cmt[f], rate_delta=rate[ds, dr][f])
    add(ds[f], arrive[f] + duration[ds, dr][f], 0, dr[f], 1, rate_cmt=cmt[f], rate_delta=-rate[ds, dr][f])

    # Steady states, and the implied infusions still running at the record.
    steady_rec = is_dose & (ss > 0)
    qi, qr = np.nonzero(steady_rec)
    m = qi.size
    ss_index = np.full((n, R), -1)
    ss_index[qi, qr] = np.arange(m)
    q_ii = ii[qi, qr]
    q_lag = lag[qi, qr]
    phase = q_ii - np.minimum(q_lag, q_ii)
    q_inf = infusion[qi, qr]
    q_dur = duration[qi, qr]
    with np.errstate(divide="ignore", invalid="ignore"):
        running = np.where(q_inf & (q_dur > phase), np.ceil((q_dur - phase) / q_ii), 0)
    if m and running.max() > 1:
        i = int(np.argmax(running))
        check_doses(running[i], f"{table.where(int(qi[i]), int(qr[i]))}: the steady-state infusion (duration "
                    f"{q_dur[i]:g}, II {q_ii[i]:g})", "Its infusions overlap that many times; check RATE and II.")
    running = running.astype(np.int64)
    record_rate = np.zeros((n, R))
    record_rate[qi, qr] = running * np.where(q_inf, rate[qi, qr], 0.0)
    ri = np.repeat(np.arange(m), running)
    kk = np.arange(ri.size) - np.repeat(np.cumsum(running) - running, running) + 1
    ends = t[qi, qr][ri] - kk * q_ii[ri] + q_lag[ri] + q_dur[ri]
    add(qi[ri], ends, 0, qr[ri], 1, rate_cmt=table.compartment[qi, qr][ri], rate_delta=-rate[qi, qr][ri])
    kind = np.where(constant[qi, qr], SS_CONSTANT, np.where(q_inf, SS_INFUSION, SS_BOLUS))
    q_rate = np.where(kind == SS_CONSTANT, rate_col[qi, qr], np.where(q_inf, rate[qi, qr], 0.0))
    steady = SteadyStates(
        subject=qi, record=qr, compartment=table.compartment[qi, qr], amount=np.where(kind == SS_BOLUS,
                                                                                      amount[qi, qr], 0.0),
        rate=q_rate / dpu, duration=_units.to_days(np.where(q_inf, q_dur, 0.0), unit),
        interval=_units.to_days(q_ii, unit), phase=_units.to_days(phase, unit), kind=kind, add=ss[qi, qr] == 2,
        table=table)

    # Every record is an event: its reset, its steady state and the running implied infusions.
    vi, vr = np.nonzero(valid)
    rcmt = np.where(record_rate[vi, vr] != 0, table.compartment[vi, vr], -1)
    add(vi, t[vi, vr], 1, vr, 0, rate_cmt=rcmt, rate_delta=record_rate[vi, vr], record=True)

    flat = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    order = np.lexsort((flat["sub"], flat["seq"], flat["cls"], flat["time"], flat["subject"]))
    flat = {key: v[order] for key, v in flat.items()}
    subject, seq, is_record = flat["subject"], flat["seq"], flat["record"]
    is_reset = is_record & (((evid == 3) | (evid == 4) | (is_dose & (ss == 1)))[subject, seq] & valid[subject, seq])

    # A reset cancels what earlier records scheduled: keep an event only if no reset lies
    # between its record and itself.
    start = np.searchsorted(subject, np.arange(n), side="left")
    cs = np.concatenate([[0], np.cumsum(is_reset)])  # cs[q]: resets before sorted position q
    epoch = cs[1:] - cs[start][subject]
    record_pos = np.zeros((n, R), dtype=np.int64)
    record_pos[subject[is_record], seq[is_record]] = np.flatnonzero(is_record)
    keep = epoch == epoch[record_pos[subject, seq]]
    flat = {key: v[keep] for key, v in flat.items()}
    subject, seq, is_record = flat["subject"], flat["seq"], flat["record"]
    is_reset = is_reset[keep]

    count = np.bincount(subject, minlength=n)
    J = max(int(count.max()) if subject.size else 0, 1)
    first = np.cumsum(count) - count
    pos = np.arange(subject.size) - first[subject]
    time_days = _units.to_days(flat["time"], unit)

    ev_time = np.zeros((n, J))
    ev_time[subject, pos] = time_days
    # Padding repeats a subject's last event time: no step, no change.
    last = np.where(count > 0, ev_time[np.arange(n), np.maximum(count - 1, 0)], 0.0)
    pad = np.arange(J)[None, :] >= count[:, None]
    ev_time = np.where(pad, last[:, None], ev_time)
    bolus = np.zeros((n, J, N_DOSED))
    sel = flat["bolus_cmt"] >= 0
    np.add.at(bolus, (subject[sel], pos[sel], flat["bolus_cmt"][sel]), flat["bolus_amt"][sel])
    rate_change = np.zeros((n, J, N_DOSED))
    sel = flat["rate_cmt"] >= 0
    np.add.at(rate_change, (subject[sel], pos[sel], flat["rate_cmt"][sel]),
              flat["rate_delta"][sel] / dpu)  # mg per table unit -> mg/day
    reset = np.zeros((n, J), bool)
    reset[subject, pos] = is_reset
    ss_at = np.full((n, J), -1)
    ss_at[subject[is_record], pos[is_record]] = ss_index[subject[is_record], seq[is_record]]

    # The record whose parameters hold on the step ending at each event: the next record
    # at or after it (NONMEM advances to a record with that record's parameters).
    rec_padded = np.full((n, J), R, dtype=np.int64)
    rec_padded[subject[is_record], pos[is_record]] = seq[is_record]
    next_record = np.flip(np.minimum.accumulate(np.flip(rec_padded, axis=1), axis=1), axis=1)
    last_record = np.maximum(np.where(valid, np.arange(R)[None, :], -1).max(axis=1), 0)
    next_record = np.where(next_record == R, last_record[:, None], next_record)

    if grid is None:
        outputs = table.output
        oi, orr = np.nonzero(outputs)
        K = int(outputs.sum(axis=1).max()) if oi.size else 0
        after = np.zeros((n, R), dtype=np.int64)
        own = is_record | (flat["cls"] == 1)
        np.maximum.at(after, (subject[own], seq[own]), pos[own] + 1)
        ocount = outputs.sum(axis=1)
        opos = np.arange(oi.size) - (np.cumsum(ocount) - ocount)[oi]
        # Padding outputs sit after everything, at the subject's last time: they add no step.
        width = max(K, 1)
        out_position = np.broadcast_to(count[:, None], (n, width)).copy()
        out_time = np.zeros((n, width))
        out_record = np.broadcast_to(last_record[:, None], (n, width)).copy()
        out_position[oi, opos] = after[oi, orr]
        out_time[oi, opos] = _units.to_days(t[oi, orr], unit)
        out_record[oi, opos] = orr
        real = np.arange(width)[None, :] < ocount[:, None]
        latest = np.maximum(np.where(real, out_time, -np.inf).max(axis=1), ev_time[:, -1])
        out_time = np.where(real, out_time, latest[:, None])
    else:
        grid = np.asarray(grid, float)
        K = grid.size
        slot = np.searchsorted(grid, ev_time, side="left")  # first output at or after each event
        out_time = np.broadcast_to(grid, (n, K))
        if varying:  # the record in force at a grid time: the first record at or after it (else the last)
            before = np.zeros((n, K + 1), dtype=np.int64)
            ri, rr = np.nonzero(valid)
            np.add.at(before, (ri, np.searchsorted(grid, _units.to_days(t[ri, rr], unit), side="right")), 1)
            out_record = np.minimum(np.cumsum(before, axis=1)[:, :K], last_record[:, None])
        else:
            out_record = np.broadcast_to(last_record[:, None], (n, K))
        return Events(time=ev_time, bolus=bolus, rate=rate_change, reset=reset, ss=ss_at, record=next_record,
                      steady=steady, out_time=out_time, out_record=out_record, event_slot=slot)
    return Events(time=ev_time, bolus=bolus, rate=rate_change, reset=reset, ss=ss_at, record=next_record,
                  steady=steady, out_time=out_time, out_record=out_record, positions=out_position)


# Names of the per-record override columns of each dose parameter and compartment.
OVERRIDES = {
    "F": {"depot": "F", "central": "F_central"},
    "lag": {"depot": "tlag", "central": "tlag_central"},
    "rate": {"depot": "rate_depot", "central": "rate_central"},
    "duration": {"depot": "duration_depot", "central": "duration_central"},
}
