"""Fuzzing the regimen text parser: a million mutated strings, figures printed.

Every string is parsed; text that does not describe a regimen must raise pkpd.PkpdError
(RegimenSyntaxError or a check of the objects), nothing else. Every string that parses must
print (str) to text that parses back to an equal regimen, and list its dose times up to a
year. Mutations are seeded (the same run gives the same strings): characters inserted,
deleted, replaced or duplicated; numbers swapped for hostile ones (nan, inf, 1e400, 74.9,
huge counts, tiny intervals) or for other plain ones; grammar words swapped; clauses of two
valid regimens spliced.

    python benchmarks/fuzz_regimens.py [N] [seed]     (default 1,000,000 strings, seed 0)

Prints the count of strings parsed and refused, the exceptions of any other type (with an
example each), round-trip failures, and the rate.
"""

from __future__ import annotations

import random
import re
import sys
import time
from collections import Counter

import pkpd

CORPUS = [
    "45 mg SC at week 0",
    "90 mg SC weekly x4",
    "45 mg SC at weeks 0, 4 then every 12 weeks until week 52",
    "45 mg SC at weeks 0, 4 then q12w until week 52",
    "45 mg if weight <= 100 kg else 90 mg SC at weeks 0, 4 then every 12 weeks until week 52",
    "90 mg SC at week 0 then 45 mg every 12 weeks until week 52",
    "5 mg/kg IV over 2 h at weeks 0, 2, 6 then every 8 weeks x3",
    "100 mg IV at 50 mg/h at day 0",
    "10 mg IV at hours 0, 12 then every 12 hours until hour 48",
    "500 ug SC every 2 weeks x3",
    "45 mg SC every 12 weeks from week 0 x1 at steady state",
    "placebo",
    "45 mg SC at weeks 0, 4 then every 12 weeks until week 52; if not PASI75 at week 16: 45 mg SC at week 16",
    "90 mg SC at weeks 0, 4 then every 12 weeks until week 52; if not PASI50 at week 8: 90 mg SC at week 8; "
    "if PASI50-89 at week 28: switch to 90 mg SC every 8 weeks from week 36 until week 52",
    "45 mg if weight <= 60 kg else 90 mg if weight <= 100 kg else 135 mg SC q4w x6",
    "1 mg/kg IV over 30 min daily for 5 doses",
    "2 g SC at days 0, 1 and 2",
    "45 mg SC every 1.5 weeks until week 10",
    "200 mcg SC q2d x10; 45 mg SC at week 3",
    "0.5 mg/kg IV at 10 mg/min at week 1",
    "45 mg SC weekly; if PASI75 at week 12: switch to 45 mg SC every 16 weeks from week 12",
    "placebo; if not EASI50 at week 16: 300 mg SC every 2 weeks from week 16 x6",
    "45 mg SC at hour 36 then every 3.5 days x4",
    "90 mg IV over 1 days at week 0 then 45 mg SC every 8 weeks from week 8 until week 40",
]
HOSTILE_NUMBERS = ["nan", "inf", "-1", "1e400", "1e-400", "0", "0.0", "74.9", "1e308", "9" * 40, "1e15", "0.000001",
                   "1e-9", "3.5e2", ".5", "5.", "1e+3", "00", "-0", "1_000", "٣", "½", "1,5", "2147483648"]
WORDS = ["mg", "ug", "g", "mg/kg", "SC", "IV", "at", "week", "weeks", "day", "days", "hour", "hours", "h", "every",
         "weekly", "daily", "then", "until", "from", "x", "for", "doses", "at steady state", "if", "not", "PASI75",
         "PASI50-74", "EASI90", "switch to", "weight <=", "kg", "else", "over", "min", "mg/h", "q4w", "q0w", "q1e9h",
         "placebo", ";", ",", ":", "-", "and", "×", "µg", "PASI", "PASI100", "PASI0"]
BENIGN_NUMBERS = ["1", "2", "2.5", "0.25", "1e2", "120", "33.333", "1e-3", "7.125", "1000000", "0.1", "3", "52", "365"]
ALPHABET = "0123456789 .,;:-+eExX/qQwWdDhHmgkKsSiIvV<=>()abcµ\t\n\u00a0"
_NUMBER = re.compile(r"\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+")


def mutate(rng: random.Random, text: str) -> str:
    """One to three random edits of ``text``; a third of the strings only get other numbers (most
    of those parse, so the round trip is tried on many)."""
    if rng.random() < 1 / 3:
        pool = BENIGN_NUMBERS + HOSTILE_NUMBERS[:8]
        return _NUMBER.sub(lambda m: rng.choice(pool) if rng.random() < 0.5 else m.group(0), text)
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(7)
        if kind == 0 and text:  # insert a character
            i = rng.randrange(len(text) + 1)
            text = text[:i] + rng.choice(ALPHABET) + text[i:]
        elif kind == 1 and text:  # delete a stretch
            i = rng.randrange(len(text))
            text = text[:i] + text[i + rng.randint(1, 4):]
        elif kind == 2 and text:  # replace a character
            i = rng.randrange(len(text))
            text = text[:i] + rng.choice(ALPHABET) + text[i + 1:]
        elif kind == 3:  # a number becomes a hostile one
            numbers = list(_NUMBER.finditer(text))
            if numbers:
                m = rng.choice(numbers)
                text = text[:m.start()] + rng.choice(HOSTILE_NUMBERS) + text[m.end():]
        elif kind == 4:  # a word becomes another grammar word
            words = text.split(" ")
            words[rng.randrange(len(words))] = rng.choice(WORDS)
            text = " ".join(words)
        elif kind == 5:  # splice with another regimen of the corpus
            other = rng.choice(CORPUS)
            i, j = rng.randrange(len(text) + 1), rng.randrange(len(other) + 1)
            text = text[:i] + other[j:]
        elif text:  # duplicate a stretch
            i = rng.randrange(len(text))
            j = min(len(text), i + rng.randint(1, 20))
            text = text[:j] + text[i:j] + text[j:]
    return text


def check(text: str):
    """None when the string behaves, else (kind, detail)."""
    try:
        regimen = pkpd.parse_regimen(text)
    except pkpd.PkpdError:
        return "refused", None
    except Exception as err:  # noqa: BLE001 - the point is to catch anything else
        return "crash", f"{type(err).__name__}: {str(err)[:120]}"
    try:
        printed = str(regimen)
        back = pkpd.parse_regimen(printed)
    except Exception as err:  # noqa: BLE001
        return "round trip raised", f"{type(err).__name__}: {str(err)[:120]}"
    if back != regimen:
        return "round trip differs", printed
    try:
        regimen.base.dose_times(horizon=365.0)
    except pkpd.PkpdError:
        pass
    except Exception as err:  # noqa: BLE001
        return "dose times raised", f"{type(err).__name__}: {str(err)[:120]}"
    return "parsed", None


def main(n: int = 1_000_000, seed: int = 0) -> int:
    rng = random.Random(seed)
    counts, examples = Counter(), {}
    start = time.perf_counter()
    for _ in range(n):
        text = mutate(rng, rng.choice(CORPUS))
        kind, detail = check(text)
        counts[kind] += 1
        if detail is not None:
            key = (kind, detail.split(":")[0])
            counts[key] += 1
            examples.setdefault(key, (text, detail))
    elapsed = time.perf_counter() - start
    print(f"{n:,} fuzzed regimen strings (seed {seed}) in {elapsed:.1f} s ({n / elapsed:,.0f} per second)")
    print(f"  parsed, printed, parsed back equal and listed: {counts['parsed']:,}")
    print(f"  refused with pkpd.PkpdError:                    {counts['refused']:,}")
    bad = 0
    for kind in ("crash", "round trip raised", "round trip differs", "dose times raised"):
        print(f"  {kind + ':':<48} {counts[kind]:,}")
        bad += counts[kind]
    for (kind, name), (text, detail) in examples.items():
        print(f"    {kind}, {name} ({counts[(kind, name)]:,}): {text!r} -> {detail}")
    return 1 if bad else 0


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    sys.exit(main(*args))
