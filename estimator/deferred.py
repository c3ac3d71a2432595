"""Deferred packages for the `estimate` process: package code that scoring does not need runs only if read.

defer(name) puts a package in sys.modules with its __init__ not run: `import name` and `from name.sub import x`
then cost nothing, and the package's own code runs, into the same module object, on the first read of a name it
has not set yet (catboost.CatBoostRegressor, numpy.testing.assert_equal). Nothing is skipped, only postponed:
once anything reads it, the package is the one a plain import gives. A name that is a submodule is imported as
`from package import submodule` would.

What the CLI defers (FOR_SCORING), and why:
- catboost: its __init__ imports CatBoost's Jupyter widgets, IPython, ipywidgets and traitlets (0.25-0.35 s
  wherever IPython is installed); scoring imports catboost.core, which does not need them.
- numpy's f2py, testing (with unittest), polynomial, ctypeslib, char, rec and strings: SciPy's array-API layer,
  which CatBoost imports with scipy.sparse, asks numpy for every name it offers, and numpy imports each of these
  submodules when asked (0.035 s); only their names are kept.
What cannot be deferred: CatBoost's extension (_catboost.so) reads scipy.sparse.csr_matrix and polars.__version__
(where polars is installed) while it initialises, and SciPy's layer reads numpy.fft, so these load with it.

Only the CLI defers (estimator.cli), as it owns its process; the library imports normally.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import threading
import types

__all__ = ["FOR_SCORING", "defer", "is_deferred"]

FOR_SCORING = ("catboost", "numpy.f2py", "numpy.testing", "numpy.polynomial", "numpy.ctypeslib", "numpy.char",
               "numpy.rec", "numpy.strings")

_LOCK = threading.RLock()  # one thread runs a deferred package; the others wait for it, as for an import


class _DeferredPackage(types.ModuleType):
    """A package whose __init__ has not run yet: reading a name it lacks runs it, then reads the name again."""

    def __getattr__(self, name: str):
        with _LOCK:
            if type(self) is _DeferredPackage and not self.__dict__.get("__deferred_running__"):
                submodule = _submodule(self, name)
                if submodule is not None:  # a from-import asks the package first (core: `from . import _catboost`)
                    return submodule
                _run(self)
        if type(self) is _DeferredPackage:  # read by its own __init__ while it runs: a partly initialised package
            raise AttributeError(f"partially initialized module {self.__name__!r} has no attribute {name!r}")
        return getattr(self, name)


def defer(name: str) -> bool:
    """Put package `name` in sys.modules without running its __init__ (its parent package is imported, and holds
    it); False (nothing done) when it is already imported, not installed, or not a package of Python source."""
    with _LOCK:
        if name in sys.modules:
            return False
        try:
            spec = importlib.util.find_spec(name)  # imports the parent package
        except (ImportError, ValueError):
            return False
        if (spec is None or spec.submodule_search_locations is None
                or not isinstance(spec.loader, importlib.machinery.SourceFileLoader)):
            return False
        package = importlib.util.module_from_spec(spec)  # __spec__, __path__, __file__: what importing needs
        package.__class__ = _DeferredPackage
        sys.modules[name] = package
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, package)  # as an import of it would
        return True


def is_deferred(name: str) -> bool:
    """Whether package `name` is in sys.modules with its __init__ not run yet."""
    return type(sys.modules.get(name)) is _DeferredPackage


def _submodule(package: types.ModuleType, name: str) -> types.ModuleType | None:
    """Submodule `name` of a deferred package, imported (its code runs; the package's does not); None when
    `name` names no submodule."""
    if name.startswith("__"):
        return None
    full_name = f"{package.__name__}.{name}"
    if full_name not in sys.modules and importlib.util.find_spec(full_name) is None:
        return None
    return importlib.import_module(full_name)


def _run(package: _DeferredPackage) -> None:
    """Run a deferred package's __init__ in it, as its import would have; on failure the package leaves
    sys.modules, as after a failed import, and the error reaches the reader."""
    spec = package.__spec__
    package.__dict__["__deferred_running__"] = True
    spec._initializing = True  # what the import system sets while a module runs
    try:
        spec.loader.exec_module(package)
    except BaseException:
        if sys.modules.get(spec.name) is package:
            del sys.modules[spec.name]
        raise
    finally:
        spec._initializing = False
        del package.__dict__["__deferred_running__"]
        package.__class__ = types.ModuleType
