"""The hand-built transformer: weights written down, not trained, that run a Turing machine one step per
decoded token and agree exactly with the reference simulator inside a checked precision envelope.

    from tm_transformer import parse_machine
    from tm_transformer.transformer import run
    out = run(parse_machine("1RB1LB_1LA1RZ"), 100)    # a TransformerRun
    out.results[0].summary()                          # as tm_transformer.simulate(...).summary()

* :func:`run` -- decode one machine or a batch (:class:`TransformerRun`: per-machine results);
* :func:`compile_machine` -- the weight arrays for one machine;
* :func:`envelope` -- the steps a dtype keeps exact, checked before a run starts.
"""
from typing import TYPE_CHECKING

from .._lazy import lazy

if TYPE_CHECKING:  # the names loaded on first use (below), as static tools see them
    from .compile import compile_machine
    from .decode import TransformerRun, run
    from .envelope import envelope

# imported on first use: JAX loads with them (``tmt --help`` and ``tmt bounds`` never need it)
lazy(__name__, {"compile_machine": ".compile", "TransformerRun": ".decode", "run": ".decode",
                "envelope": ".envelope"})

__all__ = ["run", "compile_machine", "envelope", "TransformerRun"]
