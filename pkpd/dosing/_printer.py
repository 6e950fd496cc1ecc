"""The text form of doses and regimens, printed from the value objects by their fields.

It reads the objects' attributes only and imports none of them, so the objects can
import it for ``__str__`` while the parser imports the objects.
"""

from __future__ import annotations

from .. import _units
from .._checks import format_number

__all__ = ["format_number", "format_amount", "format_bands", "format_course", "format_rule", "format_regimen"]


def format_amount(amount) -> str:
    """'45 mg', '500 ug', '0.5 mg/kg': in the unit it was given in when that prints exactly."""
    factor, per_kg = _units.dose_unit(amount.shown)
    if factor != 1.0:
        text = format_number(amount.value / factor)
        if float(text) * factor == amount.value:
            return f"{text} {amount.shown}"
    return f"{format_number(amount.value)} {amount.unit}"


def format_bands(bands) -> str:
    parts = [f"{format_amount(a)} if weight <= {format_number(w)} kg else" for a, w in zip(bands.amounts, bands.limits)]
    return " ".join(parts + [format_amount(bands.amounts[-1])])


def _amount_text(amount) -> str:
    return format_bands(amount) if hasattr(amount, "limits") else format_amount(amount)


def _in_unit(days: float, unit: str) -> str | None:
    """``days`` written in ``unit`` if that reads back bit-identically, else None."""
    text = format_number(_units.from_days(days, unit))
    return text if _units.to_days(float(text), unit) == days else None


def _time_phrase(values, preferred: str) -> tuple[str, str]:
    for unit in (preferred, "day"):
        texts = [_in_unit(v, unit) for v in values]
        if all(t is not None for t in texts):
            return unit, ", ".join(texts)
    raise AssertionError("days always print exactly")


def _route_text(course) -> str:
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


def format_course(course) -> str:
    parts = [_amount_text(course.amount), _route_text(course)]
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


def _first_dose(course) -> float:
    return course.times[0] if course.times else course.first_repeat


def _format_courses(courses) -> str:
    text = format_course(courses[0])
    for prev, course in zip(courses, courses[1:]):
        sequential = (course.times or course.start is not None) and not prev.open_ended and \
            _first_dose(course) > prev.last_dose
        text += (" then " if sequential else "; ") + format_course(course)
    return text


def format_condition(rule) -> str:
    """'not PASI75', 'PASI75' or 'PASI50-74' (upper bounds are exclusive)."""
    if rule.lower == 0:
        return f"not {rule.family}{rule.upper}"
    if rule.upper is None:
        return f"{rule.family}{rule.lower}"
    return f"{rule.family}{rule.lower}-{rule.upper - 1}"


def format_rule(rule) -> str:
    unit, when = _time_phrase([rule.time], rule.unit)
    courses = format_course(rule.courses[0])
    for course in rule.courses[1:]:
        courses += " then " + format_course(course)
    return f"if {format_condition(rule)} at {unit} {when}: {'switch to ' if rule.action == 'switch' else ''}{courses}"


def format_regimen(regimen) -> str:
    if not regimen.courses and not regimen.rules:
        return "placebo"
    text = _format_courses(regimen.courses) if regimen.courses else "placebo"
    for rule in regimen.rules:
        text += "; " + format_rule(rule)
    return text
