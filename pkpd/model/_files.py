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
from ._model import Model
from ._priors import prior_from_row
from ._rows import Parameter
from ._registry import ERROR_SPECS, EndpointFamily, endpoint_family, parameter_spec

MODEL_KEYS = ("name", "description", "references", "structure", "absorption", "elimination", "pk_model")
ROW_KEYS = ("value", "unit", "description", "source", "lower", "upper", "assumption")
SECTIONS = ("model", "parameters", "population", "pd", "priors", "error")
POPULATION_KEYS = ("weight",)
WEIGHT_KEYS = ("median", "cv", "unit", "source")
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


def _population(section, where: str) -> dict:
    if not isinstance(section, Mapping):
        raise PkpdError(f"{where}: [population] must be a table.")
    _unknown_keys(f"{where}, [population]", "key", section, POPULATION_KEYS)
    out = {}
    if "weight" in section:
        spec = section["weight"]
        at = f"{where}, [population] weight"
        if not isinstance(spec, Mapping):
            raise PkpdError(f"{at} must be a table such as {{ median = 90, cv = 0.22, unit = \"kg\", source = \"...\" }}.")
        _unknown_keys(at, "field", spec, WEIGHT_KEYS)
        for key in ("median", "cv", "unit", "source"):
            if key not in spec:
                raise PkpdError(f"{at} needs `{key}`.")
        from .. import _units
        try:
            factor = _units.conversion_factor(_text(at, "unit", spec["unit"]).strip(), "kg")
        except PkpdError as err:
            raise PkpdError(f"{at}: {err}.") from None
        out["weight"] = {"median": number(f"{at}: median", spec["median"], above=0) * factor,
                         "cv": number(f"{at}: cv", spec["cv"], minimum=0),
                         "source": _text(at, "source", spec["source"], required=True)}
    return out


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
    table = data.get("parameters")
    if not isinstance(table, Mapping) or not table:
        raise PkpdError(f"{where}: needs a [parameters] table.")
    params = tuple(_row(n, row, where) for n, row in table.items())
    population = _population(data.get("population", {}), where)
    error = _error(data.get("error", {}), where)
    pd = data.get("pd", {})
    if not isinstance(pd, Mapping):
        raise PkpdError(f"{where}: [pd] must be a table.")
    endpoints = None
    if pd:
        _unknown_keys(f"{where}, [pd]", "key", pd, PD_KEYS)
        _text(f"{where}, [pd]", "type", pd.get("type"), required=True)
        endpoints = _endpoints(pd, where)
    structure = {k: _text(f"{where}, [model]", k, head.get(k, DEFAULT_STRUCTURE[k])) for k in STRUCTURE_KEYS}
    priors_section = data.get("priors", {})
    if not isinstance(priors_section, Mapping):
        raise PkpdError(f"{where}: [priors] must be a table of parameter = {{ distribution = ..., ... }}.")
    priors = {name: prior_from_row(name, row, parameter_spec(name), where) for name, row in priors_section.items()}
    digest = hashlib.sha256(raw)
    texts = ((key, text),)
    if "pk_model" in head:
        # A PD model file names the PK model it builds on; the PK file's structure,
        # parameter table and population come along, and both files enter the hash.
        ref = _text(f"{where}, [model]", "pk_model", head["pk_model"])
        base_raw, base_origin, base_sources, base_key = sources.find(ref)
        if base_origin in chain + (origin,):
            raise PkpdError(f"{where}: pk_model {ref!r} leads back to {base_origin}; model files may not "
                            f"name each other in a circle ({' -> '.join(chain + (origin, base_origin))}).")
        base = _build(base_raw, base_origin, base_sources, base_key, chain + (origin,))
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
        priors = {**base.priors, **priors}
        digest.update(base.sources[0][1].encode("utf-8"))
        texts += tuple((ref if k == base_key else k, t) for k, t in base.sources)
    try:
        return Model(name=name, **structure, parameters=params,
                     description=_text(f"{where}, [model]", "description", head.get("description")),
                     references=tuple(references), population=population, pd=dict(pd), endpoints=endpoints,
                     priors=priors, error=error,
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
