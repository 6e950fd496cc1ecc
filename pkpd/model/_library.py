"""The library shipped inside the package: models, trial tables and reference fits, by name.

Files live in ``pkpd/model/library/{models,trials,fits}`` and are read with
:mod:`importlib.resources`, so they are found after a normal install from any folder.
"""

from __future__ import annotations

from importlib import resources

from .._errors import PkpdError

KINDS = {"models": ".toml", "trials": ".csv", "fits": ".json"}


def _folder(kind: str):
    return resources.files(__package__).joinpath("library", kind)


def names(kind: str) -> list[str]:
    """Names of the library's entries of one kind ("models", "trials" or "fits")."""
    suffix = KINDS[kind]
    return sorted(p.name[: -len(suffix)] for p in _folder(kind).iterdir() if p.name.endswith(suffix))


def has(kind: str, name) -> bool:
    return isinstance(name, str) and name in names(kind)


def read(kind: str, name: str) -> tuple[bytes, str]:
    """(bytes, origin) of a library entry; origin reads 'library:models/<name>.toml'."""
    if not has(kind, name):
        raise PkpdError(f"No {kind[:-1]} {name!r} in the library; library {kind}: {names(kind)}.")
    filename = f"{name}{KINDS[kind]}"
    return _folder(kind).joinpath(filename).read_bytes(), f"library:{kind}/{filename}"


def locate(kind: str, source, hint: str) -> tuple[bytes, str, str]:
    """(bytes, origin, library name or "") of ``source``: an existing file path, else a library name.

    ``hint`` says what else the user could give, for the error message.
    """
    from pathlib import Path

    from .._checks import nearest
    what = kind[:-1]
    if not isinstance(source, (str, Path)):
        raise PkpdError(f"A {what} is {hint} or a library name, got {type(source).__name__}.")
    path = Path(source)
    if path.is_file():
        return path.read_bytes(), str(path), ""
    if isinstance(source, str) and has(kind, source):
        raw, origin = read(kind, source)
        return raw, origin, source
    if path.is_dir():
        raise PkpdError(f"{what.capitalize()} {str(source)!r} is a folder; give {hint} or a library name.")
    raise PkpdError(f"No {what} file {str(source)!r}; give {hint}, or one of the library {kind}: {names(kind)}."
                    + nearest(str(source), names(kind)))
