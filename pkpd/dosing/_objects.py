"""Doses and regimens: small frozen value objects that read like a prescription.

Conventions (written down once, used everywhere):

* Time is in **days** inside every object here; the text form (:func:`pkpd.parse_regimen`)
  also reads weeks and hours and remembers the unit only for printing.
* Amounts are in **mg**, or **mg/kg** scaled by the patient's body weight; ``ug`` and
  ``g`` (and per kg) are converted to mg on entry and kept only as the unit to print.
* Routes: ``"sc"`` is a bolus into the absorption depot (it meets the model's ``F``
  and ``tlag``); ``"iv"`` is a bolus into the central compartment; ``"infusion"`` is a
  zero-order input into the central compartment with either a ``rate`` (mg/day) or a
  ``duration`` (days), never both.
* A bolus given at time *t* is already in the body at *t* (output is right-continuous).
* ``until`` bounds of repeats are **closed**: "every 12 weeks until week 52" includes
  a dose at week 52 when the repeat lands on it.

Printing lives in :mod:`pkpd.dosing._printer`, which these objects import; the parser
imports these objects, never the other way round.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from .. import _units
from .._budget import check_doses
from .._checks import format_number, number, whole
from .._errors import PkpdError
from . import _printer

ROUTES = ("sc", "iv", "infusion")
DISPLAY_UNITS = ("week", "day", "hour")
# Repeats that land within this many days of an `until` bound count as on it (floating
# point in 'every 1.5 weeks' arithmetic); far below any dosing precision.
_UNTIL_SLACK_DAYS = 1e-9


@dataclass(frozen=True)
class Amount:
    """A dose amount: ``value`` in ``unit``, "mg" or "mg/kg" (scaled by body weight).

    Other mass units are converted on entry: ``Amount(500, "ug")`` is 0.5 mg and prints
    as "500 ug" (``shown`` keeps the unit to print; it is not part of equality).
    """

    value: float
    unit: str = "mg"
    shown: str = field(default="", compare=False, repr=False)

    def __post_init__(self):
        factor, per_kg = _units.dose_unit(self.unit)
        hint = " Doses are amounts in mg (or ug, g, mg/kg); use 'placebo' for no drug."
        value = number("Dose amount", self.value, minimum=0, hint=hint)
        if factor != 1.0:
            value = number(f"Dose amount {format_number(value)} {self.unit} in mg", value * factor, hint=hint)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "shown", self.shown or str(self.unit).strip())
        object.__setattr__(self, "unit", "mg/kg" if per_kg else "mg")

    @property
    def depends_on_weight(self) -> bool:
        return self.unit == "mg/kg"

    def resolve(self, weight=None) -> np.ndarray:
        """Amount in mg for each body weight (kg); a float array shaped like ``weight``."""
        if self.unit == "mg":
            return np.float64(self.value) if weight is None else np.broadcast_to(np.float64(self.value),
                                                                                  np.shape(weight))
        if weight is None:
            raise PkpdError(f"Dose '{self}' is in mg/kg; pass the body weight (kg) to resolve it.")
        return self.value * np.asarray(weight, dtype=float)

    def __str__(self) -> str:
        return _printer.format_amount(self)


@dataclass(frozen=True)
class WeightBands:
    """Weight-band dosing: ``amounts[i]`` for ``weight <= limits[i]``, the last one above.

    ``WeightBands((Amount(45), Amount(90)), (100,))`` reads "45 mg if weight <= 100 kg
    else 90 mg". The bounds are closed on the upper side (a 100 kg patient gets 45 mg).
    """

    amounts: tuple[Amount, ...]
    limits: tuple[float, ...]

    def __post_init__(self):
        for name in ("amounts", "limits"):
            if isinstance(getattr(self, name), (str, bytes)) or not isinstance(getattr(self, name), Iterable):
                raise PkpdError(f"Weight bands take sequences of amounts and limits (kg), e.g. (Amount(45), "
                                f"Amount(90)) and (100,); {name} is {getattr(self, name)!r}.")
        amounts = tuple(a if isinstance(a, Amount) else Amount(a) for a in self.amounts)
        limits = tuple(number("Weight-band limit (kg)", w, above=0) for w in self.limits)
        if len(amounts) != len(limits) + 1:
            raise PkpdError(
                f"Weight bands need one more amount than limits; got {len(amounts)} amounts "
                f"and {len(limits)} limits.")
        if any(b <= a for a, b in zip(limits, limits[1:])):
            raise PkpdError(f"Weight-band limits must increase strictly, got {list(limits)} kg.")
        object.__setattr__(self, "amounts", amounts)
        object.__setattr__(self, "limits", limits)

    @property
    def depends_on_weight(self) -> bool:
        return True

    def resolve(self, weight=None) -> np.ndarray:
        if weight is None:
            raise PkpdError(f"Dose '{self}' depends on body weight; pass the weight (kg) to resolve it.")
        w = np.asarray(weight, dtype=float)
        band = np.searchsorted(np.asarray(self.limits), w, side="left")  # w <= limit -> that band
        out = np.empty(w.shape, dtype=float)
        for i, amount in enumerate(self.amounts):
            sel = band == i
            out[sel] = amount.resolve(w[sel])
        return out

    def __str__(self) -> str:
        return _printer.format_bands(self)


def _as_amount(amount) -> Amount | WeightBands:
    if isinstance(amount, (Amount, WeightBands)):
        return amount
    return Amount(amount)


def _check_route(route: str, rate, duration) -> tuple[str, float | None, float | None]:
    if route not in ROUTES:
        raise PkpdError(f"Unknown route {route!r}; allowed: {list(ROUTES)} "
                        "('sc' = subcutaneous bolus into the depot, 'iv' = intravenous bolus, "
                        "'infusion' = intravenous infusion with a rate or a duration).")
    if route == "infusion":
        if rate is not None and duration is not None:
            raise PkpdError(f"An infusion takes a rate or a duration, never both; got rate={rate!r} "
                            f"and duration={duration!r}. Drop one of them.")
        if rate is None and duration is None:
            raise PkpdError("An infusion needs a rate (mg/day) or a duration (days); got neither.")
        if rate is not None:
            rate = number("Infusion rate (mg/day)", rate, above=0)
        if duration is not None:
            duration = number("Infusion duration (days)", duration, above=0)
    elif rate is not None or duration is not None:
        raise PkpdError(f"Route {route!r} is a bolus; rate/duration belong to route 'infusion' "
                        f"(got rate={rate!r}, duration={duration!r}).")
    return route, rate, duration


def infusion_duration(amount_mg, rate: float | None, duration: float | None) -> np.ndarray:
    """Duration (days) of an infusion of ``amount_mg`` given by ``rate`` (mg/day) or ``duration``."""
    if duration is not None:
        return np.broadcast_to(np.float64(duration), np.shape(amount_mg))
    return np.asarray(amount_mg, dtype=float) / rate


@dataclass(frozen=True)
class Dose:
    """One administration: an amount, a route and a time (days).

    Parameters
    ----------
    amount : float, Amount or WeightBands
        A float is taken as mg.
    route : {"sc", "iv", "infusion"}
    time : float
        Days since the start of treatment, >= 0.
    rate, duration : float, optional
        For ``route="infusion"`` only, exactly one of them: mg/day or days.

    Examples
    --------
    >>> Dose(45, "sc", time=0)
    Dose(amount=Amount(value=45.0, unit='mg'), route='sc', time=0.0, rate=None, duration=None)
    >>> Dose(45, "infusion", time=0, rate=10, duration=1)
    Traceback (most recent call last):
    ...
    pkpd._errors.PkpdError: An infusion takes a rate or a duration, never both; got rate=10 and duration=1. Drop one of them.
    """

    amount: Amount | WeightBands
    route: str = "sc"
    time: float = 0.0
    rate: float | None = None
    duration: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "amount", _as_amount(self.amount))
        object.__setattr__(self, "time", number(
            "Dose time (days)", self.time, minimum=0, hint=" Times count from the first day of treatment."))
        route, rate, duration = _check_route(self.route, self.rate, self.duration)
        object.__setattr__(self, "rate", rate)
        object.__setattr__(self, "duration", duration)

    def infusion_duration(self, amount_mg) -> np.ndarray:
        """Duration (days) of this infusion for the given resolved amounts."""
        return infusion_duration(amount_mg, self.rate, self.duration)


@dataclass(frozen=True)
class Course:
    """Doses of one amount and route: explicit times, then an optional repeat.

    Parameters
    ----------
    amount, route, rate, duration
        As in :class:`Dose`.
    times : sequence of float
        Explicit dose times (days), strictly increasing, >= 0.
    every : float, optional
        Repeat interval (days) after the explicit times.
    start : float, optional
        Time of the first repeated dose (days). Default: one interval after the last
        explicit time, or day 0 when there are none.
    until : float, optional
        Last time (days, closed bound) a repeated dose may fall on.
    count : int, optional
        Number of repeated doses. At most one of ``until`` and ``count`` goes with
        ``every``; with neither the repeat is open-ended ("every 12 weeks"): it runs to
        the end of whatever is simulated, and asking for its dose times needs a horizon.
    steady_state : bool
        The repeat starts at steady state: it has been given every ``every`` days since
        long before ``start`` (NONMEM SS=1).
    unit : {"week", "day", "hour"}
        Preferred unit when printed; not part of equality.
    """

    amount: Amount | WeightBands
    route: str = "sc"
    times: tuple[float, ...] = ()
    every: float | None = None
    start: float | None = None
    until: float | None = None
    count: int | None = None
    rate: float | None = None
    duration: float | None = None
    steady_state: bool = False
    unit: str = field(default="week", compare=False)

    def __post_init__(self):
        object.__setattr__(self, "amount", _as_amount(self.amount))
        route, rate, duration = _check_route(self.route, self.rate, self.duration)
        object.__setattr__(self, "rate", rate)
        object.__setattr__(self, "duration", duration)
        if isinstance(self.times, (str, bytes)) or not isinstance(self.times, Iterable):
            raise PkpdError(f"Course times must be a sequence of dose times (days), e.g. (0.0, 28.0); got {self.times!r}.")
        times = tuple(number("Dose time (days)", t, minimum=0) for t in self.times)
        bad = [i for i in range(1, len(times)) if times[i] <= times[i - 1]]
        if bad:
            i = bad[0]
            raise PkpdError(f"Dose times must increase strictly; time {_printer.format_number(times[i])} d "
                            f"follows {_printer.format_number(times[i - 1])} d. Sort them and drop repeats.")
        object.__setattr__(self, "times", times)
        if self.unit not in DISPLAY_UNITS:
            raise PkpdError(f"Unknown display unit {self.unit!r}; allowed: {list(DISPLAY_UNITS)}.")
        if self.every is None:
            if any(v is not None for v in (self.start, self.until, self.count)) or self.steady_state:
                raise PkpdError("start/until/count/steady_state describe a repeat; give `every` too.")
            if not times:
                raise PkpdError("A course needs explicit times or a repeat (`every` with `until` or `count`).")
            return
        object.__setattr__(self, "every", number("Repeat interval (days)", self.every, above=0))
        if self.until is not None and self.count is not None:
            raise PkpdError("A repeat takes `until` (last day, closed) or `count` (number of doses), not both; "
                            f"got until={self.until!r}, count={self.count!r}.")
        if self.count is not None:
            object.__setattr__(self, "count", whole("Repeat count", self.count, minimum=1))
        if self.start is not None:
            object.__setattr__(self, "start", number("Repeat start (days)", self.start, minimum=0))
        first = self.first_repeat
        if times and first <= times[-1]:
            raise PkpdError(f"The repeat starts at day {_printer.format_number(first)}, not after the last "
                            f"explicit dose (day {_printer.format_number(times[-1])}). Move `start` later.")
        if self.until is not None:
            until = number("Repeat end `until` (days)", self.until, minimum=0)
            object.__setattr__(self, "until", until)
            if until < first - _UNTIL_SLACK_DAYS:
                raise PkpdError(f"The repeat ends (until day {_printer.format_number(until)}) before its first "
                                f"dose (day {_printer.format_number(first)}); no repeated dose would be given.")

    @property
    def first_repeat(self) -> float:
        if self.start is not None:
            return self.start
        return self.times[-1] + self.every if self.times else 0.0

    @property
    def open_ended(self) -> bool:
        return self.every is not None and self.until is None and self.count is None

    def repeat_count(self, horizon: float | None = None) -> int:
        """Number of repeated doses, leaving out those after ``horizon`` (days, closed).

        Counted, never listed, so "daily until day 10000000" costs nothing here; an
        open-ended repeat needs the horizon. The doses listed by :meth:`dose_times` are
        checked against the dose budget (:func:`pkpd.budget`).
        """
        if self.every is None:
            return 0
        first = self.first_repeat

        def upto(end):  # doses from `first` every `every` days up to `end` (closed); inf if uncountable
            x = (end - first + _UNTIL_SLACK_DAYS) / self.every
            return max(math.floor(x) + 1, 0) if math.isfinite(x) else math.inf

        n = math.inf if self.count is None else self.count
        if self.until is not None:
            n = upto(self.until)
        if horizon is not None:
            n = min(n, upto(float(horizon)))
        if n == math.inf and self.until is None and self.count is None:
            raise PkpdError(f"'{self}' repeats without end; give a horizon (the last day simulated), or "
                            "end the repeat with 'until week N' or 'x N'.")
        if n == math.inf:
            check_doses(n, f"Course '{self}'", "Give a horizon (the last day simulated), or a shorter course.")
        return int(n)

    @property
    def last_dose(self) -> float:
        """Time (days) of the course's last dose; an open-ended repeat has none."""
        if self.every is None:
            return self.times[-1]
        n = self.repeat_count()
        return self.first_repeat + self.every * (n - 1) if n else self.times[-1]

    def dose_times(self, horizon: float | None = None) -> np.ndarray:
        """Dose times of this course (days), ascending; steady-state history excluded.

        ``horizon`` (days, closed) leaves out repeated doses after it (only doses up to the
        last time simulated can change an output); it is required for an open-ended repeat.
        """
        n = self.repeat_count(horizon)
        check_doses(len(self.times) + n, f"Course '{self}'",
                    "Only doses up to the last time simulated are listed: give that horizon, or a shorter course.")
        if self.every is None:
            return np.asarray(self.times, dtype=float)
        return np.concatenate([np.asarray(self.times, float), self.first_repeat + self.every * np.arange(n)])

    def doses(self, horizon: float | None = None) -> list[Dose]:
        return [Dose(self.amount, self.route, float(t), self.rate, self.duration)
                for t in self.dose_times(horizon)]

    def __str__(self) -> str:
        return _printer.format_course(self)


def _explicit_courses(doses, unit: str = "week") -> tuple[Course, ...]:
    """Courses of explicit times for these doses: consecutive doses of one kind share a course;
    a dose repeated at one time starts another course (a patient may get two doses at once)."""
    courses, group = [], []
    for d in sorted(doses, key=lambda d: d.time):
        if group and ((d.amount, d.route, d.rate, d.duration) != (
                group[0].amount, group[0].route, group[0].rate, group[0].duration) or d.time == group[-1].time):
            courses.append(group)
            group = []
        group.append(d)
    if group:
        courses.append(group)
    return tuple(Course(g[0].amount, g[0].route, tuple(d.time for d in g), rate=g[0].rate, duration=g[0].duration,
                        unit=unit) for g in courses)


RULE_ACTIONS = ("add", "switch")


@dataclass(frozen=True)
class Rule:
    """A response-guided rule: at ``time`` (days), patients whose improvement lies in
    [lower, upper) percent on the ``family`` scale (PASI, EASI, ...) get ``courses``
    added (``action="add"``), or have every base dose after ``time`` replaced by them
    (``action="switch"``; when the new courses start at ``time`` itself, they replace the
    doses due then too, so the switch never gives a double dose).

    ``lower``/``upper`` are whole percentages naming endpoints of the family (``upper``
    exclusive, None for no upper limit): "not PASI75" is [0, 75), "PASI50-74" is
    [50, 75), "PASI75" is [75, None). Each percentage is judged at its endpoint's
    threshold in the model (PASI100 at the model's PASI100 threshold). The patient's
    response is judged under the regimen they are on at ``time``, including earlier
    rules; a dose given at ``time`` does not change it.
    """

    time: float
    lower: int
    upper: int | None
    courses: tuple[Course, ...]
    action: str = "add"
    family: str = "PASI"
    unit: str = field(default="week", compare=False)

    def __post_init__(self):
        object.__setattr__(self, "time", number(
            "Rule time (days)", self.time, above=0,
            hint=" At day 0 every patient is at baseline (improvement 0), so a rule judged then would fire for "
                 "everyone or for no one; judge the response once treatment has acted, e.g. 'at week 12'."))
        lower = whole("Rule lower bound (percent)", self.lower, minimum=0, maximum=100)
        upper = None if self.upper is None else whole("Rule upper bound (percent)", self.upper, minimum=0,
                                                      maximum=100)
        if upper is not None and upper <= lower:
            raise PkpdError(f"Rule condition [{lower}%, {upper}%) is empty; the upper bound must "
                            "exceed the lower.")
        if lower == 0 and upper is None:
            raise PkpdError("A rule condition must exclude someone: give a lower or an upper bound.")
        if self.action not in RULE_ACTIONS:
            raise PkpdError(f"Unknown rule action {self.action!r}; allowed: {list(RULE_ACTIONS)}.")
        if not (isinstance(self.family, str) and self.family.isalpha() and len(self.family) >= 2):
            raise PkpdError(f"Rule endpoint family must be a word of letters such as 'PASI', got {self.family!r}.")
        courses = tuple(self.courses) if isinstance(self.courses, Iterable) and not isinstance(self.courses, str) \
            else ()
        if not courses or not all(isinstance(c, Course) for c in courses):
            raise PkpdError(f"A rule needs at least one Course to give, got {self.courses!r}.")
        early = [t for c in courses for t in c.dose_times(horizon=self.time) if t < self.time]
        if early:
            raise PkpdError(f"A rule judged at day {_printer.format_number(self.time)} cannot give a dose before "
                            f"it (day {_printer.format_number(early[0])}).")
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)
        object.__setattr__(self, "family", self.family.upper())
        object.__setattr__(self, "courses", courses)

    def apply(self, base: "Regimen") -> "Regimen":
        """The regimen of a patient for whom the rule fired (rules of ``base`` dropped)."""
        if self.action == "add":
            return Regimen(base.courses + self.courses)
        starts = min(c.times[0] if c.times else c.first_repeat for c in self.courses)
        kept = [d for d in base.doses(horizon=self.time)
                if d.time < self.time or (d.time == self.time and starts > self.time)]
        # An open-ended base course would go on after the switch; the switch replaces it. Doses
        # the patient had twice at one time (a top-up on a base dose) stay two doses.
        return Regimen(_explicit_courses(kept) + self.courses)

    def __str__(self) -> str:
        return _printer.format_rule(self)


@dataclass(frozen=True)
class Regimen:
    """A dosing regimen: a tuple of :class:`Course` items (an empty tuple is placebo).

    Build one from text with :func:`pkpd.parse_regimen`, from explicit doses with
    :meth:`from_doses`, or from courses; combine with ``+``. ``str(regimen)`` prints
    the text form, which parses back to an equal regimen.

    Examples
    --------
    >>> from pkpd import parse_regimen
    >>> r = parse_regimen("45 mg SC at weeks 0, 4 then every 12 weeks until week 52")
    >>> [float(t) / 7 for t in r.dose_times()]
    [0.0, 4.0, 16.0, 28.0, 40.0, 52.0]
    >>> str(r)
    '45 mg SC at weeks 0, 4 then every 12 weeks until week 52'
    >>> parse_regimen(str(r)) == r
    True
    """

    courses: tuple[Course, ...] = ()
    rules: tuple[Rule, ...] = ()

    def __post_init__(self):
        for name in ("courses", "rules"):
            if isinstance(getattr(self, name), (str, bytes)) or not isinstance(getattr(self, name), Iterable):
                raise PkpdError(f"Regimen {name} must be a sequence of {name[:-1].capitalize()} objects (build a "
                                f"regimen from text with pkpd.parse_regimen), got {getattr(self, name)!r}.")
        courses = tuple(self.courses)
        for c in courses:
            if not isinstance(c, Course):
                raise PkpdError(f"Regimen courses must be Course objects, got {type(c).__name__}.")
        rules = tuple(self.rules)
        for r in rules:
            if not isinstance(r, Rule):
                raise PkpdError(f"Regimen rules must be Rule objects, got {type(r).__name__}.")
        if any(b.time < a.time for a, b in zip(rules, rules[1:])):
            raise PkpdError("Rules must be in time order.")
        object.__setattr__(self, "courses", courses)
        object.__setattr__(self, "rules", rules)

    @property
    def base(self) -> "Regimen":
        """The regimen without its rules."""
        return Regimen(self.courses)

    def history(self, fired) -> "Regimen":
        """The regimen of a patient for whom exactly the rules ``fired`` (indices) fired, each
        applied in time order to the doses before it."""
        if isinstance(fired, (str, bytes)) or not isinstance(fired, Iterable):
            raise PkpdError(f"fired must be a set of rule indices, e.g. {{0, 2}}; got {fired!r}.")
        fired = list(fired)
        if any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < len(self.rules)
               for i in fired):
            raise PkpdError(f"Rule indices must be whole numbers in 0..{len(self.rules) - 1}, got {fired}.")
        fired = sorted(set(fired))
        regimen = self.base
        for i in fired:
            regimen = self.rules[i].apply(regimen)
        return regimen

    def variants(self) -> list[tuple[frozenset, "Regimen"]]:
        """Every regimen a patient could end up on: (indices of the rules that fired, regimen).

        There are 2^k of them for k rules (for inspection; predictions compute only the
        histories some patients actually follow, see :func:`pkpd.endpoints.split_by_rules`),
        so their number is held to the ``rule_histories`` budget (:func:`pkpd.budget`).
        """
        from .._budget import how_to_raise, limit
        if 2 ** len(self.rules) > limit("rule_histories"):
            raise PkpdError(f"Regimen '{self}' has {len(self.rules)} rules: 2^{len(self.rules)} variants, over the "
                            f"rule_histories budget of {limit('rule_histories'):,}. Ask for the histories you need "
                            f"with Regimen.history(fired). {how_to_raise('rule_histories')}")
        out = [(frozenset(), self.base)]
        for i, rule in enumerate(self.rules):
            out += [(fired | {i}, rule.apply(reg)) for fired, reg in out]
        return out

    @classmethod
    def placebo(cls) -> "Regimen":
        return cls(())

    @classmethod
    def from_doses(cls, doses: Iterable[Dose], unit: str = "week") -> "Regimen":
        """A regimen of explicit doses; consecutive doses of one kind share a course."""
        doses = sorted(doses, key=lambda d: d.time)
        seen = set()
        for d in doses:
            key = (d.time, d.amount, d.route, d.rate, d.duration)
            if key in seen:
                raise PkpdError(f"Two identical doses at day {_printer.format_number(d.time)}; give one dose "
                                "with the summed amount instead.")
            seen.add(key)
        return cls(_explicit_courses(doses, unit))

    @property
    def is_placebo(self) -> bool:
        return not self.courses and not self.rules

    @property
    def depends_on_weight(self) -> bool:
        return any(c.amount.depends_on_weight for c in self.courses)

    @property
    def open_ended(self) -> bool:
        return any(c.open_ended for c in self.courses)

    def doses(self, horizon: float | None = None) -> list[Dose]:
        """Every dose up to ``horizon`` (days; needed for open-ended repeats), sorted by time."""
        out = [d for c in self.courses for d in c.doses(horizon)]
        if horizon is not None:
            out = [d for d in out if d.time <= horizon]
        return sorted(out, key=lambda d: d.time)

    def dose_times(self, horizon: float | None = None) -> np.ndarray:
        return np.asarray([d.time for d in self.doses(horizon)], dtype=float)

    def events(self, weight: float | None = None, horizon: float | None = None):
        """The explicit event table, one row per dose, as a ``pandas.DataFrame``.

        Columns: ``day``, ``week``, ``dose`` (the amount rule as text), ``amount_mg``
        (resolved at ``weight`` kg; NaN where the amount depends on a weight not given),
        ``route``, ``rate_mg_per_day``, ``duration_day``, ``steady_state``. Open-ended
        repeats need ``horizon`` (days).
        """
        import pandas as pd

        if weight is not None:
            weight = number("weight (kg)", weight, above=0)
        if horizon is not None:
            horizon = number("horizon (days)", horizon, minimum=0)
        rows = []
        for c in self.courses:
            for t in c.dose_times(horizon):
                if c.amount.depends_on_weight and weight is None:
                    mg = float("nan")
                else:
                    mg = float(c.amount.resolve(None if weight is None else float(weight)))
                rows.append(dict(day=float(t), week=float(_units.from_days(float(t), "week")), dose=str(c.amount),
                                 amount_mg=mg, route=c.route, rate_mg_per_day=c.rate, duration_day=c.duration,
                                 steady_state=bool(c.steady_state and t == c.first_repeat)))
        table = pd.DataFrame(rows, columns=["day", "week", "dose", "amount_mg", "route",
                                            "rate_mg_per_day", "duration_day", "steady_state"])
        return table.sort_values("day", kind="stable").reset_index(drop=True)

    def __add__(self, other: "Regimen") -> "Regimen":
        if not isinstance(other, Regimen):
            return NotImplemented
        return Regimen(self.courses + other.courses, tuple(sorted(self.rules + other.rules,
                                                                  key=lambda r: r.time)))

    def __str__(self) -> str:
        return _printer.format_regimen(self)
