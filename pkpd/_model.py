"""Model definitions as data: structure plus one annotated parameter table.

A model file (TOML) reads like mrgsolve's ``$PARAM`` block::

    [model]
    name = "ustekinumab_pk"
    structure = "1cmt"            # "1cmt" | "2cmt"
    absorption = "first_order"    # SC doses enter a depot with ka, F, tlag
    elimination = "linear"        # "linear" | "michaelis_menten" | "tmdd_qss"

    [parameters]
    CL = { value = 0.266, unit = "L/day", description = "clearance", source = "Zhu 2009" }
    bsv_CL = { value = 0.41, unit = "CV", description = "between-subject variability", source = "..." }

Naming conventions that give a parameter its meaning:

* structural PK: ``CL, V`` (+ ``Q, V2`` for two compartments; ``ka, F, tlag`` for SC
  absorption; ``Vmax, Km`` for Michaelis-Menten; ``R0, KSS, kint, kdeg`` for QSS TMDD);
* ``bsv_X``: log-normal between-subject variability on ``X``, given as the coefficient
  of variation (CV); the log-scale variance is ``omega^2 = ln(1 + CV^2)`` (exact
  log-normal CV, not NONMEM's ``sqrt(omega^2)`` approximation);
* ``weight_exponent_X`` with ``reference_weight``: ``X_i = X * (WT_i / reference_weight) ** exponent``.

Values are validated once, at load; the model is then immutable and changes go through
:meth:`Model.replace`, which rejects unknown names.
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from dataclasses import dataclass, field, replace as dc_replace
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from ._errors import PkpdError

STRUCTURES = {"1cmt": ("CL", "V"), "2cmt": ("CL", "V", "Q", "V2")}
ABSORPTIONS = {"none": (), "first_order": ("ka", "F", "tlag")}
ELIMINATIONS = {"linear": (), "michaelis_menten": ("Vmax", "Km"), "tmdd_qss": ("R0", "KSS", "kint", "kdeg")}
OPTIONAL = {"tlag": 0.0}  # parameters a model file may leave out, with their default

# Physical domain of each structural parameter: (lower, upper, lower_open)
_DOMAIN = {
    "CL": (0.0, math.inf, True), "V": (0.0, math.inf, True), "Q": (0.0, math.inf, True),
    "V2": (0.0, math.inf, True), "ka": (0.0, math.inf, True), "F": (0.0, 1.0, True),
    "tlag": (0.0, math.inf, False), "Vmax": (0.0, math.inf, True), "Km": (0.0, math.inf, True),
    "R0": (0.0, math.inf, False), "KSS": (0.0, math.inf, True), "kint": (0.0, math.inf, True),
    "kdeg": (0.0, math.inf, True), "reference_weight": (0.0, math.inf, True),
    # PASI turnover model (pkpd._pasi)
    "kout": (0.0, math.inf, True), "Imax": (0.0, 1.0, False), "IC50": (0.0, math.inf, True),
    "hill": (0.0, math.inf, True), "Pmax": (0.0, 1.0, False), "omega_response": (0.0, math.inf, True),
}
WEIGHT_SCALED = ("CL", "V", "Q", "V2", "Vmax")

# Where the bundled model files live (the repository's models/ folder).
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


@dataclass(frozen=True)
class Parameter:
    """One row of a model's parameter table."""

    name: str
    value: float
    unit: str = ""
    description: str = ""
    source: str = ""
    lower: float = -math.inf
    upper: float = math.inf
    assumption: bool = False

    def __post_init__(self):
        try:
            value = float(self.value)
        except (TypeError, ValueError):
            raise PkpdError(f"Parameter '{self.name}' must be a number, got {self.value!r}.") from None
        if not math.isfinite(value):
            raise PkpdError(f"Parameter '{self.name}' must be finite, got {value!r}.")
        lower, upper = float(self.lower), float(self.upper)
        if not lower < upper:
            raise PkpdError(f"Parameter '{self.name}': lower bound {lower!r} must be below upper bound "
                            f"{upper!r}. Swap them if they are reversed.")
        domain = _domain(self.name)
        if domain is not None:
            lo, hi, lo_open = domain
            if value > hi or value < lo or (lo_open and value == lo):
                allowed = f"{'>' if lo_open else '>='} {lo:g}" + (f" and <= {hi:g}" if hi < math.inf else "")
                raise PkpdError(f"Parameter '{self.name}' = {value!r} is not allowed; it must be {allowed}.")
        if not lower <= value <= upper:
            raise PkpdError(f"Parameter '{self.name}' = {value!r} is outside its bounds [{lower!r}, {upper!r}].")
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)


def _domain(name: str):
    if name in _DOMAIN:
        return _DOMAIN[name]
    if name.startswith("bsv_"):
        return (0.0, math.inf, False)
    return None


@dataclass(frozen=True)
class Model:
    """A PK (and, when it has a ``[pd]`` part, PD) model: structure plus parameter table.

    Use :func:`load_model` to read one from a file; ``model.values`` gives the named
    values and ``model.replace(CL=0.3)`` a changed copy.
    """

    name: str
    structure: str
    absorption: str
    elimination: str
    parameters: tuple[Parameter, ...]
    description: str = ""
    references: tuple[str, ...] = ()
    population: Mapping = field(default_factory=dict)
    pd: Mapping = field(default_factory=dict)
    path: str = ""
    sha256: str = ""

    def __post_init__(self):
        for what, value, allowed in (("structure", self.structure, STRUCTURES),
                                     ("absorption", self.absorption, ABSORPTIONS),
                                     ("elimination", self.elimination, ELIMINATIONS)):
            if value not in allowed:
                raise PkpdError(f"Model '{self.name}': unknown {what} {value!r}; allowed: {list(allowed)}.")
        names = [p.name for p in self.parameters]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise PkpdError(f"Model '{self.name}': parameters given twice: {dupes}.")
        valid = self.valid_names
        unknown = [n for n in names if n not in valid]
        if unknown:
            raise PkpdError(f"Unknown parameter '{unknown[0]}' for model '{self.name}'; valid names: "
                            f"{sorted(valid)}.")
        missing = [n for n in self.required_names if n not in names]
        if missing:
            raise PkpdError(f"Model '{self.name}' is missing parameters {missing} required by structure "
                            f"'{self.structure}', absorption '{self.absorption}', elimination "
                            f"'{self.elimination}'{', pd ' + repr(self.pd.get('type')) if self.pd else ''}.")
        exps = [n for n in names if n.startswith("weight_exponent_")]
        if exps and "reference_weight" not in names:
            raise PkpdError(f"Model '{self.name}' has {exps} but no 'reference_weight' (kg) to scale by.")
        object.__setattr__(self, "parameters", tuple(self.parameters))
        object.__setattr__(self, "population", MappingProxyType(dict(self.population)))
        object.__setattr__(self, "pd", MappingProxyType(dict(self.pd)))

    # -- names ---------------------------------------------------------------------------
    @property
    def pk_names(self) -> tuple[str, ...]:
        return STRUCTURES[self.structure] + ABSORPTIONS[self.absorption] + ELIMINATIONS[self.elimination]

    @property
    def pd_names(self) -> tuple[str, ...]:
        if not self.pd:
            return ()
        from ._pasi import pd_parameter_names
        return pd_parameter_names(self.pd)

    @property
    def required_names(self) -> tuple[str, ...]:
        return tuple(n for n in self.pk_names + self.pd_names if n not in OPTIONAL)

    @property
    def valid_names(self) -> set[str]:
        base = self.pk_names + self.pd_names
        valid = set(base) | {f"bsv_{n}" for n in base} | {"reference_weight"}
        valid |= {f"weight_exponent_{n}" for n in WEIGHT_SCALED if n in base}
        return valid

    @property
    def is_linear(self) -> bool:
        return self.elimination == "linear"

    # -- values --------------------------------------------------------------------------
    @property
    def values(self) -> dict[str, float]:
        """Named parameter values, including defaults of optional parameters left out."""
        out = {n: v for n, v in OPTIONAL.items() if n in self.pk_names}
        out.update({p.name: p.value for p in self.parameters})
        return out

    def __getitem__(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise PkpdError(f"Unknown parameter {name!r} for model '{self.name}'; valid names: "
                        f"{[p.name for p in self.parameters]}.")

    def replace(self, values: Mapping[str, float] | None = None, **kwargs) -> "Model":
        """A copy with some parameter values changed; unknown names raise.

        Examples
        --------
        >>> m = load_model("ustekinumab_pk")
        >>> m.replace(CL=0.3).values["CL"]
        0.3
        >>> m.replace(CLL=0.3)
        Traceback (most recent call last):
        ...
        pkpd._errors.PkpdError: Unknown parameter 'CLL' for model 'ustekinumab_pk'; valid names: ['CL', 'F', 'V', 'bsv_CL', 'bsv_V', 'ka', 'reference_weight', 'tlag', 'weight_exponent_CL', 'weight_exponent_V'].
        """
        updates = dict(values or {}, **kwargs)
        known = {p.name for p in self.parameters}
        params = list(self.parameters)
        for name, value in updates.items():
            if name not in known:
                if name in OPTIONAL and name in self.pk_names:
                    params.append(Parameter(name, value))
                    known.add(name)
                    continue
                raise PkpdError(f"Unknown parameter '{name}' for model '{self.name}'; valid names: "
                                f"{sorted(known | {n for n in OPTIONAL if n in self.pk_names})}.")
        params = [dc_replace(p, value=updates[p.name]) if p.name in updates else p for p in params]
        return dc_replace(self, parameters=tuple(params))


def _parameter_from_toml(name: str, row, where: str) -> Parameter:
    if not isinstance(row, Mapping):
        raise PkpdError(f"{where}: parameter '{name}' must be a table such as "
                        f"{{ value = 1.0, unit = \"L/day\", source = \"...\" }}, got {row!r}.")
    allowed = {"value", "unit", "description", "source", "lower", "upper", "assumption"}
    extra = sorted(set(row) - allowed)
    if extra:
        raise PkpdError(f"{where}: parameter '{name}' has unknown fields {extra}; allowed: {sorted(allowed)}.")
    if "value" not in row:
        raise PkpdError(f"{where}: parameter '{name}' has no value.")
    if not row.get("source"):
        raise PkpdError(f"{where}: parameter '{name}' names no source. Give the paper, or mark it "
                        "`assumption = true` with a source that says why.")
    return Parameter(name=name, value=row["value"], unit=row.get("unit", ""),
                     description=row.get("description", ""), source=row["source"],
                     lower=row.get("lower", -math.inf), upper=row.get("upper", math.inf),
                     assumption=bool(row.get("assumption", False)))


def resolve_model_path(name_or_path) -> Path:
    path = Path(name_or_path)
    if path.suffix != ".toml" and not path.exists():
        path = MODELS_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        bundled = sorted(p.stem for p in MODELS_DIR.glob("*.toml"))
        raise PkpdError(f"No model file {str(name_or_path)!r}; give a path to a .toml file or one of the "
                        f"bundled models: {bundled}.")
    return path


def load_model(name_or_path) -> Model:
    """Read a model file (path, or the name of a bundled model in ``models/``).

    Examples
    --------
    >>> m = load_model("ustekinumab_pk")
    >>> m.values["CL"], m["CL"].unit
    (0.26598, 'L/day')
    """
    path = resolve_model_path(name_or_path)
    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise PkpdError(f"Model file {path} is not valid TOML: {err}.") from None
    where = f"Model file {path.name}"
    if not isinstance(data.get("model"), Mapping):
        raise PkpdError(f"{where}: needs a [model] section with at least `name`.")
    base = None
    if "pk_model" in data["model"]:
        # A PD model file names the PK model it builds on; the PK file's structure,
        # parameter table and population come along, and both files enter the hash.
        ref = str(data["model"]["pk_model"])
        local = next((c for c in (path.parent / ref, path.parent / f"{ref}.toml") if c.is_file()), None)
        if local is not None and local.resolve() == path.resolve():
            raise PkpdError(f"{where}: pk_model names this file itself.")
        base = load_model(local if local is not None else ref)
    known_sections = {"model", "parameters", "population", "pd"}
    extra = sorted(set(data) - known_sections)
    if extra:
        raise PkpdError(f"{where}: unknown sections {extra}; allowed: {sorted(known_sections)}.")
    head = data.get("model")
    if not isinstance(head, Mapping) or "name" not in head:
        raise PkpdError(f"{where}: needs a [model] section with at least `name`.")
    table = data.get("parameters")
    if not isinstance(table, Mapping) or not table:
        raise PkpdError(f"{where}: needs a [parameters] table.")
    params = tuple(_parameter_from_toml(n, row, where) for n, row in table.items())
    digest = hashlib.sha256(raw)
    structure = dict(structure=head.get("structure", "1cmt"), absorption=head.get("absorption", "first_order"),
                     elimination=head.get("elimination", "linear"))
    references = tuple(head.get("references", ()))
    population = data.get("population", {})
    if base is not None:
        clash = [k for k in ("structure", "absorption", "elimination") if k in head]
        if clash:
            raise PkpdError(f"{where}: {clash} come from pk_model '{base.name}'; remove them here.")
        twice = sorted({p.name for p in params} & {p.name for p in base.parameters})
        if twice:
            raise PkpdError(f"{where}: parameters {twice} are already in pk_model '{base.name}' "
                            f"({base.path}); change them there, or with Model.replace().")
        structure = dict(structure=base.structure, absorption=base.absorption, elimination=base.elimination)
        params = base.parameters + params
        references = base.references + references
        population = {**base.population, **population}
        digest.update(Path(base.path).read_bytes())
    return Model(
        name=head["name"], **structure, parameters=params, description=head.get("description", ""),
        references=references, population=population, pd=data.get("pd", {}), path=str(path),
        sha256=digest.hexdigest())
