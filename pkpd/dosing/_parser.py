"""Reading the text form of a regimen: what a person types at the command line.

Grammar (case-insensitive; README.md repeats it with examples)::

    regimen   := ("placebo" | course { ("then" | ";") course }) { ";" rule }
    rule      := "if" condition "at" UNIT NUMBER ":" ["switch to"] course { "then" course }
    condition := "not" EP | EP | EP "-" M           (EP: an endpoint such as PASI75, EASI50)
    course    := amount [route] schedule
    amount    := NUMBER DOSE_UNIT [ "if weight <=" NUMBER "kg else" amount ]
    DOSE_UNIT := "mg" | "ug" | "g" | "mg/kg" | "ug/kg" | "g/kg"   ("mcg", "µg" for ug)
    route     := "SC" | "IV" [ "over" NUMBER ("min" | "h" | "hours" | "days")
                             | "at" NUMBER ("mg/h" | "mg/day" | "mg/min") ]
    schedule  := "at" UNIT NUMBER { ("," | "and") NUMBER } [ "then" repeat ]
               | repeat
    repeat    := ("every" [NUMBER] UNIT | "weekly" | "daily" | "qNw" | "qNd" | "qNh")
                 { "from" UNIT NUMBER | "until" UNIT NUMBER | "x" NUMBER
                   | "for" NUMBER "doses" | "at steady state" }
                 (no "until" or "x": open-ended, to the end of what is simulated)
    UNIT      := "week(s)" | "day(s)" | "hour(s)" | "h"

``q4w``/``Q4W`` is "every 4 weeks", ``q12h`` "every 12 hours", ``q2d`` "every 2 days";
``qw`` and ``qd`` are weekly and daily. A route may be left out only after ``then``,
where the previous course's route carries over. Rule conditions: "not PASI75" is an
improvement below the PASI75 threshold, "PASI75" at least it, "PASI50-74" at least
PASI50 and below PASI75 (the bound after "-" is a whole percentage). A repeat without
``from`` starts one interval after the last dose before it (day 0 when there is none).
``until`` is a closed bound.
"""

from __future__ import annotations

import math
import re
from typing import Mapping, Sequence

from .. import _units
from .._errors import PkpdError
from ._objects import Amount, Course, Dose, Regimen, Rule, WeightBands

_NUMBER = r"\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?"
_TOKEN = re.compile(
    rf"(?i:q\d+(?:\.\d+)?[hdw])(?![A-Za-z])|{_NUMBER}"
    r"|(?i:mg|ug|µg|μg|mcg|g)/kg|(?i:mg/h|mg/day|mg/min)|<=|>=|[<>]|[,;:-]"
    r"|[A-Za-z]{2,}\d+|[A-Za-zµμ×]+|\S")
_IS_NUMBER = re.compile(rf"(?:{_NUMBER})\Z")
_ENDPOINT = re.compile(r"([a-z]{2,})(\d+)\Z")
_Q_FORM = re.compile(r"q(\d+(?:\.\d+)?)([hdw])\Z")
_UNIT_WORDS = {"week": "week", "weeks": "week", "day": "day", "days": "day", "hour": "hour", "hours": "hour",
               "h": "hour", "hr": "hour", "hrs": "hour"}
_DURATION_WORDS = {"min": 1 / 1440, "mins": 1 / 1440, "minute": 1 / 1440, "minutes": 1 / 1440,
                   "h": 1 / 24, "hr": 1 / 24, "hrs": 1 / 24, "hour": 1 / 24, "hours": 1 / 24,
                   "day": 1.0, "days": 1.0}
_DOSE_WORDS = ("mg", "ug", "µg", "μg", "mcg", "g", "mg/kg", "ug/kg", "µg/kg", "μg/kg", "mcg/kg", "g/kg")
_RATE_WORDS = {k.lower(): v for k, v in _units.RATE_UNITS.items()}
_REPEAT_STARTS = ("every", "weekly", "daily", "qw", "qd")
_Q_UNITS = {"h": "hour", "d": "day", "w": "week"}


class RegimenSyntaxError(PkpdError):
    """Regimen text that does not parse; the message points at the offending word."""


def _is_repeat_start(tok: str | None) -> bool:
    return tok is not None and (tok in _REPEAT_STARTS or _Q_FORM.match(tok) is not None)


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = [(m.group(0), m.start()) for m in _TOKEN.finditer(text)]
        self.i = 0

    # -- token helpers -------------------------------------------------------------------
    def peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return self.tokens[j][0].lower() if j < len(self.tokens) else None

    def take(self) -> str:
        tok = self.peek()
        self.i += 1
        return tok

    def accept(self, *words: str) -> str | None:
        if self.peek() in words:
            return self.take()
        return None

    def fail(self, expected: str):
        if self.i < len(self.tokens):
            word, pos = self.tokens[self.i]
            where = f"at word {self.i + 1} {word!r}"
        else:
            word, pos = "", len(self.text)
            where = "at the end of the text"
        caret = " " * pos + "^" * max(len(word), 1)
        raise RegimenSyntaxError(
            f"Cannot parse regimen text {where}: expected {expected}.\n  {self.text}\n  {caret}\n"
            "Example: '45 mg SC at weeks 0, 4 then every 12 weeks until week 52' "
            "(grammar in README.md, 'Regimen text').")

    def expect(self, words: tuple[str, ...], expected: str) -> str:
        tok = self.accept(*words)
        if tok is None:
            self.fail(expected)
        return tok

    def number(self, expected: str = "a number") -> float:
        tok = self.peek()
        if tok is None or not _IS_NUMBER.match(tok):
            self.fail(expected)
        value = float(tok)
        if not math.isfinite(value):
            self.fail(f"{expected} (a finite number)")
        self.take()
        return value

    def whole(self, expected: str) -> int:
        value = self.number(expected)
        if value != int(value) or value < 1:
            self.i -= 1
            self.fail(f"{expected} (a whole number >= 1)")
        return int(value)

    def unit(self) -> str:
        return _UNIT_WORDS[self.expect(tuple(_UNIT_WORDS), "'week(s)', 'day(s)' or 'hour(s)'")]

    def time(self, unit: str) -> float:
        return float(_units.to_days(self.number(f"a {unit} number"), unit))

    # -- grammar -------------------------------------------------------------------------
    def amount(self):
        # Weight bands nest to the right; collect them in a loop (no recursion).
        amounts, limits = [], []
        while True:
            value = self.number("a dose amount such as '45 mg' (or 'placebo')")
            unit = self.peek()
            self.expect(_DOSE_WORDS, "a dose unit: 'mg', 'ug', 'g' or 'mg/kg'")
            amounts.append(self.build(Amount, value, unit))
            if not (self.peek() == "if" and self.peek(1) == "weight"):
                break
            self.i += 2
            self.expect(("<=",), "'<=' (weight bands read '45 mg if weight <= 100 kg else 90 mg')")
            limits.append(self.number("a body weight in kg"))
            self.expect(("kg",), "'kg'")
            self.expect(("else",), "'else' and the amount above the limit")
        if not limits:
            return amounts[0]
        return self.build(WeightBands, tuple(amounts), tuple(limits))

    def route(self, inherited):
        tok = self.accept("sc", "iv")
        if tok is None:
            if inherited is not None and (_is_repeat_start(self.peek()) or self.peek() == "at"):
                return inherited
            self.fail("a route: 'SC' or 'IV' (infusions: 'IV over 1 h' or 'IV at 10 mg/h')")
        if tok == "sc":
            return ("sc", None, None)
        if self.accept("over"):
            value = self.number("an infusion duration such as '1 h'")
            scale = _DURATION_WORDS[self.expect(tuple(_DURATION_WORDS), "a duration unit: 'min', 'h' or 'days'")]
            return ("infusion", None, value * scale)
        if self.peek() == "at" and self.peek(1) is not None and _IS_NUMBER.match(self.peek(1)) \
                and self.peek(2) in _RATE_WORDS:
            self.take()
            value = self.number()
            scale = _RATE_WORDS[self.take()]
            return ("infusion", value * scale, None)
        return ("iv", None, None)

    def times(self) -> tuple[tuple[float, ...], str]:
        unit = self.unit()
        values = [self.time(unit)]
        while self.accept(",", "and"):
            values.append(self.time(unit))
        return tuple(values), unit

    def repeat(self) -> dict:
        tok = self.take()
        q = _Q_FORM.match(tok or "")
        if tok in ("weekly", "qw"):
            every, unit = 7.0, "week"
        elif tok in ("daily", "qd"):
            every, unit = 1.0, "day"
        elif q is not None:
            unit = _Q_UNITS[q.group(2)]
            every = float(_units.to_days(float(q.group(1)), unit))
        elif tok == "every":
            n = 1.0
            if self.peek() not in _UNIT_WORDS:
                n = self.number("an interval such as '12 weeks'")
            unit = self.unit()
            every = float(_units.to_days(n, unit))
        else:
            self.i -= 1
            self.fail("'every N weeks', 'q4w', 'weekly' or 'daily'")
        out = dict(every=every, unit=unit)
        while True:
            if self.accept("from"):
                self._once(out, "start")
                out["start"] = self.time(self.unit())
            elif self.accept("until"):
                self._once(out, "until")
                out["until"] = self.time(self.unit())
            elif self.accept("x", "×"):
                self._once(out, "count")
                out["count"] = self.whole("a number of doses")
            elif self.accept("for"):
                self._once(out, "count")
                out["count"] = self.whole("a number of doses")
                self.expect(("doses", "dose"), "'doses'")
            elif self.peek() == "at" and self.peek(1) == "steady":
                self.i += 2
                self.expect(("state",), "'state'")
                out["steady_state"] = True
            else:
                return out

    def _once(self, out: dict, key: str):
        if key in out:
            self.i -= 1
            self.fail(f"no second '{self.peek()}' in one repeat")

    def course(self, previous: Course | None, after_then: bool) -> Course:
        amount = self.amount()
        inherited = (previous.route, previous.rate, previous.duration) if (previous and after_then) else None
        route, rate, duration = self.route(inherited)
        fields = dict(amount=amount, route=route, rate=rate, duration=duration)
        if self.accept("at"):
            times, unit = self.times()
            fields.update(times=times, unit=unit)
            if self.peek() == "then" and _is_repeat_start(self.peek(1)):
                self.take()
                fields.update(self.repeat())
        elif _is_repeat_start(self.peek()):
            rep = self.repeat()
            if after_then and "start" not in rep:
                if previous.open_ended:
                    self.fail("an end to the previous repeat ('until week N' or 'x N') before 'then'")
                last = previous.last_dose
                rep["start"] = last + rep["every"]
            fields.update(rep)
        else:
            self.fail("a schedule: 'at weeks 0, 4', 'every 12 weeks until week 52', 'q4w' or 'weekly x4'")
        return self.build(Course, **fields)

    def build(self, kind, *args, **fields):
        try:
            return kind(*args, **fields)
        except PkpdError as err:
            raise RegimenSyntaxError(f"Regimen text {self.text!r} is well-formed but describes an "
                                     f"impossible {kind.__name__.lower()}: {err}") from None

    def regimen(self) -> Regimen:
        if not self.tokens:
            self.fail("a regimen such as '45 mg SC at week 0' or 'placebo'")
        courses = []
        if self.peek() == "placebo":
            self.take()
        else:
            courses.append(self.course(None, after_then=False))
        rules = []
        while self.peek() is not None:
            if self.peek() == ";" and self.peek(1) == "if":
                self.take()
                rules.append(self.rule())
                continue
            if rules or not courses:
                self.fail("'; if ...' (a response-guided rule) or the end of the regimen")
            sep = self.expect(("then", ";"), "'then', ';' or the end of the regimen")
            courses.append(self.course(courses[-1], after_then=(sep == "then")))
        try:
            return Regimen(tuple(courses), tuple(rules))
        except PkpdError as err:
            raise RegimenSyntaxError(f"Regimen text {self.text!r}: {err}") from None

    def endpoint(self, what: str) -> tuple[str, int]:
        m = _ENDPOINT.match(self.peek() or "")
        if not m:
            self.fail(what)
        self.take()
        return m.group(1).upper(), int(m.group(2))

    def rule(self) -> Rule:
        start = self.i
        self.expect(("if",), "'if'")
        if self.accept("not"):
            family, upper = self.endpoint("an endpoint such as 'PASI75' after 'not'")
            lower = 0
        else:
            family, lower = self.endpoint("a condition: 'not PASI75', 'PASI75' or 'PASI50-74'")
            upper = None
            if self.accept("-"):
                tok = self.peek()
                if tok is None or not re.fullmatch(r"\d+", tok):
                    self.fail(f"a whole percentage after '-', as in '{family}50-74' (the band ends below "
                              f"{family}75)")
                upper = int(self.take()) + 1
        self.expect(("at",), "'at week N' (when the response is judged)")
        unit = self.unit()
        time = self.time(unit)
        self.expect((":",), "':' and what the patients get")
        action = "add"
        if self.accept("switch"):
            self.expect(("to",), "'to' (as in 'switch to 45 mg SC every 8 weeks ...')")
            action = "switch"
        courses = [self.course(None, after_then=False)]  # a rule names its amount and route in full
        while self.peek() == "then":
            self.take()
            courses.append(self.course(courses[-1], after_then=True))
        try:
            return Rule(time, lower, upper, tuple(courses), action, family=family, unit=unit)
        except PkpdError as err:
            self.i = start
            raise RegimenSyntaxError(f"Regimen text {self.text!r} has an impossible rule: {err}") from None


def parse_regimen(text: str) -> Regimen:
    """Parse regimen text such as ``"90 mg SC weekly x4"`` into a :class:`Regimen`.

    Raises :class:`RegimenSyntaxError` (a :class:`pkpd.PkpdError`) that points at the
    first word it cannot read.

    Examples
    --------
    >>> [float(t) for t in parse_regimen("90 mg SC weekly x4").dose_times()]
    [0.0, 7.0, 14.0, 21.0]
    >>> [float(t) / 7 for t in parse_regimen("45 mg SC q4w x3").dose_times()]
    [0.0, 4.0, 8.0]
    >>> parse_regimen("45 mg SC evry 12 weeks")
    Traceback (most recent call last):
    ...
    pkpd.dosing._parser.RegimenSyntaxError: Cannot parse regimen text at word 4 'evry': expected a schedule: 'at weeks 0, 4', 'every 12 weeks until week 52', 'q4w' or 'weekly x4'.
      45 mg SC evry 12 weeks
               ^^^^
    Example: '45 mg SC at weeks 0, 4 then every 12 weeks until week 52' (grammar in README.md, 'Regimen text').
    """
    if not isinstance(text, str):
        raise PkpdError(f"Regimen text must be a string, got {type(text).__name__}.")
    return _Parser(text).regimen()


def as_regimen(value) -> Regimen:
    """Accept a Regimen, its text form, a Dose, or a sequence of Doses."""
    if isinstance(value, Regimen):
        return value
    if isinstance(value, str):
        return parse_regimen(value)
    if isinstance(value, Dose):
        return Regimen.from_doses([value])
    if isinstance(value, Sequence) and value and all(isinstance(d, Dose) for d in value):
        return Regimen.from_doses(value)
    raise PkpdError(f"Cannot read {value!r} as a regimen; give a Regimen, regimen text such as "
                    "'45 mg SC at week 0', or a list of Dose objects.")


def named_regimens(regimens) -> dict[str, Regimen]:
    """Normalise one or many regimens (objects or text) to {name: Regimen}; names are unique."""
    if isinstance(regimens, Mapping):
        items = [(str(k), as_regimen(v)) for k, v in regimens.items()]
    elif isinstance(regimens, (str, Regimen)):
        items = [(None, as_regimen(regimens))]
    elif isinstance(regimens, Sequence) and regimens:
        items = [(None, as_regimen(v)) for v in regimens]
    else:
        items = []
    if not items:
        raise PkpdError(f"regimens must be a regimen, regimen text, a non-empty list of them or a non-empty "
                        f"{{name: regimen}} mapping, got {regimens!r}.")
    out = {}
    for name, reg in items:
        name = str(reg) if name is None else name
        if name in out:
            raise PkpdError(f"Regimen name {name!r} appears twice; give each regimen a unique name.")
        out[name] = reg
    return out
