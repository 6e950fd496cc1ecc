"""Arm-level trial data: responders per arm, time and endpoint.

A trial table (CSV; lines starting with ``#`` are comments) has the columns

``arm, regimen, n, week, endpoint`` and ``responders`` or ``percent`` (or both), plus an
optional ``source``. ``regimen`` is regimen text (README, 'Regimen text'); ``week`` may be
replaced by ``day``. Endpoints are of one family (PASI75, PASI90, ... or EASI50, ...).
An arm may have several time points and endpoints; all rows of one arm and time must
share ``n`` (they are one group of patients).

When only ``percent`` is given, responders are reconstructed as ``round(percent * n / 100)``
and the row must reproduce the percentage to within half a percentage point (as
published percentages are rounded); when both are given they must agree the same way.

Optional columns describe the patients of an arm and the trial it belongs to:

* ``trial``: the trial's name, so that several trials fit together (arm names are unique
  across the table); a fit may then give a parameter a between-trial random effect
  (:func:`pkpd.fit`'s ``trial_effect``).
* ``<covariate>_lower`` / ``<covariate>_upper``: the arm's patients are the model's
  population within lower < x <= upper (a subgroup such as ``weight_upper = 100``);
  ``<covariate>_median`` and ``_cv`` (log-normal), ``_mean`` and ``_sd`` (normal) or
  ``_proportion`` (0/1): the arm's own distribution of that covariate. Weight is in kg,
  other covariates in the model's unit. Empty cells leave the model's distribution.
  Each value must be the same on every row of an arm.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import _units
from .._checks import nearest, number, whole
from .._errors import PkpdError
from ..dosing import Regimen, parse_regimen
from ..model import EndpointFamily, endpoint_families, library

REQUIRED = ("arm", "regimen", "n", "endpoint")
_ENDPOINT = re.compile(r"([A-Za-z]{2,})(\d+)")
COVARIATE_FIELDS = ("lower", "upper", "median", "cv", "mean", "sd", "proportion")
_COVARIATE_COLUMN = re.compile(r"([A-Za-z][A-Za-z0-9]*)_(" + "|".join(COVARIATE_FIELDS) + ")")


@dataclass(frozen=True, eq=False)
class TrialData:
    """A validated trial table (``table``), its regimens per arm, and where it came from.

    ``text`` is the table as CSV text (what a fit file carries), ``sha256`` its hash,
    ``source`` the file, library entry or "<DataFrame>" it was read from.
    """

    table: pd.DataFrame
    regimens: dict
    source: str = ""
    sha256: str = ""
    text: str = ""
    name: str = ""
    covariates: dict = None   # {arm: {covariate: {field: value}}} (arms without their own: absent)
    trials: dict = None       # {arm: trial name}

    def __post_init__(self):
        object.__setattr__(self, "covariates", dict(self.covariates or {}))
        object.__setattr__(self, "trials", dict(self.trials or {arm: "" for arm in self.regimens}))

    @property
    def trial_names(self) -> list[str]:
        return list(dict.fromkeys(self.trials[a] for a in self.arms))

    def arm_groups(self) -> list[tuple[tuple, list[str]]]:
        """Arms grouped by their covariate description: [(description, arms)], in arm order."""
        out: dict = {}
        for arm in self.arms:
            key = tuple(sorted((c, tuple(sorted(f.items()))) for c, f in self.covariates.get(arm, {}).items()))
            out.setdefault(key, []).append(arm)
        return list(out.items())

    @property
    def arms(self) -> list[str]:
        return list(self.regimens)

    @property
    def days(self) -> np.ndarray:
        return np.unique(self.table["day"].to_numpy(float))

    @property
    def endpoints(self) -> list[str]:
        return sorted(self.table["endpoint"].unique(), key=_percent)

    @property
    def family(self) -> str:
        return _ENDPOINT.fullmatch(self.endpoints[0]).group(1)

    @property
    def n_patients(self) -> int:
        """Patients over all arm and time groups (the N of the BIC)."""
        return int(sum(n for _, _, n, _ in self.groups()))

    def groups(self):
        """Yield (arm, day, n, {endpoint: responders}) per arm and time point."""
        for (arm, day), rows in self.table.groupby(["arm", "day"], sort=False):
            yield arm, float(day), int(rows["n"].iloc[0]), dict(zip(rows["endpoint"], rows["responders"]))


def _percent(name: str) -> int:
    return int(_ENDPOINT.fullmatch(name).group(2))


def _where(i: int) -> str:
    return f"Trial table row {i + 1}"


def _read(source) -> tuple[str, str, str]:
    """(text, origin, library name) of a path, library name or DataFrame."""
    if isinstance(source, pd.DataFrame):
        return source.to_csv(index=False), "<DataFrame>", ""
    raw, name, lib = library.locate("trials", source, "a CSV path or a DataFrame")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PkpdError(f"Trial file {name} is not UTF-8 text (byte {err.start}); save it as UTF-8.") from None
    return text, name, lib


def load_trial(source, endpoints: EndpointFamily | None = None) -> TrialData:
    """Read and validate a trial table (path, library name or DataFrame). Errors name the row.

    ``endpoints``: the endpoint family the table must use (e.g. a model's
    ``model.endpoints``); by default the registered family of the names' prefix (PASI:
    PASI50/75/90/100), or any whole percentages of an unregistered prefix.

    Examples
    --------
    >>> trial = load_trial("krueger2007_phase2")
    >>> trial.arms[:2], trial.endpoints
    (['45 mg x1', '90 mg x1'], ['PASI75', 'PASI90'])
    """
    if isinstance(source, TrialData):
        return source
    text, origin, lib = _read(source)
    return trial_from_text(text, origin, lib, endpoints)


def trial_from_text(text: str, source: str = "", name: str = "", endpoints: EndpointFamily | None = None) -> TrialData:
    """Validate a trial table given as CSV text (``source``: where it came from, for messages)."""
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    name_in_messages = source or "<text>"
    name, lib = name_in_messages, name
    try:
        table = pd.read_csv(io.StringIO(text), comment="#", skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise PkpdError(f"Trial table {name} is empty; it needs a header line (arm, regimen, n, week, endpoint, "
                        "responders) and one row per arm, time and endpoint.") from None
    except (pd.errors.ParserError, ValueError) as err:
        raise PkpdError(f"Trial table {name} is not a readable CSV table: {str(err).strip()}. Give one header line "
                        "and the same number of comma-separated fields on every row.") from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in REQUIRED if c not in table.columns]
    if "week" not in table.columns and "day" not in table.columns:
        missing.append("week (or day)")
    if "responders" not in table.columns and "percent" not in table.columns:
        missing.append("responders (or percent)")
    if missing:
        raise PkpdError(f"Trial table {name} lacks columns {missing}; needs arm, regimen, n, week (or day), "
                        f"endpoint and responders (or percent). Found: {list(table.columns)}.")
    if table.empty:
        raise PkpdError(f"Trial table {name} has no rows.")
    regimens: dict[str, Regimen] = {}
    days, counts, sizes, families = [], [], [], set()
    for i, row in enumerate(table.to_dict("records")):
        where = _where(i)
        if _missing(row["arm"]) or not str(row["arm"]).strip():
            raise PkpdError(f"{where}: the arm has no name; give every row its arm's name.")
        arm = str(row["arm"])
        try:
            reg = parse_regimen(str(row["regimen"]))
        except PkpdError as err:
            raise PkpdError(f"{where} (arm {arm!r}): regimen text does not parse. {err}") from None
        if arm in regimens and regimens[arm] != reg:
            raise PkpdError(f"{where}: arm {arm!r} has two regimens: '{regimens[arm]}' and '{reg}'.")
        regimens[arm] = reg
        n = whole(f"{where} (arm {arm!r}): n", row["n"], minimum=1, text=True)
        sizes.append(n)
        endpoint = str(row["endpoint"])
        m = _ENDPOINT.fullmatch(endpoint)
        family = endpoints
        if family is None and m is not None and m.group(1) in endpoint_families():
            family = endpoint_families()[m.group(1)]  # a registered family: its endpoints only
        allowed = list(family.names) if family is not None else None
        if m is None or (allowed is not None and endpoint not in allowed):
            raise PkpdError(f"{where} (arm {arm!r}): unknown endpoint {row['endpoint']!r}; allowed: "
                            f"{allowed or 'a family prefix and a whole percentage, e.g. PASI75'}."
                            + (nearest(endpoint, allowed) if allowed else ""))
        families.add(m.group(1))
        if "week" in row and not _missing(row.get("week")):
            day = _units.to_days(number(f"{where} (arm {arm!r}): week", row["week"], minimum=0,
                                        hint=" Weeks are numbers such as 12.", text=True), "week")
        elif not _missing(row.get("day")):
            day = number(f"{where} (arm {arm!r}): day", row["day"], minimum=0, hint=" Days are numbers such as 84.",
                         text=True)
        else:
            raise PkpdError(f"{where} (arm {arm!r}): give the time of the row in the week (or day) column.")
        days.append(float(day))
        counts.append(_responders(row, n, where, arm))
    if len(families) > 1:
        raise PkpdError(f"Trial table {name} mixes endpoint families {sorted(families)}; one table holds one family.")
    covariates, trials = _arm_descriptions(table, name)
    table = table.assign(day=days, responders=counts, n=sizes, arm=table["arm"].astype(str),
                         endpoint=table["endpoint"].astype(str))
    for (arm, day), rows in table.groupby(["arm", "day"], sort=False):
        if rows["n"].nunique() > 1:
            raise PkpdError(f"{_where(int(rows.index[0]))}: arm {arm!r} at day {day:g} has different n across "
                            f"endpoints {sorted(rows['n'].unique().tolist())}; one time point is one group of patients.")
        if rows["endpoint"].duplicated().any():
            dup = rows.index[rows["endpoint"].duplicated()][0]
            raise PkpdError(f"{_where(int(dup))}: endpoint {table.loc[dup, 'endpoint']} appears twice for "
                            f"arm {arm!r} at day {day:g}.")
        ordered = sorted(zip(rows["endpoint"], rows["responders"], rows.index), key=lambda r: _percent(r[0]))
        for (e1, r1, _), (e2, r2, i2) in zip(ordered, ordered[1:]):
            if r2 > r1:
                raise PkpdError(f"{_where(int(i2))}: arm {arm!r} at day {day:g} has more {e2} responders ({r2}) "
                                f"than {e1} responders ({r1}); {e2} responders are {e1} responders too.")
    return TrialData(table=table.reset_index(drop=True), regimens=regimens, source=name, sha256=sha, text=text,
                     name=lib, covariates=covariates, trials=trials)


def _arm_descriptions(table: pd.DataFrame, name: str) -> tuple[dict, dict]:
    """Per arm: its covariate description and its trial, each the same on all its rows."""
    from .._checks import number
    known = set(REQUIRED) | {"week", "day", "responders", "percent", "source", "trial"}
    columns = {}
    for c in table.columns:
        m = _COVARIATE_COLUMN.fullmatch(c)
        if m:
            columns[c] = (m.group(1), m.group(2))
        elif c not in known:
            raise PkpdError(f"Trial table {name}: unknown column {c!r}." + nearest(c, sorted(known))
                            + " Columns are arm, regimen, n, week (or day), endpoint, responders (or percent), "
                            "source, trial, and covariate columns such as weight_upper or diabetes_proportion.")
    covariates, trials = {}, {}
    for arm, rows in table.groupby("arm", sort=False):
        where = _where(int(rows.index[0]))
        if "trial" in table.columns:
            names = rows["trial"].map(lambda x: "" if _missing(x) else str(x).strip()).unique()
            if len(names) > 1:
                raise PkpdError(f"{where}: arm {arm!r} is in trials {sorted(names)}; an arm belongs to one trial "
                                "(give arms of different trials different names).")
            if not names[0]:
                raise PkpdError(f"{where}: arm {arm!r} has no trial; fill the trial column on every row.")
            trials[arm] = names[0]
        spec: dict = {}
        for column, (cov, field) in columns.items():
            values = rows[column].to_numpy(object)
            given = [v for v in values if not _missing(v)]
            if not given:
                continue
            if len(given) != len(values) or len({float(number(f'{where}: {column}', v)) for v in given}) > 1:
                raise PkpdError(f"{where}: arm {arm!r} has different {column} on its rows ({list(values)}); an arm "
                                "is one group of patients, give it one value on every row.")
            x = number(f"{where} (arm {arm!r}): {column}", given[0])
            spec.setdefault(cov, {})[field] = x
        for cov, fields in spec.items():
            if "lower" in fields and "upper" in fields and not fields["lower"] < fields["upper"]:
                raise PkpdError(f"{where} (arm {arm!r}): {cov}_lower {fields['lower']:g} must be below "
                                f"{cov}_upper {fields['upper']:g}.")
        if spec:
            covariates[arm] = spec
    return covariates, trials


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _responders(row, n: int, where: str, arm: str) -> int:
    k = row.get("responders")
    pct = row.get("percent")
    if _missing(k) and _missing(pct):
        raise PkpdError(f"{where} (arm {arm!r}): give responders or percent.")
    if not _missing(pct):
        pct = number(f"{where} (arm {arm!r}): percent", pct, minimum=0, maximum=100, text=True)
    if _missing(k):
        k = int(round(pct * n / 100.0))
    else:
        k = whole(f"{where} (arm {arm!r}): responders", k, minimum=0, text=True)
    if k > n:
        raise PkpdError(f"{where} (arm {arm!r}): responders {k} exceed n {n}.")
    if not _missing(pct) and abs(100.0 * k / n - pct) > 0.5 + 1e-9:
        raise PkpdError(f"{where} (arm {arm!r}): {k}/{n} responders is {100.0 * k / n:.1f}%, not the "
                        f"{pct:g}% given; fix one of them.")
    return k
