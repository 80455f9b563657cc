"""The old top-level names ``bounds`` and ``experiments``: the same module objects as the real ones.

The repository keeps ``bounds/`` and ``experiments/`` at its top level. The package sees them as
``tm_transformer.bounds`` and ``tm_transformer.experiments``: in a source checkout through the links
``tm_transformer/bounds -> ../bounds`` and ``tm_transformer/experiments -> ../experiments``, installed through
``package-dir`` in ``pyproject.toml``. No import hook is involved, so every import resolves for static tools
(pyright) exactly as at run time.

Code written before 0.4 imports the old names. :func:`alias` (called by the old name's ``__init__``) puts the
real package and every one of its submodules into :data:`sys.modules` under the old name, so ``bounds.x`` is
``tm_transformer.bounds.x`` -- one copy of each module, one registry, one class per name. The old names import
every submodule at once (``experiments`` loads JAX: several seconds); new code imports
``tm_transformer.bounds`` / ``.experiments``.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
import warnings


def alias(old: str) -> None:
    """Make the old top-level name ``old`` (and ``old.*``) the modules ``tm_transformer.<old>`` (and ``.*``)."""
    new = f"tm_transformer.{old}"
    package = importlib.import_module(new)
    sys.modules[old] = package
    for info in pkgutil.walk_packages(package.__path__, new + "."):
        module = importlib.import_module(info.name)
        sys.modules.setdefault(old + info.name[len(new):], module)
    warnings.warn(f"the top-level name {old!r} is deprecated: import {new!r}", DeprecationWarning, stacklevel=3)
