"""The analytic precision envelope of the Turing-machine transformer.

Head positions c in [-R, R] are coded in D = ceil(log2(2R + 1)) bits as a +-1 vector b(c). A step at
head h attends with query q = (M b(h), 1) to keys k_s = (b(p_s), r_s), p_s the cell written by token s:

    score_s = M <b(h), b(p_s)> + r_s = M (D - 2 Hamming(h, p_s)) + r_s

with recency r_s = s for written tokens (s = 1..T), 0 for initial-tape tokens, and r = M (D - 1) for
the start token, whose bits are 0 and whose value is the blank. With M = T + 1 the scores order as

    latest write to h  (M D + s)  >  initial tape at h (M D)  >  start token (M (D - 1))  >  any mismatch (<= M (D - 2) + T)

so hardmax attention returns exactly the symbol under the head. Every product and partial sum is an
integer of magnitude <= M D + T, so a float with p mantissa bits (24 for float32) computes every score
exactly, in any summation order, as long as

    (T + 1) D + T <= 2^p        i.e.    T <= T_exact(p, R) = floor((2^p - D) / (D + 1)).

Softmax attention with inverse temperature beta puts weight <= exp(-beta) on each key below the top
(scores are integers with a unique maximum), so at most N exp(-beta) on all of them for N keys. The
transition MLP thresholds the read symbol at 1/4 and 3/4, so the step is exact when N exp(-beta) <= 1/4,
i.e. beta >= ln(4 N); scores are shifted by their (exact) maximum before multiplying by beta.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import PrecisionError

MANTISSA_BITS = {"float16": 11, "bfloat16": 8, "float32": 24, "float64": 53}


def position_bits(R: int) -> int:
    """D: bits needed for the 2R + 1 cells -R..R."""
    return max(1, math.ceil(math.log2(2 * R + 1)))


def steps_exact(p: int, R: int) -> int:
    """T_exact(p, R): the longest run whose every attention score is exact with p mantissa bits."""
    D = position_bits(R)
    return max(0, (2 ** p - D) // (D + 1))


def steps_exact_symbolic(p, R):
    """The same as a sympy expression (used by the ``bounds`` catalogue as ``tm_precision``)."""
    import sympy as sp

    D = sp.ceiling(sp.log(2 * R + 1, 2))
    return sp.floor((2 ** p - D) / (D + 1))


def min_beta(n_keys: int) -> float:
    """The smallest softmax inverse temperature that keeps a run with ``n_keys`` keys exact."""
    return math.log(4 * max(n_keys, 1))


@dataclass(frozen=True)
class Envelope:
    dtype: str
    steps: int
    head_range: int
    beta: float | None
    n_keys: int

    @property
    def mantissa_bits(self) -> int:
        return MANTISSA_BITS[self.dtype]

    @property
    def max_steps(self) -> int:
        return steps_exact(self.mantissa_bits, self.head_range)

    @property
    def exact(self) -> bool:
        return not self.problems()

    def problems(self) -> list[str]:
        out = []
        if self.steps > self.max_steps:
            out.append(f"{self.steps} steps exceed the {self.dtype} envelope of {self.max_steps} steps for "
                       f"head range +-{self.head_range} (use float64 or a smaller head range)")
        if self.beta is not None and self.beta < min_beta(self.n_keys):
            out.append(f"softmax beta={self.beta:g} is below {min_beta(self.n_keys):.4g} = ln(4 x {self.n_keys} keys) "
                       f"needed for an exact read")
        return out

    def check(self) -> None:
        problems = self.problems()
        if problems:
            raise PrecisionError("outside the precision envelope: " + "; ".join(problems))


def envelope(dtype: str, steps: int, head_range: int, beta: float | None = None, tape_len: int = 0) -> Envelope:
    if dtype not in MANTISSA_BITS:
        raise PrecisionError(f"dtype {dtype!r}: expected one of {', '.join(MANTISSA_BITS)}")
    return Envelope(dtype, int(steps), int(head_range), beta, int(steps) + int(tape_len) + 1)


def frontier_table(head_range: int = 1000) -> list[dict]:
    """T_exact per dtype at a head range, and the beta needed at that many steps."""
    rows = []
    for name, p in MANTISSA_BITS.items():
        T = steps_exact(p, head_range)
        rows.append({"dtype": name, "mantissa_bits": p, "head_range": head_range, "steps_exact": T,
                     "min_beta_at_steps_exact": min_beta(T + 1) if T else float("nan")})
    return rows

