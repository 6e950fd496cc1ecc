"""The text form of a regimen: what a person types at the command line.

Grammar (case-insensitive; README.md repeats it with examples)::

    regimen   := ("placebo" | course { ("then" | ";") course }) { ";" rule }
    rule      := "if" condition "at" ("week" | "day") NUMBER ":" ["switch to"] course { "then" course }
    condition := "not PASI" N | "PASI" N | "PASI" N "-" M     (N, M whole percentages)
    course    := amount [route] schedule
    amount    := NUMBER ("mg" | "mg/kg") [ "if weight <=" NUMBER "kg else" amount ]
    route     := "SC" | "IV" [ "over" NUMBER ("min" | "h" | "hours" | "days")
                             | "at" NUMBER ("mg/h" | "mg/day") ]
    schedule  := "at" ("week" | "weeks" | "day" | "days") NUMBER { ("," | "and") NUMBER }
                    [ "then" repeat ]
               | repeat
    repeat    := ("every" [NUMBER] UNIT | "weekly" | "daily")
                 { "from" UNIT NUMBER | "until" UNIT NUMBER | "x" NUMBER
                   | "for" NUMBER "doses" | "at steady state" }
                 (no "until" or "x": open-ended, to the end of what is simulated)

A route may be left out only after ``then``, where the previous course's route carries
over. Rule conditions: "not PASI75" is an improvement below 75%, "PASI75" at least 75%,
"PASI50-74" at least 50% and below 75%. A repeat without ``from`` starts one interval after the last dose before it
(day 0 when there is none). ``until`` is a closed bound.
"""

from __future__ import annotations

from ._dosing import Amount, Course, Regimen, Rule, WeightBands, format_number
from ._errors import PkpdError

import re

_TOKEN = re.compile(
    r"\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?"
    r"|mg/kg|mg/h|mg/day|<=|>=|[<>]|[,;:-]|(?i:pasi)\d+|[A-Za-z]+|\S")
_UNIT_WORDS = {"week": "week", "weeks": "week", "day": "day", "days": "day"}
_DURATION_WORDS = {"min": 1 / 1440, "mins": 1 / 1440, "minute": 1 / 1440, "minutes": 1 / 1440,
                   "h": 1 / 24, "hr": 1 / 24, "hrs": 1 / 24, "hour": 1 / 24, "hours": 1 / 24,
                   "day": 1.0, "days": 1.0}
_RATE_WORDS = {"mg/h": 24.0, "mg/day": 1.0}
_REPEAT_STARTS = ("every", "weekly", "daily")


class RegimenSyntaxError(PkpdError):
    """Regimen text that does not parse; the message points at the offending word."""


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
        try:
            value = float(tok)
        except (TypeError, ValueError):
            self.fail(expected)
        self.take()
        return value

    def unit(self) -> str:
        return _UNIT_WORDS[self.expect(tuple(_UNIT_WORDS), "'week(s)' or 'day(s)'")]

    # -- grammar -------------------------------------------------------------------------
    def amount(self):
        value = self.number("a dose amount such as '45 mg' (or 'placebo')")
        unit = self.expect(("mg", "mg/kg"), "the amount unit 'mg' or 'mg/kg'")
        amount = Amount(value, unit)
        if self.peek() == "if" and self.peek(1) == "weight":
            self.i += 2
            self.expect(("<=",), "'<=' (weight bands read '45 mg if weight <= 100 kg else 90 mg')")
            limit = self.number("a body weight in kg")
            self.expect(("kg",), "'kg'")
            self.expect(("else",), "'else' and the amount above the limit")
            rest = self.amount()
            if isinstance(rest, WeightBands):
                return WeightBands((amount,) + rest.amounts, (limit,) + rest.limits)
            return WeightBands((amount, rest), (limit,))
        return amount

    def route(self, inherited):
        tok = self.accept("sc", "iv")
        if tok is None:
            if inherited is not None and (self.peek() in _REPEAT_STARTS or self.peek() == "at"):
                return inherited
            self.fail("a route: 'SC' or 'IV' (infusions: 'IV over 1 h' or 'IV at 10 mg/h')")
        if tok == "sc":
            return ("sc", None, None)
        if self.accept("over"):
            value = self.number("an infusion duration such as '1 h'")
            scale = _DURATION_WORDS[self.expect(tuple(_DURATION_WORDS), "a duration unit: 'min', 'h' or 'days'")]
            return ("infusion", None, value * scale)
        if self.peek() == "at" and self.peek(1) is not None and self.peek(1)[0].isdigit():
            self.take()
            value = self.number()
            scale = _RATE_WORDS[self.expect(tuple(_RATE_WORDS), "an infusion rate unit: 'mg/h' or 'mg/day'")]
            return ("infusion", value * scale, None)
        return ("iv", None, None)

    def times(self) -> tuple[tuple[float, ...], str]:
        unit = self.unit()
        values = [self.number(f"a {unit} number")]
        while self.accept(",", "and"):
            values.append(self.number(f"a {unit} number"))
        return tuple(v * (7.0 if unit == "week" else 1.0) for v in values), unit

    def repeat(self) -> dict:
        tok = self.expect(_REPEAT_STARTS, "'every N weeks', 'weekly' or 'daily'")
        if tok == "weekly":
            every, unit = 7.0, "week"
        elif tok == "daily":
            every, unit = 1.0, "day"
        else:
            n = 1.0
            if self.peek() not in _UNIT_WORDS:
                n = self.number("an interval such as '12 weeks'")
            unit = self.unit()
            every = n * (7.0 if unit == "week" else 1.0)
        out = dict(every=every, unit=unit)
        while True:
            if self.accept("from"):
                self._once(out, "start")
                u = self.unit()
                out["start"] = self.number() * (7.0 if u == "week" else 1.0)
            elif self.accept("until"):
                self._once(out, "until")
                u = self.unit()
                out["until"] = self.number() * (7.0 if u == "week" else 1.0)
            elif self.accept("x", "×"):
                self._once(out, "count")
                out["count"] = self.count()
            elif self.accept("for"):
                self._once(out, "count")
                out["count"] = self.count()
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

    def count(self) -> int:
        value = self.number("a number of doses")
        if value != int(value) or value < 1:
            self.i -= 1
            self.fail("a whole number of doses >= 1")
        return int(value)

    def course(self, previous: Course | None, after_then: bool) -> Course:
        amount = self.amount()
        inherited = (previous.route, previous.rate, previous.duration) if (previous and after_then) else None
        route, rate, duration = self.route(inherited)
        fields = dict(amount=amount, route=route, rate=rate, duration=duration)
        if self.accept("at"):
            times, unit = self.times()
            fields.update(times=times, unit=unit)
            if self.peek() == "then" and self.peek(1) in _REPEAT_STARTS:
                self.take()
                fields.update(self.repeat())
        elif self.peek() in _REPEAT_STARTS:
            rep = self.repeat()
            if after_then and "start" not in rep:
                if previous.open_ended:
                    self.fail("an end to the previous repeat ('until week N' or 'x N') before 'then'")
                last = previous.dose_times()[-1]
                rep["start"] = last + rep["every"]
            fields.update(rep)
        else:
            self.fail("a schedule: 'at weeks 0, 4', 'every 12 weeks until week 52' or 'weekly x4'")
        return self.build(fields)

    def build(self, fields: dict) -> Course:
        try:
            return Course(**fields)
        except PkpdError as err:
            raise RegimenSyntaxError(f"Regimen text {self.text!r} is well-formed but describes an "
                                     f"impossible course: {err}") from None

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

    def percent(self, token: str, what: str) -> int:
        m = re.fullmatch(r"pasi(\d+)", token or "")
        if not m:
            self.fail(what)
        self.take()
        return int(m.group(1))

    def rule(self) -> Rule:
        start = self.i
        self.expect(("if",), "'if'")
        if self.accept("not"):
            lower, upper = 0, self.percent(self.peek(), "an endpoint such as 'PASI75' after 'not'")
        else:
            lower = self.percent(self.peek(), "a condition: 'not PASI75', 'PASI75' or 'PASI50-74'")
            upper = None
            if self.accept("-"):
                value = self.number("the upper percentage, as in 'PASI50-74'")
                upper = int(value) + 1
        self.expect(("at",), "'at week N' (when the response is judged)")
        unit = self.unit()
        time = self.number() * (7.0 if unit == "week" else 1.0)
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
            return Rule(time, lower, upper, tuple(courses), action, unit=unit)
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
    >>> parse_regimen("45 mg SC evry 12 weeks")
    Traceback (most recent call last):
    ...
    pkpd._regimen_text.RegimenSyntaxError: Cannot parse regimen text at word 4 'evry': expected a schedule: 'at weeks 0, 4', 'every 12 weeks until week 52' or 'weekly x4'.
      45 mg SC evry 12 weeks
               ^^^^
    Example: '45 mg SC at weeks 0, 4 then every 12 weeks until week 52' (grammar in README.md, 'Regimen text').
    """
    if not isinstance(text, str):
        raise PkpdError(f"Regimen text must be a string, got {type(text).__name__}.")
    return _Parser(text).regimen()


# -- printing ------------------------------------------------------------------------------

def _in_unit(days: float, unit: str) -> str | None:
    """``days`` written in ``unit`` if that reads back bit-identically, else None."""
    scale = 7.0 if unit == "week" else 1.0
    text = format_number(days / scale)
    return text if float(text) * scale == days else None


def _time_phrase(values, preferred: str) -> tuple[str, str]:
    for unit in (preferred, "day"):
        texts = [_in_unit(v, unit) for v in values]
        if all(t is not None for t in texts):
            return unit, ", ".join(texts)
    raise AssertionError("days always print exactly")


def _route_text(course: Course) -> str:
    if course.route == "sc":
        return "SC"
    if course.route == "iv":
        return "IV"
    if course.duration is not None:
        for word, scale in (("h", 1 / 24), ("min", 1 / 1440), ("days", 1.0)):
            text = format_number(course.duration / scale)
            if float(text) * scale == course.duration:
                return f"IV over {text} {word}"
    for word, scale in (("mg/h", 24.0), ("mg/day", 1.0)):
        text = format_number(course.rate / scale)
        if float(text) * scale == course.rate:
            return f"IV at {text} {word}"
    raise AssertionError("mg/day always prints exactly")


def format_course(course: Course) -> str:
    parts = [str(course.amount), _route_text(course)]
    if course.times:
        unit, text = _time_phrase(course.times, course.unit)
        parts.append(f"at {unit}{'s' if len(course.times) > 1 else ''} {text}")
    if course.every is not None:
        if course.times:
            parts.append("then")
        if course.every == 7.0 and course.unit == "week":
            parts.append("weekly")
        elif course.every == 1.0 and course.unit == "day":
            parts.append("daily")
        else:
            unit, text = _time_phrase([course.every], course.unit)
            parts.append(f"every {text} {unit}s")
        if course.start is not None:
            unit, text = _time_phrase([course.start], course.unit)
            parts.append(f"from {unit} {text}")
        if course.until is not None:
            unit, text = _time_phrase([course.until], course.unit)
            parts.append(f"until {unit} {text}")
        elif course.count is not None:
            parts.append(f"x{course.count}")
        if course.steady_state:
            parts.append("at steady state")
    return " ".join(parts)


def _format_courses(courses) -> str:
    text = format_course(courses[0])
    for prev, course in zip(courses, courses[1:]):
        sequential = (course.times or course.start is not None) and not prev.open_ended and \
            course.dose_times(horizon=course.first_repeat if course.open_ended else None)[0] > prev.dose_times()[-1]
        text += (" then " if sequential else "; ") + format_course(course)
    return text


def format_rule(rule: Rule) -> str:
    if rule.lower == 0:
        cond = f"not PASI{rule.upper}"
    elif rule.upper is None:
        cond = f"PASI{rule.lower}"
    else:
        cond = f"PASI{rule.lower}-{rule.upper - 1}"
    unit, when = _time_phrase([rule.time], rule.unit)
    courses = format_course(rule.courses[0])
    for prev, course in zip(rule.courses, rule.courses[1:]):
        courses += " then " + format_course(course)
    return f"if {cond} at {unit} {when}: {'switch to ' if rule.action == 'switch' else ''}{courses}"


def format_regimen(regimen: Regimen) -> str:
    if regimen.is_placebo:
        return "placebo"
    text = _format_courses(regimen.courses) if regimen.courses else "placebo"
    for rule in regimen.rules:
        text += "; " + format_rule(rule)
    return text
