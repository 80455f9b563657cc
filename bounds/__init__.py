"""tm_transformer.bounds: sample requirements of in-context learning, derived symbolically with explicit constants.

    from tm_transformer.bounds import get
    w = get("weissman")
    w.evaluate(V=10, eps=0.1, delta=0.05)        # 496.26...
    w.solve_for("eps", 1000, V=10, delta=0.05)   # eps at which 1000 examples suffice
    print(w.derivation.text()); print(w.latex())

Import it as ``tm_transformer.bounds`` (a ``bounds.py`` of your own cannot shadow that name); the old
name ``bounds`` (deprecated) still works and gives the same modules.
"""
from typing import TYPE_CHECKING

from tm_transformer._lazy import lazy as _lazy

if TYPE_CHECKING:  # the names loaded on first use (below), as static tools see them
    from .bound import Bound
    from .compare import Comparison, compare
    from .known import catalogue, get

if __name__ == "bounds":  # the old top-level name: sys.modules["bounds"] becomes tm_transformer.bounds
    from tm_transformer._layout import alias as _alias

    _alias(__name__)
else:  # imported on first use (sympy and scipy load with them; ``tmt --help`` never needs them)
    _lazy(__name__, {"Bound": ".bound", "catalogue": ".known", "get": ".known", "Comparison": ".compare",
                     "compare": ".compare"})

__all__ = ["Bound", "Comparison", "catalogue", "compare", "get"]
