"""Import names that a user's own files cannot shadow.

The repository keeps ``bounds/`` and ``experiments/`` at its top level; installed, they are the packages
``tm_transformer.bounds`` and ``tm_transformer.experiments`` (``package-dir`` in ``pyproject.toml``).
Two small import hooks make every way of running the code agree on one copy of each module:

* :class:`SourceLayout` -- run from a source checkout without installing (``PYTHONPATH=.``, or the
  tests from the repository root), ``tm_transformer.bounds`` is found in ``../bounds``;
* :class:`Alias` -- the old top-level names ``bounds`` and ``experiments`` (and their submodules) are
  the very same module objects as ``tm_transformer.bounds`` and ``tm_transformer.experiments``.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from pathlib import Path

PARTS = ("bounds", "experiments")


class SourceLayout(importlib.abc.MetaPathFinder):
    """Finds ``tm_transformer.<part>`` in the folder ``<root>/<part>`` of a source checkout."""

    def __init__(self, root: Path):
        self.root = root

    def find_spec(self, name, path=None, target=None):
        head, _, part = name.partition(".")
        if head != "tm_transformer" or part not in PARTS:
            return None
        init = self.root / part / "__init__.py"
        if not init.is_file():
            return None
        return importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(init.parent)])


class Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``old`` and ``old.x`` import as ``new`` and ``new.x`` (the same module objects)."""

    def __init__(self, old: str, new: str):
        self.old, self.new = old, new

    def find_spec(self, name, path=None, target=None):
        if name == self.old or name.startswith(self.old + "."):
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(self.new + spec.name[len(self.old):])

    def exec_module(self, module):
        pass  # already executed under its real name


def install_source_layout() -> None:
    """From a source checkout (``tm_transformer/bounds`` absent, ``../bounds`` present) add the finder."""
    here = Path(__file__).resolve().parent
    root = here.parent
    if (here / "bounds").is_dir() or not (root / "bounds" / "__init__.py").is_file():
        return
    if not any(isinstance(f, SourceLayout) for f in sys.meta_path):
        sys.meta_path.insert(0, SourceLayout(root))


def alias(old: str) -> None:
    """Called by ``bounds/__init__.py`` when imported as ``bounds``: become ``tm_transformer.bounds``."""
    new = f"tm_transformer.{old}"
    if not any(isinstance(f, Alias) and f.old == old for f in sys.meta_path):
        sys.meta_path.insert(0, Alias(old, new))
    sys.modules[old] = importlib.import_module(new)
    # submodules imported so far get their old names now: loading them through the finder later would
    # rebind the package attribute of the same name (``bounds.compare`` the function -> the module)
    for name, module in list(sys.modules.items()):
        if name.startswith(new + "."):
            sys.modules.setdefault(old + name[len(new):], module)
