"""Package attributes imported on first use (PEP 562), so that ``tmt --version``, ``--help`` and
``tmt bounds ...`` never import JAX (about 2 CPU-seconds) or sympy they do not need.

``lazy(__name__, {"run": ".decode", ...})`` in a package's ``__init__`` makes ``package.run`` import
``package.decode`` the first time it is read; ``from package import run`` and ``dir(package)`` work as
with eager imports. Where a submodule has the name of an exported function (``transformer.envelope`` the
module, ``transformer.envelope`` the function), the function wins as it did with eager imports: the import
system binding the submodule onto the package does not hide the function.
"""
from __future__ import annotations

import importlib
import sys
import types


class LazyPackage(types.ModuleType):
    """A package whose exported names (``_lazy_exports``: name -> relative module) load on first read."""

    def __getattr__(self, name):
        exports = self.__dict__.get("_lazy_exports", {})
        if name not in exports:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], self.__name__), name)
        self.__dict__[name] = value
        return value

    def __setattr__(self, name, value):
        exports = self.__dict__.get("_lazy_exports", {})
        if name in exports and isinstance(value, types.ModuleType) and value.__name__.endswith("." + name):
            return  # the submodule of an exported function's name: the function (loaded on read) wins
        super().__setattr__(name, value)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self.__dict__.get("_lazy_exports", {})))


def lazy(name: str, exports: dict[str, str]) -> None:
    """Make the module ``name`` (a package being initialised) load ``exports`` on first read."""
    module = sys.modules[name]
    module.__dict__["_lazy_exports"] = dict(exports)
    module.__class__ = LazyPackage
