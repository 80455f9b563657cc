"""bounds: sample requirements of in-context learning, derived symbolically with explicit constants.

    from bounds import get
    w = get("weissman")
    w.evaluate(V=10, eps=0.1, delta=0.05)        # 496.26...
    w.solve_for("eps", 1000, V=10, delta=0.05)   # eps at which 1000 examples suffice
    print(w.derivation.text()); print(w.latex())
"""
from .bound import Bound
from .known import catalogue, get
from .compare import Comparison, compare

__all__ = ["Bound", "Comparison", "catalogue", "compare", "get"]
