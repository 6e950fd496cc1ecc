"""Fit results: one frozen type for a fresh fit and a loaded one, its report and its file.

A fit file (JSON, format ``pkpd-fit/3``) carries everything needed to use the fit
anywhere: the text of the model files and of the trial table it was fitted to (with
their SHA-256), the estimates, the covariance on the fit scale, the profile intervals,
the settings of the integration design and the optimiser, and the versions of pkpd,
numpy, scipy and lmfit that made it. :func:`load_fit` rebuilds the model from the text it
carries and refuses a file whose model text no longer matches its recorded hash.

Floats are written with every digit (JSON round-trips them exactly), so a loaded fit
predicts the fitted rates bit for bit on the machine that made it. Rerunning the fit
with the same library versions on the same machine writes the same bytes; other
versions or processors can change the last digits of the estimates (the optimiser stops
at a relative tolerance of 1e-14 on the deviance) and the recorded versions.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from .._frozen import FrozenMap
from typing import Mapping

import numpy as np
import pandas as pd

from .._errors import PkpdError
from .._version import __version__
from ..model import TRANSFORMS_BY_NAME, library, model_from_sources
from .._io import check_output, write_atomic
from ._trial import TrialData, trial_from_text

FIT_FORMAT = "pkpd-fit/3"


def _versions() -> dict:
    import numpy
    import scipy
    out = {"pkpd": __version__, "numpy": numpy.__version__, "scipy": scipy.__version__,
           "python": sys.version.split()[0]}
    try:
        from importlib.metadata import version
        out["lmfit"] = version("lmfit")
    except Exception:  # pragma: no cover - lmfit is a dependency
        out["lmfit"] = "unknown"
    return out


@dataclass(frozen=True, eq=False)
class FitResult:
    """A fitted model: estimates, uncertainty, fit quality and the settings that made it.

    The same type serves a fresh fit (:func:`pkpd.fit`) and a loaded one
    (:func:`pkpd.load_fit`). ``model`` carries the fitted values; ``covariance`` is a
    DataFrame labelled by parameter on the fit scale (``transforms`` names each scale);
    ``report()`` prints the summary; ``save(path)`` writes the fit file.
    """

    model: object
    trial: TrialData
    varying: tuple[str, ...]
    transforms: Mapping[str, str]
    settings: Mapping
    minus2ll: float
    start_minus2ll: tuple[float, ...]
    covariance: pd.DataFrame | None
    profile: Mapping
    warnings: tuple[str, ...]
    fitted_rates: pd.DataFrame
    versions: Mapping[str, str] = field(default_factory=_versions)
    path: str = ""
    priors: Mapping = field(default_factory=FrozenMap)          # {name: Prior} of the varying parameters
    objective: float | None = None                               # -2 log posterior (+ const); -2LL without priors
    posterior: pd.DataFrame | None = None                        # draws (draw, parameter), natural scale
    posterior_info: Mapping = field(default_factory=FrozenMap)

    @classmethod
    def create(cls, model, trial, problem, settings, minus2ll, start_minus2ll, covariance, profile, notes,
               rates, objective_value=None) -> "FitResult":
        names = tuple(problem.names)
        cov = None if covariance is None else pd.DataFrame(covariance, index=list(names), columns=list(names))
        table = fitted_rate_table(trial, rates) if trial is not None else pd.DataFrame()
        priors = {n: p for n, p in zip(names, problem.priors or ()) if p is not None}
        return cls(model=model, trial=trial, varying=names,
                   transforms=FrozenMap({n: t.name for n, t in zip(names, problem.transforms)}),
                   settings=FrozenMap(dict(settings)), minus2ll=float(minus2ll),
                   start_minus2ll=tuple(float(x) for x in start_minus2ll), covariance=cov,
                   profile=FrozenMap(dict(profile)), warnings=tuple(notes), fitted_rates=table,
                   priors=FrozenMap(priors),
                   objective=float(minus2ll if objective_value is None else objective_value))

    @property
    def values(self) -> dict[str, float]:
        return dict(self.model.values)

    @property
    def n_parameters(self) -> int:
        return len(self.varying)

    @property
    def aic(self) -> float:
        return self.minus2ll + 2 * self.n_parameters

    @property
    def bic(self) -> float:
        """-2LL + k ln N, N the patients of all arm and time groups (NaN without data)."""
        if self.trial is None:
            return float("nan")
        return self.minus2ll + self.n_parameters * math.log(self.trial.n_patients)

    @property
    def is_map(self) -> bool:
        return bool(self.priors)

    def problem(self):
        """The fitting state of this fit (names, transforms, bounds, priors)."""
        from ._problem import FitProblem
        from dataclasses import replace
        return FitProblem.create(replace(self.model, priors={}), self.varying, dict(self.priors))

    @property
    def design(self):
        from ..design import Design
        return Design.from_settings(self.settings)

    def standard_errors(self) -> dict[str, float]:
        """Natural-scale standard errors (delta method); NaN where the Hessian gives none."""
        out = {}
        for name in self.varying:
            var = self.covariance.loc[name, name] if self.covariance is not None else np.nan
            t = TRANSFORMS_BY_NAME[self.transforms[name]]
            out[name] = float(t.derivative(self.values[name]) * math.sqrt(var)) \
                if np.isfinite(var) and var >= 0 else float("nan")
        return out

    def correlation(self) -> pd.DataFrame:
        """Correlation of the estimates on the fit scale, labelled by parameter."""
        names = list(self.varying)
        if self.covariance is None:
            return pd.DataFrame(np.nan, index=names, columns=names)
        sd = np.sqrt(np.diag(self.covariance.values))
        return pd.DataFrame(self.covariance.values / np.outer(sd, sd), index=names, columns=names)

    def report(self) -> str:
        return format_report(self)

    def to_dict(self) -> dict:
        return _to_dict(self)

    def save(self, path) -> Path:
        """Write the fit file (JSON) atomically: a temporary file in the same folder, then a rename."""
        if isinstance(path, (str, os.PathLike)) and Path(path).suffix != ".json" and not Path(path).is_dir():
            raise PkpdError(f"A fit file is JSON; give a path ending in .json, got {str(path)!r}.")
        path = check_output(path, {".json": "pkpd fit file"}, "Fit file")
        text = json.dumps(self.to_dict(), indent=2, allow_nan=True) + "\n"
        write_atomic(path, text.encode("utf-8"))
        return path


def fitted_rate_table(trial: TrialData, rates: np.ndarray) -> pd.DataFrame:
    """Observed vs predicted rates, with the 95% binomial interval around each prediction."""
    from scipy.stats import binom
    arms, days, ends = trial.arms, trial.days, trial.endpoints
    rows = []
    for arm, day, n, resp in trial.groups():
        for e in [e for e in ends if e in resp]:
            k = resp[e]
            p = float(rates[arms.index(arm), int(np.searchsorted(days, day)), ends.index(e)])
            lo, hi = binom.ppf(0.025, n, p) / n, binom.ppf(0.975, n, p) / n
            rows.append(dict(arm=arm, week=day / 7.0, endpoint=e, n=n, responders=k, observed=k / n,
                             predicted=p, lower=float(lo), upper=float(hi), inside=bool(lo <= k / n <= hi)))
    return pd.DataFrame(rows)


# -- report --------------------------------------------------------------------------------

def format_report(result: FitResult) -> str:
    s = result.settings
    data = "its priors only (no trial data)" if result.trial is None else (result.trial.name or result.trial.source)
    lines = [f"{'MAP fit' if result.is_map else 'Fit'} of model '{result.model.name}' to {data}",
             f"likelihood: {s['likelihood']}; {s['n_nodes']} Sobol nodes (seed {s['node_seed']}); "
             f"{s['starts']} starts (seed {s['start_seed']})",
             f"-2 log-likelihood {result.minus2ll:.4f}   AIC {result.aic:.4f}   BIC {result.bic:.4f}   "
             f"parameters {result.n_parameters}",
             f"starts' {'-2 log posterior' if result.is_map else '-2LL'}: min {min(result.start_minus2ll):.4f}, "
             f"max {max(result.start_minus2ll):.4f}",
             "", f"{'parameter':<16} {'estimate':>11} {'SE':>10} {'95% profile interval':>26}  unit   scale"]
    se = result.standard_errors()
    for n in result.varying:
        prof = result.profile.get(n)
        interval = (f"[{prof['lower']:.4g}, {prof['upper']:.4g}]" + ("*" if not prof["identifiable"] else "")
                    if prof else "(not computed)")
        lines.append(f"{n:<16} {result.values[n]:>11.5g} {se[n]:>10.3g} {interval:>26}  "
                     f"{result.model[n].unit:<6} {result.transforms[n]}")
    if result.priors:
        lines.append("priors: " + "; ".join(f"{n} ~ {p.describe()}" for n, p in result.priors.items())
                     + f"  (-2 log posterior {result.objective:.4f} up to a constant; SEs and intervals are the "
                       "posterior's)")
    fixed = [p for p in result.model.parameters if p.name not in result.varying and p.name in result.model.pd_names]
    lines.append("fixed: " + ", ".join(f"{p.name}={p.value:g}" for p in fixed) + "; PK at the population PK values")
    if any(not p["identifiable"] for p in result.profile.values()):
        lines.append("* open interval: the profile stays below the 95% level up to the bound")
    corr = result.correlation().values
    lines += ["", "correlation of estimates (fit scale):"]
    lines.append(" " * 16 + "".join(f"{n[:8]:>9}" for n in result.varying))
    for i, n in enumerate(result.varying):
        lines.append(f"{n:<16}" + "".join(f"{corr[i, j]:>9.2f}" for j in range(len(result.varying))))
    if result.posterior is not None:
        info = result.posterior_info
        lines += ["", f"posterior: {len(result.posterior)} draws ({info.get('sampler', '')}); mean and 95% interval:"]
        for n in result.varying:
            x = result.posterior[n].to_numpy()
            lo, hi = np.quantile(x, [0.025, 0.975])
            lines.append(f"{n:<16} {x.mean():>11.5g}   [{lo:.4g}, {hi:.4g}]")
    if result.trial is None:
        return "\n".join(lines)
    lines += ["", "observed vs predicted (95% interval: binomial spread of n patients around the prediction)",
              f"{'arm':<18} {'week':>4} {'endpoint':<8} {'observed':>13} {'predicted':>9} {'95% interval':>15} inside"]
    for r in result.fitted_rates.itertuples():
        lines.append(f"{r.arm:<18} {r.week:>4g} {r.endpoint:<8} {r.responders:>3}/{r.n:<3} {100 * r.observed:5.1f}% "
                     f"{100 * r.predicted:8.1f}% {100 * r.lower:6.1f}-{100 * r.upper:5.1f}%  {'yes' if r.inside else 'NO'}")
    inside = int(result.fitted_rates["inside"].sum())
    lines.append(f"{inside} of {len(result.fitted_rates)} observed rates inside the 95% interval of the prediction")
    if result.warnings:
        lines += ["", "warnings:"] + [f"  - {w}" for w in result.warnings]
    return "\n".join(lines)


# -- fit files -----------------------------------------------------------------------------

def _records(table: pd.DataFrame) -> list[dict]:
    """Rows as plain Python values; floats keep every digit (pandas' to_json rounds to 10)."""
    out = []
    for row in table.to_dict("records"):
        out.append({k: (v.item() if isinstance(v, np.generic) else (None if isinstance(v, float) and
                                                                     math.isnan(v) else v))
                    for k, v in row.items()})
    return out


def _to_dict(result: FitResult) -> dict:
    se = result.standard_errors()
    model = result.model
    return {
        "format": FIT_FORMAT,
        "versions": dict(result.versions),
        "model": {"name": model.name, "key": model.sources[0][0], "origin": model.path, "sha256": model.sha256,
                  "files": {k: t for k, t in model.sources}},
        "trial": None if result.trial is None else {
            "name": result.trial.name, "origin": result.trial.source, "sha256": result.trial.sha256,
            "text": result.trial.text},
        "settings": dict(result.settings, varying=list(result.varying), transforms=dict(result.transforms)),
        "values": result.values,
        "estimates": {n: {"value": result.values[n], "se": se[n], "unit": model[n].unit,
                          "profile_95": result.profile.get(n)} for n in result.varying},
        "covariance": None if result.covariance is None else {
            "scale": "fit (transformed) scale; see settings.transforms", "names": list(result.varying),
            "matrix": result.covariance.values.tolist()},
        "minus2ll": result.minus2ll,
        "objective": result.objective,
        "aic": result.aic,
        "bic": None if math.isnan(result.bic) else result.bic,
        "start_minus2ll": list(result.start_minus2ll),
        "priors": {n: {"distribution": p.distribution, "source": p.source,
                       **{k: getattr(p, k) for k in ("mean", "median", "sd", "a", "b") if getattr(p, k) is not None}}
                   for n, p in result.priors.items()},
        "posterior": None if result.posterior is None else {
            "names": list(result.posterior.columns), "draws": result.posterior.values.tolist(),
            "info": dict(result.posterior_info)},
        "fitted_rates": _records(result.fitted_rates),
        "warnings": list(result.warnings),
    }


def _field(record: Mapping, key: str, kind, where: str):
    if key not in record:
        raise PkpdError(f"{where} has no `{key}`; it is not a complete {FIT_FORMAT} file.")
    value = record[key]
    if kind is not None and not isinstance(value, kind):
        raise PkpdError(f"{where}: `{key}` must be a {getattr(kind, '__name__', kind)}, got {type(value).__name__}.")
    return value


def load_fit(source) -> FitResult:
    """Read a fit: a fit file (JSON) or the name of a library fit (``"ustekinumab_phase2"``).

    The model and trial table come from the text the file carries; a file whose model text
    no longer matches its recorded SHA-256 is refused.
    """
    if isinstance(source, FitResult):
        return source
    raw, origin, _ = library.locate("fits", source, "a fit file written by `pkpd fit` or FitResult.save")
    where = f"Fit file {origin}"
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PkpdError(f"{where} is not valid JSON: {err}.") from None
    if not isinstance(record, dict):
        raise PkpdError(f"{where} must hold a JSON object, got a {type(record).__name__}.")
    if record.get("format") != FIT_FORMAT:
        raise PkpdError(f"{where} is not a {FIT_FORMAT} file (format {record.get('format')!r}); refit it with "
                        "this version of pkpd.")
    head = _field(record, "model", dict, where)
    files = _field(head, "files", dict, where)
    model = model_from_sources(files, _field(head, "key", str, where), origin=head.get("origin", ""))
    if model.sha256 != head.get("sha256"):
        raise PkpdError(f"{where} was made with model '{head.get('name')}' of SHA-256 {str(head.get('sha256'))[:12]}..., "
                        f"but the model text it carries now has {model.sha256[:12]}...: the model changed since "
                        "the fit. Refit (`pkpd fit` or pkpd.fit).")
    t = _field(record, "trial", (dict, type(None)), where)
    trial = None
    if t is not None:
        trial = trial_from_text(_field(t, "text", str, where), source=t.get("origin", ""), name=t.get("name", ""),
                                endpoints=model.endpoints)
        if trial.sha256 != t.get("sha256"):
            raise PkpdError(f"{where}: the trial table it carries no longer matches its recorded SHA-256; refit.")
    settings = _field(record, "settings", dict, where)
    varying = tuple(_field(settings, "varying", list, where))
    values = _field(record, "values", dict, where)
    bad = [k for k, v in values.items() if not isinstance(v, (int, float)) or isinstance(v, bool)
           or not math.isfinite(v)]
    if bad:
        raise PkpdError(f"{where}: value of {bad[0]!r} is {values[bad[0]]!r}; estimates must be finite numbers.")
    effect = settings.get("trial_effect") if isinstance(settings, Mapping) else None
    if effect is not None:
        from ._problem import with_trial_effect
        model = with_trial_effect(model, None, effect)[0]
    model = model.replace({k: v for k, v in values.items() if k in varying})
    cov = record.get("covariance")
    covariance = None
    if cov is not None:
        matrix = np.asarray(_field(cov, "matrix", list, where), float)
        names = list(_field(cov, "names", list, where))
        if matrix.shape != (len(names), len(names)) or names != list(varying) or not np.all(np.isfinite(matrix)):
            raise PkpdError(f"{where}: the covariance must be a finite {len(varying)} x {len(varying)} matrix over "
                            f"{list(varying)}.")
        try:
            np.linalg.cholesky(matrix)
        except np.linalg.LinAlgError:
            raise PkpdError(f"{where}: the covariance matrix is not positive definite, so no parameter draws can "
                            "be made from it; refit, or fix the parameter that is not identifiable.") from None
        covariance = pd.DataFrame(matrix, index=names, columns=names)
    from ..model import Prior
    priors = {}
    for name, row in (record.get("priors") or {}).items():
        try:
            priors[name] = Prior(**row)
        except (TypeError, PkpdError) as err:
            raise PkpdError(f"{where}: prior of {name!r} is not readable: {err}") from None
    posterior, info = None, {}
    if record.get("posterior") is not None:
        post = _field(record, "posterior", dict, where)
        draws = np.asarray(_field(post, "draws", list, where), float)
        names = list(_field(post, "names", list, where))
        if draws.ndim != 2 or draws.shape[1] != len(names) or not np.all(np.isfinite(draws)):
            raise PkpdError(f"{where}: posterior draws must be a finite table over {names}.")
        posterior, info = pd.DataFrame(draws, columns=names), dict(post.get("info", {}))
    minus2ll = float(_field(record, "minus2ll", (int, float), where))
    return FitResult(model=model, trial=trial, varying=varying,
                     transforms=FrozenMap(dict(_field(settings, "transforms", dict, where))),
                     settings=FrozenMap({k: v for k, v in settings.items() if k not in ("varying", "transforms")}),
                     minus2ll=minus2ll,
                     start_minus2ll=tuple(record.get("start_minus2ll", ())), covariance=covariance,
                     profile=FrozenMap({n: e.get("profile_95") for n, e in record.get("estimates", {}).items()
                                               if e.get("profile_95")}),
                     warnings=tuple(record.get("warnings", ())),
                     fitted_rates=pd.DataFrame(record.get("fitted_rates", [])),
                     versions=FrozenMap(dict(record.get("versions", {}))), path=origin,
                     priors=FrozenMap(priors), objective=float(record.get("objective", minus2ll)),
                     posterior=posterior, posterior_info=FrozenMap(info))
