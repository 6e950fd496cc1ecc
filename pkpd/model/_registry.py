"""What model files may name: PK structures, response models and endpoint families.

The model layer reads parameter names, units and domains from here, and so do the
engines; nothing here imports an engine. Response models register themselves (the
package registers ``pasi_turnover`` when it is imported); users register their own with
:func:`pkpd.register_response_model` and :func:`pkpd.register_endpoint_family`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from .._frozen import FrozenMap
from typing import Mapping

from .._checks import nearest, number
from .._errors import PkpdError
from ._parameters import NONNEGATIVE, POSITIVE, POSITIVE_FRACTION, REAL, ParameterSpec

# -- PK structures -------------------------------------------------------------------------

_PK = [
    ParameterSpec("CL", "L/day", POSITIVE, "clearance"),
    ParameterSpec("V", "L", POSITIVE, "central volume of distribution"),
    ParameterSpec("Q", "L/day", POSITIVE, "intercompartmental clearance"),
    ParameterSpec("V2", "L", POSITIVE, "peripheral volume of distribution"),
    ParameterSpec("ka", "1/day", POSITIVE, "first-order absorption rate constant"),
    ParameterSpec("F", "1", POSITIVE_FRACTION, "bioavailability of doses into the depot"),
    ParameterSpec("tlag", "day", NONNEGATIVE, "absorption lag time", default=0.0),
    ParameterSpec("Vmax", "mg/day", POSITIVE, "maximal rate of saturable elimination"),
    ParameterSpec("Km", "mg/L", POSITIVE, "concentration of half-maximal saturable elimination"),
    ParameterSpec("R0", "mg/L", NONNEGATIVE, "baseline total target (drug-equivalent concentration)"),
    ParameterSpec("KSS", "mg/L", POSITIVE, "quasi-steady-state constant of drug-target binding"),
    ParameterSpec("kint", "1/day", POSITIVE, "internalisation rate of the drug-target complex"),
    ParameterSpec("kdeg", "1/day", POSITIVE, "degradation rate of free target"),
]
# Dose parameters of each dosing compartment: NONMEM's F, ALAG, R and D of that compartment
# (F1/ALAG1/R1/D1 of the depot and F2/ALAG2/R2/D2 of the central compartment in ADVAN2/4).
# The depot's bioavailability and lag are the absorption parameters F and tlag above. All
# are optional: F and lag default to 1 and 0; a modelled rate or duration is needed only by
# records with RATE -1 or -2. A dose meets the values of its compartment.
_DOSE = [
    ParameterSpec("F_central", "1", POSITIVE, "bioavailability of doses into the central compartment "
                  "(NONMEM F2; may exceed 1 as a relative bioavailability)", default=1.0),
    ParameterSpec("tlag_central", "day", NONNEGATIVE, "lag time of doses into the central compartment "
                  "(NONMEM ALAG2)", default=0.0),
    ParameterSpec("rate_central", "mg/day", POSITIVE, "modelled infusion rate of RATE=-1 doses into the central "
                  "compartment (NONMEM R2)"),
    ParameterSpec("duration_central", "day", POSITIVE, "modelled infusion duration of RATE=-2 doses into the "
                  "central compartment (NONMEM D2)"),
    ParameterSpec("rate_depot", "mg/day", POSITIVE, "modelled infusion rate of RATE=-1 doses into the depot "
                  "(NONMEM R1)"),
    ParameterSpec("duration_depot", "day", POSITIVE, "modelled infusion duration of RATE=-2 doses into the depot "
                  "(NONMEM D1)"),
]
PK_SPECS: Mapping[str, ParameterSpec] = FrozenMap({s.name: s for s in _PK + _DOSE})
STRUCTURES = {"1cmt": ("CL", "V"), "2cmt": ("CL", "V", "Q", "V2")}
ABSORPTIONS = {"none": (), "first_order": ("ka", "F", "tlag")}
ELIMINATIONS = {"linear": (), "michaelis_menten": ("Vmax", "Km"), "tmdd_qss": ("R0", "KSS", "kint", "kdeg")}
# Dosing compartments and their dose parameters (F, lag, modelled rate, modelled duration),
# by the compartment's role; the depot exists with first-order absorption only.
DOSE_PARAMETERS = {
    "depot": {"F": "F", "lag": "tlag", "rate": "rate_depot", "duration": "duration_depot"},
    "central": {"F": "F_central", "lag": "tlag_central", "rate": "rate_central", "duration": "duration_central"},
}
# The NONMEM names of these parameters, so that a file using them gets a pointed hint.
NONMEM_DOSE_NAMES = {"F1": "F", "ALAG1": "tlag", "R1": "rate_depot", "D1": "duration_depot",
                     "F2": "F_central", "ALAG2": "tlag_central", "R2": "rate_central", "D2": "duration_central"}


def nonmem_compartments(model) -> dict[int, str]:
    """Dosing compartments by NONMEM's CMT number for this structure: with a depot CMT 1 is the
    depot and 2 the central compartment (ADVAN2/ADVAN4), without one CMT 1 is central
    (ADVAN1/ADVAN3). The peripheral compartment takes no doses."""
    return {1: "depot", 2: "central"} if model.absorption == "first_order" else {1: "central"}


def dose_parameters(absorption: str) -> tuple[str, ...]:
    """The optional dose-parameter names a model with this absorption may give."""
    roles = ("depot", "central") if absorption == "first_order" else ("central",)
    return tuple(n for role in roles for n in DOSE_PARAMETERS[role].values()
                 if n not in ABSORPTIONS[absorption])


# Residual error of observations ([error] of a model file): DV = C (1 + e1) + e2 with
# e1 ~ N(0, proportional^2) and e2 ~ N(0, additive^2), NONMEM's Y = F + F*EPS(1) + EPS(2)
# with the SDs (not the variances of $SIGMA) given.
ERROR_SPECS: Mapping[str, ParameterSpec] = FrozenMap({s.name: s for s in (
    ParameterSpec("proportional", "1", NONNEGATIVE, "SD of the proportional residual error (C*(1+e1))",
                  individual=False),
    ParameterSpec("additive", "mg/L", NONNEGATIVE, "SD of the additive residual error (+e2)", individual=False),
)})
# Parameters that may scale with body weight (weight_exponent_X with reference_weight).
WEIGHT_SCALED = ("CL", "V", "Q", "V2", "Vmax")
REFERENCE_WEIGHT = ParameterSpec("reference_weight", "kg", POSITIVE,
                                 "body weight the weight-scaled parameters refer to", individual=False)
# The SD of a between-trial random effect (pkpd.fit(..., trial_effect=...)), on the fit scale
# (log or logit) of the parameter it acts on.
TRIAL_SD = ParameterSpec("omega_trial", "1", POSITIVE, "SD of the between-trial random effect, on the fit scale "
                         "of the parameter it acts on", individual=False)

# -- endpoint families ---------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointFamily:
    """Responder endpoints that are thresholds on one improvement scale: PASI50/75/90...

    ``thresholds`` maps each endpoint name (the prefix and a whole percentage) to the
    minimum fractional improvement from baseline, strictly inside (0, 1) and increasing
    with the percentage. They are kept in that order, so the endpoints are nested: a
    PASI90 responder is a PASI75 responder.

    Examples
    --------
    >>> f = EndpointFamily("EASI", {"EASI50": 0.5, "EASI75": 0.75, "EASI90": 0.9})
    >>> f.threshold_of(75), f.names
    (0.75, ('EASI50', 'EASI75', 'EASI90'))
    """

    prefix: str
    thresholds: Mapping[str, float]
    description: str = ""
    source: str = field(default="", compare=False)

    def __post_init__(self):
        prefix = str(self.prefix).upper()
        if not re.fullmatch(r"[A-Z]{2,}", prefix):
            raise PkpdError(f"Endpoint family prefix must be two or more letters such as 'PASI', got {self.prefix!r}.")
        if not isinstance(self.thresholds, Mapping) or not self.thresholds:
            raise PkpdError(f"Endpoint family {prefix} needs thresholds, e.g. {{'{prefix}75': 0.75}}.")
        items = []
        for name, thr in self.thresholds.items():
            percent = _percent(prefix, name)
            thr = number(f"Endpoint {name} threshold", thr, above=0.0, below=1.0,
                         hint=" It is the minimum fractional improvement from baseline (PASI100 is a threshold "
                              "just below 1 because a latent improvement never reaches 1).")
            items.append((percent, f"{prefix}{percent}", thr))
        items.sort()
        for (pa, a, ta), (pb, b, tb) in zip(items, items[1:]):
            if pa == pb:
                raise PkpdError(f"Endpoint {a} is given twice in family {prefix}.")
            if not ta < tb:
                raise PkpdError(f"Endpoint thresholds out of order: {a} = {ta} must be below {b} = {tb}.")
        object.__setattr__(self, "prefix", prefix)
        object.__setattr__(self, "thresholds", FrozenMap({n: t for _, n, t in items}))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.thresholds)

    def percent(self, name: str) -> int:
        """The whole percentage an endpoint name carries ('PASI75' -> 75)."""
        return _percent(self.prefix, name)

    def threshold_of(self, percent: int) -> float:
        """The threshold of the family's endpoint with this percentage, else percent/100."""
        return self.thresholds.get(f"{self.prefix}{percent}", percent / 100.0)

    def select(self, names=None, owner: str = "this family") -> "EndpointFamily":
        """The family restricted to ``names`` (all when None), in threshold order.

        ``names`` may also map names to other thresholds. ``owner`` names the model in
        error messages.
        """
        if names is None:
            return self
        if isinstance(names, str):
            names = [names]
        if isinstance(names, Mapping):
            return EndpointFamily(self.prefix, names, self.description)
        from .._checks import names as _names
        names = _names("endpoints", names, f" {owner.capitalize()} defines {list(self.names)}.")
        if not names:
            raise PkpdError(f"Give at least one endpoint, e.g. {list(self.names)[:2]}.")
        unknown = [n for n in names if n not in self.thresholds]
        if unknown:
            raise PkpdError(f"Unknown endpoint {unknown[0]!r}; {owner} defines {list(self.names)}."
                            + nearest(unknown[0], self.names))
        return EndpointFamily(self.prefix, {n: self.thresholds[n] for n in names}, self.description)


def _percent(prefix: str, name) -> int:
    m = re.fullmatch(rf"{prefix}(\d+)", str(name))
    if not m:
        raise PkpdError(f"Unknown endpoint name {name!r}; endpoints of family {prefix} are named "
                        f"{prefix}<whole percent>, e.g. '{prefix}75'.")
    return int(m.group(1))


# -- registries ----------------------------------------------------------------------------

_RESPONSE_MODELS: dict = {}
_FAMILIES: dict[str, EndpointFamily] = {}


def register_response_model(model, *, replace: bool = False):
    """Make a response model available to model files as ``[pd] type = model.name``.

    ``model`` follows :class:`pkpd.ResponseModel`: a ``name``, ``parameters`` (a tuple
    of :class:`pkpd.ParameterSpec`), ``default_vary`` and the latent-trajectory methods.
    Its parameter names may not clash with PK names. Returns the model.
    """
    name = getattr(model, "name", None)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise PkpdError(f"A response model needs a `name` that is an identifier, got {name!r}.")
    specs = getattr(model, "parameters", None)
    if not isinstance(specs, tuple) or not all(isinstance(s, ParameterSpec) for s in specs):
        raise PkpdError(f"Response model {name!r}: `parameters` must be a tuple of ParameterSpec.")
    clash = [s.name for s in specs if s.name in PK_SPECS or s.name == REFERENCE_WEIGHT.name
             or s.name.startswith(("bsv_", "weight_exponent_"))]
    if clash:
        raise PkpdError(f"Response model {name!r}: parameter names {clash} are reserved for PK and variability.")
    unknown = [v for v in getattr(model, "default_vary", ()) if v not in {s.name for s in specs}]
    if unknown:
        raise PkpdError(f"Response model {name!r}: default_vary names {unknown}, which are not its parameters.")
    if name in _RESPONSE_MODELS and not replace and _RESPONSE_MODELS[name] is not model:
        raise PkpdError(f"A response model named {name!r} is already registered; pass replace=True to replace it.")
    _RESPONSE_MODELS[name] = model
    return model


def response_model(name: str):
    """The registered response model called ``name``."""
    if name not in _RESPONSE_MODELS:
        raise PkpdError(f"Unknown pd type {name!r}; registered response models: {sorted(_RESPONSE_MODELS)}."
                        + nearest(name, _RESPONSE_MODELS))
    return _RESPONSE_MODELS[name]


def response_models() -> dict:
    return dict(_RESPONSE_MODELS)


def register_endpoint_family(family: EndpointFamily, *, replace: bool = False) -> EndpointFamily:
    """Make an endpoint family's default thresholds available to model files by its prefix."""
    if not isinstance(family, EndpointFamily):
        raise PkpdError(f"register_endpoint_family takes an EndpointFamily, got {type(family).__name__}.")
    if family.prefix in _FAMILIES and not replace and _FAMILIES[family.prefix] != family:
        raise PkpdError(f"An endpoint family {family.prefix} is already registered; pass replace=True to replace it.")
    _FAMILIES[family.prefix] = family
    return family


def endpoint_family(prefix: str) -> EndpointFamily:
    key = str(prefix).upper()
    if key not in _FAMILIES:
        raise PkpdError(f"Unknown endpoint family {prefix!r}; registered: {sorted(_FAMILIES)}. Give the "
                        "thresholds in the model file instead, e.g. endpoints = { EASI75 = 0.75 }.")
    return _FAMILIES[key]


def endpoint_families() -> dict[str, EndpointFamily]:
    return dict(_FAMILIES)


# -- parameter definitions -----------------------------------------------------------------

def parameter_spec(name: str) -> ParameterSpec | None:
    """The definition of a parameter name, or None when nothing defines it."""
    if name in PK_SPECS:
        return PK_SPECS[name]
    if name == REFERENCE_WEIGHT.name:
        return REFERENCE_WEIGHT
    if name == TRIAL_SD.name:
        return TRIAL_SD
    if name.startswith("weight_exponent_") and name[16:] in WEIGHT_SCALED:
        return ParameterSpec(name, "1", REAL, f"exponent of body weight on {name[16:]}", individual=False)
    if name.startswith("bsv_"):
        target = parameter_spec(name[4:])
        if target is None or not target.individual:
            return None
        return ParameterSpec(name, "SD", NONNEGATIVE, f"between-subject variability of {target.name}",
                             individual=False, target=target)
    for model in _RESPONSE_MODELS.values():
        for spec in model.parameters:
            if spec.name == name:
                return spec
    return None
