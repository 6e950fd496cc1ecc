"""A model: PK structure, optional response model, one parameter table, population, endpoints."""

from __future__ import annotations

from dataclasses import dataclass, field, replace as dc_replace
from functools import cached_property
from typing import Mapping

from .._checks import nearest, number
from .._errors import PkpdError
from .._frozen import FrozenMap
from ._covariates import Correlation, Covariate, Effect, weight_distribution
from ._parameters import POSITIVE, REAL, ParameterSpec
from ._rows import Parameter
from ._registry import (ABSORPTIONS, ELIMINATIONS, ERROR_SPECS, NONMEM_DOSE_NAMES, PK_SPECS, STRUCTURES,
                        WEIGHT_SCALED, EndpointFamily, dose_parameters, parameter_spec, response_model)


@dataclass(frozen=True)
class Model:
    """A PK (and, with a ``pd`` type, PK/PD) model: structure plus parameter table.

    Use :func:`pkpd.load_model` to read one from a file or the library; ``model.values``
    gives the named values (internal units) and ``model.replace(CL=0.3)`` a changed copy.

    ``pd`` holds the response model's name (``{"type": "pasi_turnover"}``) and
    ``endpoints`` its endpoint family; ``error`` the residual error of observations
    (rows ``proportional`` and ``additive``, see :data:`pkpd.model._registry.ERROR_SPECS`);
    ``sources`` the text of the model file and of the files it builds on, so that a fit
    can carry the model with it; ``sha256`` their hash.

    Besides its structure's parameters, a model may give the dose parameters of its
    dosing compartments (``F_central``, ``tlag_central``, ``rate_central``,
    ``duration_central``; with a depot also ``rate_depot`` and ``duration_depot``; the
    depot's own F and lag are ``F`` and ``tlag``).
    """

    name: str
    structure: str = "1cmt"
    absorption: str = "first_order"
    elimination: str = "linear"
    parameters: tuple[Parameter, ...] = ()
    description: str = ""
    references: tuple[str, ...] = ()
    population: Mapping = field(default_factory=dict)
    pd: Mapping = field(default_factory=dict)
    endpoints: EndpointFamily | None = None
    priors: Mapping = field(default_factory=dict)
    error: tuple[Parameter, ...] = ()
    effects: tuple[Effect, ...] = ()
    correlations: tuple[Correlation, ...] = ()
    sources: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    path: str = ""
    sha256: str = ""

    def __post_init__(self):
        for what, value, allowed in (("structure", self.structure, STRUCTURES),
                                     ("absorption", self.absorption, ABSORPTIONS),
                                     ("elimination", self.elimination, ELIMINATIONS)):
            if value not in allowed:
                raise PkpdError(f"Model '{self.name}': unknown {what} {value!r}; allowed: {list(allowed)}."
                                + nearest(value, allowed))
        params = tuple(self.parameters)
        if not all(isinstance(p, Parameter) for p in params):
            raise PkpdError(f"Model '{self.name}': parameters must be Parameter objects.")
        object.__setattr__(self, "parameters", params)
        object.__setattr__(self, "pd", FrozenMap(dict(self.pd)))
        object.__setattr__(self, "population", FrozenMap(_covariates(self.name, self.population)))
        object.__setattr__(self, "effects", tuple(
            e.in_unit(self.population[e.covariate].unit) if isinstance(e, Effect) and e.covariate in self.population
            else e for e in self.effects))
        object.__setattr__(self, "correlations", tuple(self.correlations))
        object.__setattr__(self, "priors", FrozenMap(dict(self.priors)))
        if self.pd:
            response_model(self.pd.get("type"))  # raises for an unregistered type
            if self.endpoints is None:
                raise PkpdError(f"Model '{self.name}' has a response model but no endpoints; give "
                                "[pd] endpoints (a family such as \"PASI\" or thresholds such as { PASI75 = 0.75 }).")
        elif self.endpoints is not None:
            raise PkpdError(f"Model '{self.name}' has endpoints but no response model ([pd] type).")
        names = [p.name for p in params]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise PkpdError(f"Model '{self.name}': parameters given twice: {dupes}.")
        valid = self.valid_names
        for n in names:
            if n not in valid:
                raise PkpdError(f"Unknown parameter '{n}' for model '{self.name}'; valid names: "
                                f"{sorted(valid)}." + nearest(n, valid) + self._why_not(n))
        missing = [n for n in self.required_names if n not in names]
        if missing:
            raise PkpdError(f"Model '{self.name}' is missing parameters {missing} required by structure "
                            f"'{self.structure}', absorption '{self.absorption}', elimination "
                            f"'{self.elimination}'{', pd ' + repr(self.pd.get('type')) if self.pd else ''}.")
        unknown_priors = [n for n in self.priors if n not in names]
        if unknown_priors:
            raise PkpdError(f"Model '{self.name}': priors for {unknown_priors}, which are not in its parameter table "
                            f"{names}." + nearest(unknown_priors[0], names))
        error = tuple(self.error)
        for p in error:
            if not isinstance(p, Parameter) or p.name not in ERROR_SPECS:
                raise PkpdError(f"Model '{self.name}': [error] rows are {list(ERROR_SPECS)}, got "
                                f"{getattr(p, 'name', p)!r}." + nearest(getattr(p, "name", ""), ERROR_SPECS))
        object.__setattr__(self, "error", error)
        exps = [n for n in names if n.startswith("weight_exponent_")]
        if exps and "reference_weight" not in names:
            raise PkpdError(f"Model '{self.name}' has {exps} but no 'reference_weight' (kg) to scale by.")
        self._check_effects(names)

    def _check_effects(self, names) -> None:
        individual = [n for n in self.pk_names + self.pd_names if parameter_spec(n).individual]
        seen = set()
        for e in self.effects:
            if not isinstance(e, Effect):
                raise PkpdError(f"Model '{self.name}': effects must be Effect objects, got {e!r}.")
            if e.name in seen:
                raise PkpdError(f"Model '{self.name}': effect '{e.name}' is given twice.")
            seen.add(e.name)
            if e.parameter not in individual:
                raise PkpdError(f"Model '{self.name}', effect '{e.name}': '{e.parameter}' is not a parameter that "
                                f"varies between patients in this model; effects may act on {individual}."
                                + nearest(e.parameter, individual))
            if e.name not in names:
                raise PkpdError(f"Model '{self.name}': effect '{e.name}' has no value in the parameter table.")
            if e.name in self._structural_names:
                raise PkpdError(f"Model '{self.name}': effect '{e.name}' has the name of a model parameter; "
                                "name it after the parameter and the covariate, e.g. 'CL_weight'.")
        used = {e.covariate for e in self.effects} | {"weight"}
        for name in self.population:
            if name not in used:
                raise PkpdError(f"Model '{self.name}', [population]: covariate '{name}' acts on nothing."
                                + nearest(name, ["weight"]) + " Covariates other than weight need an [effects] "
                                "row that uses them.")
        for c in self.correlations:
            for name in (c.first, c.second):
                if name not in self.population:
                    raise PkpdError(f"Model '{self.name}': a correlation names covariate '{name}', which the "
                                    f"population does not have ({list(self.population)})."
                                    + nearest(name, list(self.population)))
            number(f"Model '{self.name}': correlation of {c.first} and {c.second}", c.value, above=-1, below=1)

    @property
    def covariate_effects(self) -> tuple[Effect, ...]:
        """Every covariate effect: the [effects] rows, and weight_exponent_X as the power of weight on X."""
        legacy = tuple(Effect(p.name, p.name[16:], "weight", "power", reference="reference_weight", source=p.source)
                       for p in self.parameters if p.name.startswith("weight_exponent_"))
        return legacy + self.effects

    def _why_not(self, name: str) -> str:
        if name in NONMEM_DOSE_NAMES:
            return (f" NONMEM's {name} is '{NONMEM_DOSE_NAMES[name]}' here (dose parameters are named by "
                    "compartment: the depot's F, tlag, rate_depot, duration_depot; the central compartment's "
                    "F_central, tlag_central, rate_central, duration_central).")
        if name.startswith("bsv_"):
            spec = parameter_spec(name[4:])
            if spec is not None and not spec.individual:
                return (f" '{name[4:]}' is one value for all patients in the engine, so it cannot carry "
                        "between-subject variability.")
        return ""

    # -- names ---------------------------------------------------------------------------
    @property
    def response(self):
        """The registered response model of ``pd['type']``, or None for a PK model."""
        return response_model(self.pd["type"]) if self.pd else None

    def select_endpoints(self, names=None) -> EndpointFamily:
        """This model's endpoints, or those of ``names`` (a list, or {name: threshold})."""
        if self.endpoints is None:
            raise PkpdError(f"Model '{self.name}' has no endpoints; it has no response model ([pd]).")
        return self.endpoints.select(names, owner=f"model '{self.name}'")

    @cached_property
    def pk_names(self) -> tuple[str, ...]:
        """The structure's PK parameters, then the optional dose parameters this model gives
        (computed once: a model does not change)."""
        given = {p.name for p in self.parameters}
        return (STRUCTURES[self.structure] + ABSORPTIONS[self.absorption] + ELIMINATIONS[self.elimination]
                + tuple(n for n in dose_parameters(self.absorption) if n in given))

    @property
    def dose_parameter_names(self) -> tuple[str, ...]:
        """Optional dose parameters a file of this structure may give (given or not)."""
        return dose_parameters(self.absorption)

    @property
    def error_values(self) -> dict[str, float]:
        """Residual error SDs by name ('proportional', 'additive'), 0 for a part not given."""
        out = {name: 0.0 for name in ERROR_SPECS}
        out.update({p.name: p.value for p in self.error})
        return out

    @property
    def pd_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.response.parameters) if self.pd else ()

    def spec(self, name: str):
        """The definition (unit, domain, transform) of one of this model's parameter names."""
        if name not in self.valid_names:
            raise PkpdError(f"Unknown parameter '{name}' for model '{self.name}'; valid names: "
                            f"{sorted(self.valid_names)}." + nearest(name, self.valid_names))
        for e in self.effects:
            if e.name == name:
                return effect_spec(e)
        return parameter_spec(name)

    @property
    def required_names(self) -> tuple[str, ...]:
        return tuple(n for n in self.pk_names + self.pd_names if parameter_spec(n).default is None)

    @property
    def _structural_names(self) -> set[str]:
        base = self.pk_names + self.pd_names
        valid = set(base) | {"reference_weight"} | set(self.dose_parameter_names)
        valid |= {f"bsv_{n}" for n in base if parameter_spec(n).individual}
        valid |= {f"weight_exponent_{n}" for n in WEIGHT_SCALED if n in base}
        if self.pd:
            valid.add("omega_trial")
        return valid

    @property
    def valid_names(self) -> set[str]:
        return self._structural_names | {e.name for e in self.effects}

    @property
    def is_linear(self) -> bool:
        return self.elimination == "linear"

    @property
    def weight_effects(self) -> tuple[str, ...]:
        """Names of the parameters that change with body weight."""
        return tuple(dict.fromkeys(e.parameter for e in self.covariate_effects if e.covariate == "weight"))

    # -- values --------------------------------------------------------------------------
    @property
    def values(self) -> dict[str, float]:
        """Named parameter values (internal units), including defaults of optional parameters left out."""
        out = {n: PK_SPECS[n].default for n in self.pk_names if PK_SPECS[n].default is not None}
        for n in self.pd_names:
            default = parameter_spec(n).default
            if default is not None:
                out[n] = default
        out.update({p.name: p.value for p in self.parameters})
        return out

    def __getitem__(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        names = [p.name for p in self.parameters]
        raise PkpdError(f"Unknown parameter {name!r} for model '{self.name}'; valid names: {names}."
                        + nearest(name, names))

    def replace(self, values: Mapping[str, float] | None = None, **kwargs) -> "Model":
        """A copy with some parameter values changed (internal units); unknown names raise.

        Examples
        --------
        >>> from pkpd import load_model
        >>> m = load_model("ustekinumab_pk")
        >>> m.replace(CL=0.3).values["CL"]
        0.3
        >>> m.replace(CLL=0.3)
        Traceback (most recent call last):
        ...
        pkpd._errors.PkpdError: Unknown parameter 'CLL' for model 'ustekinumab_pk'; valid names: ['CL', 'CL_diabetes', 'F', 'F_central', 'V', 'bsv_CL', 'bsv_V', 'duration_central', 'duration_depot', 'ka', 'rate_central', 'rate_depot', 'reference_weight', 'tlag', 'tlag_central', 'weight_exponent_CL', 'weight_exponent_V']. Did you mean 'CL'?
        """
        from .._checks import mapping
        updates = dict(mapping("values", values, " Give {name: value}, e.g. {'CL': 0.3}."), **kwargs)
        params = list(self.parameters)
        known = {p.name for p in params}
        optional = {n for n in self.pk_names + self.pd_names if parameter_spec(n).default is not None}
        optional |= set(self.dose_parameter_names)
        for name, value in updates.items():
            if name not in known:
                if name in optional:
                    spec = parameter_spec(name)
                    params.append(Parameter(name, value, spec.unit, source="Model.replace"))
                    known.add(name)
                    continue
                allowed = sorted(known | optional)
                raise PkpdError(f"Unknown parameter '{name}' for model '{self.name}'; valid names: {allowed}."
                                + nearest(name, allowed) + self._why_not(name))
        params = [dc_replace(p, value=updates[p.name], unit=p.unit, lower=p.lower, upper=p.upper, given="")
                  if p.name in updates else p for p in params]
        return dc_replace(self, parameters=tuple(params))


def effect_spec(effect: Effect) -> ParameterSpec:
    """The definition of an effect's strength: an exponent (any real) or a factor (positive)."""
    if effect.form == "power":
        return ParameterSpec(effect.name, "1", REAL, f"exponent of {effect.covariate} on {effect.parameter}",
                             individual=False)
    return ParameterSpec(effect.name, "1", POSITIVE, f"factor on {effect.parameter} ({effect.describe()})",
                         individual=False)


def _covariates(model: str, population: Mapping) -> dict:
    """{name: Covariate}; a weight given as {median, cv, source} (pkpd 0.1's form) is converted."""
    out = {}
    for name, c in dict(population).items():
        if isinstance(c, Mapping) and name == "weight" and {"median", "cv"} <= set(c):
            c = weight_distribution(c["median"], c["cv"], c.get("source", ""))
        if not isinstance(c, Covariate):
            raise PkpdError(f"Model '{model}': population entry '{name}' must be a Covariate, got {c!r}.")
        if c.name != name:
            c = Covariate(name, c.distribution, c.location, c.spread, c.unit, c.source, c.lower, c.upper)
        out[name] = c
    if "weight" in out and out["weight"].unit != "kg":
        raise PkpdError(f"Model '{model}': body weight is in kg (got unit {out['weight'].unit!r}).")
    return out
