"""Arm-level trial data: responders per arm, time and endpoint.

A trial table (CSV; lines starting with ``#`` are comments) has the columns

``arm, regimen, n, week, endpoint`` and ``responders`` or ``percent`` (or both), plus an
optional ``source``. ``regimen`` is regimen text (README, 'Regimen text'); ``week`` may be
replaced by ``day``. An arm may have several time points and endpoints; all rows of one
arm and time must share ``n`` (they are one group of patients).

When only ``percent`` is given, responders are reconstructed as ``round(percent * n / 100)``
and the row must reproduce the percentage to within half a percentage point (as
published percentages are rounded); when both are given they must agree the same way.
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ._dosing import Regimen
from ._errors import PkpdError
from ._pasi import check_endpoints, DEFAULT_ENDPOINTS
from ._regimen_text import parse_regimen

REQUIRED = ("arm", "regimen", "n", "endpoint")


@dataclass(frozen=True, eq=False)
class TrialData:
    """A validated trial table (``table``), its regimens per arm, and the file's SHA-256."""

    table: pd.DataFrame
    regimens: dict
    source: str = ""
    sha256: str = ""

    @property
    def arms(self) -> list[str]:
        return list(self.regimens)

    @property
    def days(self) -> np.ndarray:
        return np.unique(self.table["day"].to_numpy(float))

    @property
    def endpoints(self) -> list[str]:
        return sorted(self.table["endpoint"].unique(), key=lambda e: int(e[4:]))

    def groups(self):
        """Yield (arm, day, n, {endpoint: responders}) per arm and time point."""
        for (arm, day), rows in self.table.groupby(["arm", "day"], sort=False):
            yield arm, float(day), int(rows["n"].iloc[0]), dict(zip(rows["endpoint"], rows["responders"]))


def _where(i: int) -> str:
    return f"Trial table row {i + 1}"


def load_trial(source, endpoints=None) -> TrialData:
    """Read and validate a trial table (path or DataFrame). Errors name the row.

    ``endpoints`` ({name: threshold}) are the endpoints allowed (default PASI50/75/90/100).
    """
    sha = ""
    if isinstance(source, pd.DataFrame):
        table, name = source.copy(), "<DataFrame>"
    else:
        path = Path(source)
        if not path.is_file():
            raise PkpdError(f"No trial file {str(source)!r}.")
        raw = path.read_bytes()
        sha = hashlib.sha256(raw).hexdigest()
        table = pd.read_csv(io.BytesIO(raw), comment="#", skipinitialspace=True)
        name = str(path)
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in REQUIRED if c not in table.columns]
    if "week" not in table.columns and "day" not in table.columns:
        missing.append("week (or day)")
    if "responders" not in table.columns and "percent" not in table.columns:
        missing.append("responders (or percent)")
    if missing:
        raise PkpdError(f"Trial table {name} lacks columns {missing}; needs arm, regimen, n, week (or day), "
                        f"endpoint and responders (or percent). Found: {list(table.columns)}.")
    known = check_endpoints(dict(endpoints or DEFAULT_ENDPOINTS))
    if table.empty:
        raise PkpdError(f"Trial table {name} has no rows.")
    regimens: dict[str, Regimen] = {}
    days, counts = [], []
    for i, row in enumerate(table.to_dict("records")):
        where = _where(i)
        arm = str(row["arm"])
        try:
            reg = parse_regimen(str(row["regimen"]))
        except PkpdError as err:
            raise PkpdError(f"{where} (arm {arm!r}): regimen text does not parse. {err}") from None
        if arm in regimens and regimens[arm] != reg:
            raise PkpdError(f"{where}: arm {arm!r} has two regimens: '{regimens[arm]}' and '{reg}'.")
        regimens[arm] = reg
        n = row["n"]
        if not (isinstance(n, (int, np.integer)) or (isinstance(n, float) and n.is_integer())) or n < 1:
            raise PkpdError(f"{where} (arm {arm!r}): n must be a whole number >= 1, got {n!r}.")
        n = int(n)
        if row["endpoint"] not in known:
            raise PkpdError(f"{where} (arm {arm!r}): unknown endpoint {row['endpoint']!r}; allowed: {list(known)}.")
        day = float(row["week"]) * 7.0 if "week" in row and not _missing(row.get("week")) else row.get("day")
        if _missing(day) or not math.isfinite(float(day)) or float(day) < 0:
            raise PkpdError(f"{where} (arm {arm!r}): time must be a week or day >= 0, got {day!r}.")
        days.append(float(day))
        counts.append(_responders(row, n, where, arm))
    table = table.assign(day=days, responders=counts, n=table["n"].astype(int), arm=table["arm"].astype(str))
    for (arm, day), rows in table.groupby(["arm", "day"], sort=False):
        first = int(rows.index[0])
        if rows["n"].nunique() > 1:
            raise PkpdError(f"{_where(first)}: arm {arm!r} at day {day:g} has different n across endpoints "
                            f"{sorted(rows['n'].unique().tolist())}; one time point is one group of patients.")
        if rows["endpoint"].duplicated().any():
            dup = rows.index[rows["endpoint"].duplicated()][0]
            raise PkpdError(f"{_where(int(dup))}: endpoint {table.loc[dup, 'endpoint']} appears twice for "
                            f"arm {arm!r} at day {day:g}.")
        ordered = sorted(zip(rows["endpoint"], rows["responders"], rows.index), key=lambda r: int(r[0][4:]))
        for (e1, r1, _), (e2, r2, i2) in zip(ordered, ordered[1:]):
            if r2 > r1:
                raise PkpdError(f"{_where(int(i2))}: arm {arm!r} at day {day:g} has more {e2} responders ({r2}) "
                                f"than {e1} responders ({r1}); {e2} responders are {e1} responders too.")
    return TrialData(table=table.reset_index(drop=True), regimens=regimens, source=name, sha256=sha)


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _responders(row, n: int, where: str, arm: str) -> int:
    k = row.get("responders")
    pct = row.get("percent")
    if _missing(k) and _missing(pct):
        raise PkpdError(f"{where} (arm {arm!r}): give responders or percent.")
    if not _missing(pct):
        pct = float(pct)
        if not 0 <= pct <= 100:
            raise PkpdError(f"{where} (arm {arm!r}): percent must lie in [0, 100], got {pct:g}.")
    if _missing(k):
        k = int(round(pct * n / 100.0))
    else:
        if float(k) != int(float(k)):
            raise PkpdError(f"{where} (arm {arm!r}): responders must be a whole number, got {k!r}.")
        k = int(float(k))
    if k < 0:
        raise PkpdError(f"{where} (arm {arm!r}): responders must be >= 0, got {k}.")
    if k > n:
        raise PkpdError(f"{where} (arm {arm!r}): responders {k} exceed n {n}.")
    if not _missing(pct) and abs(100.0 * k / n - pct) > 0.5 + 1e-9:
        raise PkpdError(f"{where} (arm {arm!r}): {k}/{n} responders is {100.0 * k / n:.1f}%, not the "
                        f"{pct:g}% given; fix one of them.")
    return k
