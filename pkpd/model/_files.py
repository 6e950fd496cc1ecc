"""Model files (TOML): one schema-checked structure and parameter table per file.

A model file reads like mrgsolve's ``$PARAM`` block::

    [model]
    name = "ustekinumab_pk"
    structure = "1cmt"            # "1cmt" | "2cmt"
    absorption = "first_order"    # "first_order" (SC doses into a depot with ka, F, tlag) | "none"
    elimination = "linear"        # "linear" | "michaelis_menten" | "tmdd_qss"

    [parameters]
    CL     = { value = 0.266, unit = "L/day", description = "clearance", source = "Zhu 2009" }
    bsv_CL = { value = 0.41,  unit = "CV",    description = "between-subject variability", source = "Zhu 2009" }

    [population]
    weight = { median = 90, cv = 0.22, unit = "kg", source = "..." }

    [error]     # optional: residual error of observations, DV = C (1 + e1) + e2
    proportional = { value = 0.15, unit = "1",    source = "..." }   # SD of e1
    additive     = { value = 0.01, unit = "mg/L", source = "..." }   # SD of e2

Dose parameters of a dosing compartment (NONMEM's F, ALAG, R, D) are rows of the
parameter table like any other: ``F_central``, ``tlag_central``, ``rate_central``,
``duration_central``, and with a depot ``rate_depot``, ``duration_depot`` (the depot's F
and lag are ``F`` and ``tlag``).

A PD model file names the PK model it builds on (``pk_model``, a library name or a path
next to the file) and adds ``[pd]`` with the response model ``type`` and its
``endpoints``: a registered family (``"PASI"``) or thresholds (``{ PASI75 = 0.75 }``).

Every section and field is checked: unknown keys are refused with the nearest valid
name, values must be numbers (not ``true``), units are converted to the internal units
(:mod:`pkpd._units`) and refused when of the wrong dimension, and ``bsv_X`` is allowed
only where the engine individualises X. Rows need a ``source``; mark a value that is not
from the cited source ``assumption = true``.
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from pathlib import Path
from typing import Mapping

from .._checks import nearest, number
from .._errors import PkpdError
from . import _library
from ._covariates import FORMS, Correlation, Covariate, Effect
from ._model import Model
from ._priors import prior_from_row
from ._rows import Parameter
from ._registry import ERROR_SPECS, EndpointFamily, endpoint_family, parameter_spec

MODEL_KEYS = ("name", "description", "references", "structure", "absorption", "elimination", "pk_model", "extends",
              "drop")
ROW_KEYS = ("value", "unit", "description", "source", "lower", "upper", "assumption")
SECTIONS = ("model", "parameters", "population", "effects", "pd", "priors", "error")
COVARIATE_KEYS = ("distribution", "median", "cv", "mean", "sd", "proportion", "unit", "source")
CORRELATION_KEYS = ("between", "value", "source")
EFFECT_KEYS = ("parameter", "covariate", "form", "reference", "threshold") + ROW_KEYS
PD_KEYS = ("type", "endpoints")
STRUCTURE_KEYS = ("structure", "absorption", "elimination")
DEFAULT_STRUCTURE = {"structure": "1cmt", "absorption": "first_order", "elimination": "linear"}


def _unknown_keys(where: str, what: str, keys, allowed) -> None:
    for key in keys:
        if key not in allowed:
            raise PkpdError(f"{where}: unknown {what} {key!r}.{nearest(key, allowed)} Allowed: {list(allowed)}.")


def _text(where: str, key: str, value, required: bool = False) -> str:
    if value is None:
        if required:
            raise PkpdError(f"{where}: `{key}` is required.")
        return ""
    if not isinstance(value, str):
        raise PkpdError(f"{where}: `{key}` must be text, got {value!r}.")
    return value


def _row(name: str, row, where: str, spec=None, what: str = "parameter") -> Parameter:
    at = f"{where}, {what} '{name}'"
    if not isinstance(row, Mapping):
        raise PkpdError(f"{at} must be a table such as "
                        f"{{ value = 1.0, unit = \"L/day\", source = \"...\" }}, got {row!r}.")
    _unknown_keys(at, "field", row, ROW_KEYS)
    if "value" not in row:
        raise PkpdError(f"{at} has no value.")
    for key in ("value", "lower", "upper"):
        if key in row:
            number(f"{at}: {key}", row[key])  # refuses true, text and nan with the row named
    if "unit" not in row:
        known = spec if spec is not None else parameter_spec(name)
        hint = f" (e.g. unit = \"{known.unit}\")" if known is not None else ""
        raise PkpdError(f"{at} gives no unit{hint}; every row states its unit.")
    source = _text(at, "source", row.get("source"))
    if not source.strip():
        raise PkpdError(f"{at} names no source. Give the paper, or mark it "
                        "`assumption = true` with a source that says why.")
    assumption = row.get("assumption", False)
    if not isinstance(assumption, bool):
        raise PkpdError(f"{at}: `assumption` must be true or false, got {assumption!r}.")
    try:
        return Parameter(name=name, value=row["value"], unit=_text(at, "unit", row["unit"]),
                         description=_text(at, "description", row.get("description")), source=source,
                         lower=row.get("lower", -math.inf), upper=row.get("upper", math.inf), assumption=assumption,
                         spec=spec)
    except PkpdError as err:
        message = str(err)
        raise PkpdError(message if message.startswith(where) else f"{where}: {message}") from None


def _population(section, where: str) -> tuple[dict, tuple]:
    """The [population] section: ({name: Covariate}, correlations)."""
    if not isinstance(section, Mapping):
        raise PkpdError(f"{where}: [population] must be a table.")
    out = {}
    for name, spec in section.items():
        if name == "correlations":
            continue
        out[name] = _covariate(name, spec, f"{where}, [population] {name}")
    return out, _correlations(section.get("correlations", []), f"{where}, [population] correlations")


def _covariate(name: str, spec, at: str) -> Covariate:
    from .. import _units
    if not isinstance(spec, Mapping):
        raise PkpdError(f"{at} must be a table such as {{ median = 90, cv = 0.22, unit = \"kg\", source = \"...\" }} "
                        "(log-normal), { mean = 46, sd = 13, unit = \"year\", source = \"...\" } (normal) or "
                        "{ proportion = 0.12, source = \"...\" } (0/1).")
    _unknown_keys(at, "field", spec, COVARIATE_KEYS)
    source = _text(at, "source", spec.get("source"))
    if not source.strip():
        raise PkpdError(f"{at} names no source; say where the distribution comes from (or why, as an ASSUMPTION).")
    given = {k for k in ("median", "cv", "mean", "sd", "proportion") if k in spec}
    kinds = {"lognormal": {"median", "cv"}, "normal": {"mean", "sd"}, "bernoulli": {"proportion"}}
    distribution = spec.get("distribution")
    if distribution is None:
        matches = [d for d, keys in kinds.items() if given == keys]
        if not matches:
            raise PkpdError(f"{at}: give median and cv (log-normal), mean and sd (normal) or proportion (0/1); "
                            f"got {sorted(given)}.")
        distribution = matches[0]
    elif distribution not in kinds:
        raise PkpdError(f"{at}: unknown distribution {distribution!r}; allowed: {list(kinds)}."
                        + nearest(str(distribution), kinds))
    elif given != kinds[distribution]:
        raise PkpdError(f"{at}: a {distribution} distribution takes {sorted(kinds[distribution])}; got {sorted(given)}.")
    values = {k: number(f"{at}: {k}", spec[k]) for k in given}
    if distribution == "bernoulli":
        if "unit" in spec and spec["unit"] not in ("1", ""):
            raise PkpdError(f"{at}: a proportion's covariate is 0 or 1 (no unit), got unit {spec['unit']!r}.")
        return Covariate(name, "bernoulli", number(f"{at}: proportion", values["proportion"], minimum=0, maximum=1),
                         unit="1", source=source)
    unit = _text(at, "unit", spec.get("unit"), required=True).strip()
    if name == "weight":
        try:
            factor = _units.conversion_factor(unit, "kg")
        except PkpdError as err:
            raise PkpdError(f"{at}: {err}.") from None
        unit = "kg"
    else:
        try:
            _units.check_unit(unit)
        except PkpdError as err:
            raise PkpdError(f"{at}: {err}.") from None
        factor = 1.0
    if distribution == "lognormal":
        median = number(f"{at}: median", values["median"], above=0) * factor
        cv = number(f"{at}: cv", values["cv"], minimum=0)
        return Covariate(name, "lognormal", median, math.sqrt(math.log1p(cv * cv)), unit, source)
    return Covariate(name, "normal", values["mean"] * factor, number(f"{at}: sd", values["sd"], minimum=0) * factor,
                     unit, source)


def _correlations(rows, at: str) -> tuple:
    if not isinstance(rows, list):
        raise PkpdError(f"{at} must be a list such as [ {{ between = [\"weight\", \"diabetes\"], value = 0.3, "
                        "source = \"...\" } ].")
    out = []
    for i, row in enumerate(rows):
        here = f"{at}, entry {i + 1}"
        if not isinstance(row, Mapping):
            raise PkpdError(f"{here} must be a table with between, value and source.")
        _unknown_keys(here, "field", row, CORRELATION_KEYS)
        pair = row.get("between")
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)
                and pair[0] != pair[1]):
            raise PkpdError(f"{here}: `between` must name two different covariates, e.g. [\"weight\", \"diabetes\"].")
        value = number(f"{here}: value", row.get("value"), above=-1, below=1)
        source = _text(here, "source", row.get("source"))
        if not source.strip():
            raise PkpdError(f"{here} names no source.")
        out.append(Correlation(pair[0], pair[1], value, source))
    return tuple(out)


def _effects(section, where: str) -> tuple[tuple[Effect, ...], tuple[Parameter, ...]]:
    """The [effects] section: the effects and the parameter rows holding their strengths."""
    from .. import _units
    from ._model import effect_spec
    if not isinstance(section, Mapping):
        raise PkpdError(f"{where}: [effects] must be a table of rows such as CL_weight = {{ parameter = \"CL\", "
                        "covariate = \"weight\", form = \"power\", reference = 90, unit = \"kg\", value = 0.75, "
                        "source = \"...\" }.")
    effects, rows = [], []
    for name, row in section.items():
        at = f"{where}, effect '{name}'"
        if not isinstance(row, Mapping):
            raise PkpdError(f"{at} must be a table.")
        _unknown_keys(at, "field", row, EFFECT_KEYS)
        for key in ("parameter", "covariate", "form", "value", "source"):
            if key not in row:
                raise PkpdError(f"{at} needs `{key}`.")
        form = _text(at, "form", row["form"])
        if form not in FORMS:
            raise PkpdError(f"{at}: unknown form {form!r}; allowed: {list(FORMS)}." + nearest(form, FORMS))
        covariate = _text(at, "covariate", row["covariate"])
        reference = threshold = None
        cut = "reference" if form == "power" else "threshold" if form == "above" else None
        for key in ("reference", "threshold"):
            if key in row and key != cut:
                raise PkpdError(f"{at}: `{key}` does not go with form {form!r}.")
        unit = _text(at, "unit", row.get("unit", "")).strip()
        if cut is not None and cut in row:
            x = number(f"{at}: {cut}", row[cut])
            if cut == "reference":
                reference = number(f"{at}: reference", x, above=0)
            else:
                threshold = x
        try:
            _units.check_unit(unit)
            effect = Effect(name, _text(at, "parameter", row["parameter"]), covariate, form, reference=reference,
                            threshold=threshold, unit=unit, source=_text(at, "source", row["source"]))
        except PkpdError as err:
            raise PkpdError(f"{where}: {err}") from None
        effects.append(effect)
        strength = {k: row[k] for k in ROW_KEYS if k in row and k != "unit"}
        rows.append(_row(name, dict(strength, unit="1"), where, spec=effect_spec(effect), what="effect"))
    return tuple(effects), tuple(rows)


def _error(section, where: str) -> tuple[Parameter, ...]:
    """The [error] rows: residual error SDs with units and sources, like parameter rows."""
    if not isinstance(section, Mapping):
        raise PkpdError(f"{where}: [error] must be a table of rows such as "
                        "proportional = { value = 0.15, unit = \"1\", source = \"...\" }.")
    _unknown_keys(f"{where}, [error]", "row", section, tuple(ERROR_SPECS))
    return tuple(_row(name, row, where, spec=ERROR_SPECS[name], what="[error] row") for name, row in section.items())


def _endpoints(pd: Mapping, where: str) -> EndpointFamily:
    spec = pd.get("endpoints")
    at = f"{where}, [pd] endpoints"
    if spec is None:
        raise PkpdError(f"{at} is required: a registered family such as \"PASI\", or thresholds such as "
                        "{ PASI75 = 0.75, PASI90 = 0.90 }.")
    if isinstance(spec, str):
        try:
            return endpoint_family(spec)
        except PkpdError as err:
            raise PkpdError(f"{at}: {err}") from None
    if not isinstance(spec, Mapping) or not spec:
        raise PkpdError(f"{at} must be a family name or a table of thresholds, got {spec!r}.")
    prefixes = {str(k).rstrip("0123456789") for k in spec}
    if len(prefixes) != 1:
        raise PkpdError(f"{at}: endpoints must share one family prefix, got {sorted(prefixes)}.")
    try:
        return EndpointFamily(prefixes.pop(), dict(spec))
    except PkpdError as err:
        raise PkpdError(f"{at}: {err}") from None


def _named_model(head, field: str, where: str, origin: str, sources, chain: tuple[str, ...]):
    """The model a file names in ``[model] field`` (``pk_model`` or ``extends``), built, with the
    name as written and the key of its source; a chain of files that leads back to one of them
    is refused."""
    ref = _text(f"{where}, [model]", field, head[field])
    base_raw, base_origin, base_sources, base_key = sources.find(ref)
    if base_origin in chain + (origin,):
        raise PkpdError(f"{where}: {field} {ref!r} leads back to {base_origin}; model files may not name each other "
                        f"in a circle ({' -> '.join(chain + (origin, base_origin))}).")
    return _build(base_raw, base_origin, base_sources, base_key, chain + (origin,)), ref, base_key


def _extend(head, where, origin, sources, chain, key, text, digest, name, references, params, population,
            correlations, effects, priors, error, pd, endpoints, data) -> Model:
    """A model file that ``extends`` another: everything of that model, with this file's
    response type, endpoints, rows, covariates, effects and priors replacing or adding to
    its own, and the rows named in ``drop`` removed."""
    if "pk_model" in head or any(k in head for k in STRUCTURE_KEYS):
        raise PkpdError(f"{where}: a file that extends another takes its PK model and structure from it; remove "
                        f"{[k for k in ('pk_model',) + STRUCTURE_KEYS if k in head]}.")
    base, ref, base_key = _named_model(head, "extends", where, origin, sources, chain)
    drop = head.get("drop", [])
    if not isinstance(drop, list) or not all(isinstance(d, str) for d in drop):
        raise PkpdError(f"{where}, [model]: `drop` must be a list of parameter names.")
    have = [p.name for p in base.parameters]
    for d in drop:
        if d not in have:
            raise PkpdError(f"{where}, [model]: `drop` names {d!r}, which '{base.name}' does not have."
                            + nearest(d, have))
    mine = {p.name for p in params}
    kept = tuple(p for p in base.parameters if p.name not in mine and p.name not in drop)
    new_effects = {e.name: e for e in base.effects}
    new_effects.update({e.name: e for e in effects})
    if pd:
        pd = {**base.pd, **pd}
        endpoints = endpoints if "endpoints" in data.get("pd", {}) else base.endpoints
    digest.update(base.sha256.encode("utf-8"))
    texts = ((key, text),) + tuple((ref if k == base_key else k, t) for k, t in base.sources)
    try:
        return Model(name=name, structure=base.structure, absorption=base.absorption, elimination=base.elimination,
                     parameters=kept + params,
                     description=_text(f"{where}, [model]", "description", head.get("description")) or base.description,
                     references=tuple(base.references) + tuple(references),
                     population={**base.population, **population}, pd=pd or dict(base.pd),
                     endpoints=endpoints if pd else base.endpoints,
                     priors={k: v for k, v in {**base.priors, **priors}.items() if k not in drop},
                     error=base.error + error, effects=tuple(new_effects.values()),
                     correlations=base.correlations + correlations, sources=texts, path=origin,
                     sha256=digest.hexdigest())
    except PkpdError as err:
        raise PkpdError(f"{where}: {err}") from None


class _Sources:
    """Where ``pk_model`` references are looked up: next to a file, then paths, then the library;
    or, for a model carried in a fit file, among the texts it carries."""

    def __init__(self, folder: Path | None = None, texts: Mapping[str, str] | None = None, library: bool = False):
        self.folder, self.texts, self.library = folder, texts, library

    def find(self, ref: str) -> tuple[bytes, str, "_Sources", str]:
        """(bytes, origin, sources for its own references, key) of a referenced model file."""
        if self.texts is not None:
            for key in (ref, Path(ref).stem):
                if key in self.texts:
                    return self.texts[key].encode("utf-8"), f"embedded:{key}", self, key
            raise PkpdError(f"pk_model {ref!r} is not among the model files carried here: {sorted(self.texts)}.")
        if self.library:  # a library model builds on library models only
            raw, origin = _library.read("models", ref)
            return raw, origin, self, ref
        candidates = []
        if self.folder is not None:
            candidates += [self.folder / ref, self.folder / f"{ref}.toml"]
        candidates.append(Path(ref))
        for path in candidates:
            if path.is_file():
                return path.read_bytes(), str(path), _Sources(path.parent), path.stem
        if _library.has("models", ref):
            raw, origin = _library.read("models", ref)
            return raw, origin, _Sources(library=True), ref
        raise PkpdError(f"pk_model {ref!r} is neither a file (next to the model file or as given) nor a library "
                        f"model; library models: {_library.names('models')}.")


def _build(raw: bytes, origin: str, sources: _Sources, key: str, chain: tuple[str, ...]) -> Model:
    where = f"Model file {origin}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PkpdError(f"{where} is not UTF-8 text (byte {err.start}); save it as UTF-8.") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise PkpdError(f"{where} is not valid TOML: {err}.") from None
    _unknown_keys(where, "section", data, SECTIONS)
    head = data.get("model")
    if not isinstance(head, Mapping):
        raise PkpdError(f"{where}: needs a [model] section with at least `name`.")
    _unknown_keys(f"{where}, [model]", "key", head, MODEL_KEYS)
    name = _text(f"{where}, [model]", "name", head.get("name"), required=True)
    references = head.get("references", [])
    if not isinstance(references, list) or not all(isinstance(r, str) for r in references):
        raise PkpdError(f"{where}, [model]: `references` must be a list of text.")
    table = data.get("parameters", {} if "extends" in head else None)
    if not isinstance(table, Mapping) or (not table and "extends" not in head):
        raise PkpdError(f"{where}: needs a [parameters] table.")
    params = tuple(_row(n, row, where) for n, row in table.items())
    population, correlations = _population(data.get("population", {}), where)
    effects, effect_rows = _effects(data.get("effects", {}), where)
    params += effect_rows
    effect_specs = {e.name: row.spec for e, row in zip(effects, effect_rows)}
    error = _error(data.get("error", {}), where)
    pd = data.get("pd", {})
    if not isinstance(pd, Mapping):
        raise PkpdError(f"{where}: [pd] must be a table.")
    endpoints = None
    if pd:
        _unknown_keys(f"{where}, [pd]", "key", pd, PD_KEYS)
        extending = "extends" in head
        _text(f"{where}, [pd]", "type", pd.get("type"), required=not extending)
        if not extending or "endpoints" in pd:
            endpoints = _endpoints(pd, where)
    structure = {k: _text(f"{where}, [model]", k, head.get(k, DEFAULT_STRUCTURE[k])) for k in STRUCTURE_KEYS}
    priors_section = data.get("priors", {})
    if not isinstance(priors_section, Mapping):
        raise PkpdError(f"{where}: [priors] must be a table of parameter = {{ distribution = ..., ... }}.")
    priors = {name: prior_from_row(name, row, effect_specs.get(name) or parameter_spec(name), where)
              for name, row in priors_section.items()}
    digest = hashlib.sha256(raw)
    texts = ((key, text),)
    if "extends" in head:
        return _extend(head, where, origin, sources, chain, key, text, digest, name, references, params, population,
                       correlations, effects, priors, error, dict(pd), endpoints, data)
    if "drop" in head:
        raise PkpdError(f"{where}, [model]: `drop` removes rows of the model this file extends; it goes with "
                        "`extends`.")
    if "pk_model" in head:
        # A PD model file names the PK model it builds on; the PK file's structure,
        # parameter table and population come along, and both files enter the hash.
        base, ref, base_key = _named_model(head, "pk_model", where, origin, sources, chain)
        clash = [k for k in STRUCTURE_KEYS if k in head]
        if clash:
            raise PkpdError(f"{where}: {clash} come from pk_model '{base.name}'; remove them here.")
        twice = sorted({p.name for p in params} & {p.name for p in base.parameters})
        if twice:
            raise PkpdError(f"{where}: parameters {twice} are already in pk_model '{base.name}' "
                            f"({base.path}); change them there, or with Model.replace().")
        structure = dict(structure=base.structure, absorption=base.absorption, elimination=base.elimination)
        params = base.parameters + params
        twice = sorted({p.name for p in error} & {p.name for p in base.error})
        if twice:
            raise PkpdError(f"{where}: [error] rows {twice} are already in pk_model '{base.name}' "
                            f"({base.path}); change them there.")
        error = base.error + error
        references = list(base.references) + references
        population = {**base.population, **population}
        correlations = base.correlations + correlations
        effects = base.effects + effects
        priors = {**base.priors, **priors}
        digest.update(base.sources[0][1].encode("utf-8"))
        texts += tuple((ref if k == base_key else k, t) for k, t in base.sources)
    try:
        return Model(name=name, **structure, parameters=params,
                     description=_text(f"{where}, [model]", "description", head.get("description")),
                     references=tuple(references), population=population, pd=dict(pd), endpoints=endpoints,
                     priors=priors, error=error, effects=effects, correlations=correlations,
                     sources=texts, path=origin, sha256=digest.hexdigest())
    except PkpdError as err:
        raise PkpdError(f"{where}: {err}") from None


def load_model(source) -> Model:
    """Read a model: a path to a TOML file, or the name of a library model.

    Examples
    --------
    >>> m = load_model("ustekinumab_pk")
    >>> m.values["CL"], m["CL"].unit
    (0.26598, 'L/day')
    """
    if isinstance(source, Model):
        return source
    raw, origin, name = _library.locate("models", source, "a path to a .toml file")
    sources = _Sources(library=True) if name else _Sources(Path(origin).parent)
    return _build(raw, origin, sources, name or Path(origin).stem, ())


def model_from_sources(texts: Mapping[str, str], key: str, origin: str = "") -> Model:
    """Rebuild a model from the file texts it was made from (as a fit file carries them)."""
    if key not in texts:
        raise PkpdError(f"Model text {key!r} is missing; carried: {sorted(texts)}.")
    return _build(texts[key].encode("utf-8"), origin or f"embedded:{key}", _Sources(texts=texts), key, ())
