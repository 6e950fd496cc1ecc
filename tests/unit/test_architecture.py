"""The shape of the package: no import cycles (imports inside functions included), heavy
libraries imported in one place each, a light `import pkpd`, plots that leave matplotlib alone."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pkpd

PACKAGE = Path(pkpd.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path, modules) -> set[str]:
    """Modules of the package that ``name`` imports anywhere in its text (functions included)."""
    is_package = path.name == "__init__.py"
    base = name.split(".") if is_package else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                root = base[: len(base) - node.level + 1]
                module = ".".join(root + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in modules else module for a in node.names]
        for t in targets:
            while t and t not in modules:  # `import pkpd.model.x` -> the deepest module of the package
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def test_no_module_imports_itself_through_a_cycle():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    # Importing a submodule runs its package's __init__ first; that is Python's order, not an
    # arrow of ours, so only explicit imports are followed.
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
    assert len(graph) > 30  # the walk saw the whole package


@pytest.mark.parametrize("library, allowed", [
    ("dask", {"pkpd.parallel"}),
    ("matplotlib", {"pkpd.plot"}),
    ("lmfit", {"pkpd.inference._fit"}),
    ("pint", {"pkpd._units"}),
    ("numba", {"pkpd._kernels"}),
])
def test_each_heavy_library_is_imported_in_one_module(library, allowed):
    users = set()
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import) and any(a.name.split(".")[0] == library for a in node.names):
                users.add(name)
            if isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == library:
                users.add(name)
    assert users == allowed


def test_import_pkpd_loads_neither_matplotlib_nor_lmfit():
    code = ("import sys, pkpd; pkpd.load_model('ustekinumab_pasi'); "
            "print(sorted(m for m in ('matplotlib', 'lmfit', 'dask', 'pint', 'numba', 'scipy.stats', 'emcee') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, MPLBACKEND=""))
    assert out.stdout.strip() == "[]"


def test_plots_never_change_the_backend_or_pyplot_state(tmp_path):
    code = f"""
import matplotlib
matplotlib.use("svg")
import matplotlib.pyplot as plt
import numpy as np, pkpd
ds = pkpd.simulate("ustekinumab_pk", "45 mg SC at weeks 0, 4", np.arange(0, 60.0), n_subjects=5)
fit = pkpd.load_fit("ustekinumab_phase2")
rates = pkpd.predict(fit, ["45 mg SC at week 0", "placebo"], [12], time_unit="week")
figures = [pkpd.plot_concentrations(ds, {str(tmp_path / 'c.png')!r}), pkpd.plot_response(rates),
           pkpd.plot_comparison(rates, week=12), pkpd.plot_dose_response(pkpd.dose_response(fit, [0, 45])),
           pkpd.plot_fit(fit)]
print(matplotlib.get_backend(), len(plt.get_fignums()), *sorted({{type(f).__name__ for f in figures}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k != "MPLBACKEND"})
    assert out.stdout.split() == ["svg", "0", "Figure"]
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_module_compiles_without_warnings():
    import warnings
    for name, path in _modules().items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            compile(path.read_text(), str(path), "exec")  # invalid escapes in docstrings, say
