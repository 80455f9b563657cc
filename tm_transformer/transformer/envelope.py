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

The head needs no envelope of its own: it is carried and read out as +-1 bits, computed by the head
incrementer block (:mod:`.compile`) from small integers only, exact in every dtype at every distance
(format 1 read it out as the residual scalar head + move, which bfloat16 held exactly only below 2^8).

The envelope is a *sufficient* condition known before the run. Every run is also certified step by step
from its own numbers (:mod:`.decode`): a certified step is exact whatever the envelope says, so the
envelope refuses only hopeless runs -- M D > 2^p, where not even the first step's scores fit -- and
``tmt run`` reports which of the two made a run exact.

Softmax attention with inverse temperature beta. Scores are integers with a unique maximum; the keys of
step tokens have pairwise distinct scores (two of them with equal score would need recencies 2M apart,
and recencies are <= T < M), and so do the tape token at the head's cell and the start token against
them. So the keys within M of the top have *distinct positive integer* gaps, and every other key
(initial tape at other cells, padding) sits >= M below. The weight off the top key is therefore at most

    W(beta) = sum_{g >= 1} e^{-beta g} + N e^{-beta M} = 1 / (e^beta - 1) + N e^{-beta M}

for N keys, and the top key keeps 1 / (1 + W) >= 3/4 -- what the transition MLP (thresholds 1/4, 3/4)
needs -- when W(beta) <= 1/3: beta >= ln 4 plus a term that vanishes like N e^{-M ln 4}. The old bound
ln(4 N) ignored the integer gaps; at T = 500 it asked for 7.6 where 1.39 suffices.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import PrecisionError

MANTISSA_BITS = {"float16": 11, "bfloat16": 8, "float32": 24, "float64": 53}


def position_bits(R: int) -> int:
    """D: bits needed for the 2R + 1 cells -R..R, i.e. ceil(log2(2R + 1)) = the bit length of 2R (exact integer
    arithmetic at any R)."""
    return max(1, int(2 * R).bit_length())


def steps_exact(p: int, R: int) -> int:
    """T_exact(p, R): the longest run whose every attention score is exact with p mantissa bits."""
    D = position_bits(R)
    return max(0, (2 ** p - D) // (D + 1))


def steps_exact_symbolic(p, R):
    """The same as a sympy expression (used by the ``bounds`` catalogue as ``tm_precision``)."""
    import sympy as sp

    D = sp.ceiling(sp.log(2 * R + 1, 2))
    return sp.floor((2 ** p - D) / (D + 1))


def softmax_weight_off_top(beta: float, n_keys: int, M: int) -> float:
    """W(beta): the a-priori bound on the softmax weight off the top key (see the module docstring)."""
    return 1 / math.expm1(beta) + n_keys * math.exp(-beta * M)


def min_beta(n_keys: int, M: int | None = None) -> float:
    """The smallest softmax inverse temperature with W(beta) <= 1/3 for ``n_keys`` keys and scale M
    (default M = n_keys, the scale of a run with that many steps), rounded up at 1e-9."""
    n_keys = max(int(n_keys), 1)
    M = n_keys if M is None else int(M)
    lo, hi = math.log(4), math.log(4) + 64
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if softmax_weight_off_top(mid, n_keys, M) > 1 / 3 else (lo, mid)
    return math.ceil(hi * 1e9) / 1e9


def hopeless(p: int, M: int, D: int) -> bool:
    """True when even the first step's scores (M D from the match term) exceed the exact integers 2^p."""
    return M * D > 2 ** p


@dataclass(frozen=True)
class Envelope:
    """What is known before a run: whether every step of it certifies a priori (``within``), whether it
    is hopeless, and the softmax beta the a-priori bound needs."""

    dtype: str
    steps: int
    head_range: int
    beta: float | None
    n_keys: int
    M: int = 0

    @property
    def scale(self) -> int:
        return self.M or self.steps + 1

    @property
    def within(self) -> bool:
        return self.steps <= self.max_steps

    @property
    def beta_needed(self) -> float:
        return min_beta(self.n_keys, self.scale)

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
        D = position_bits(self.head_range)
        if hopeless(self.mantissa_bits, self.scale, D):
            out.append(f"{self.steps} steps are hopeless in {self.dtype}: the scale M = {self.scale:,} times {D} "
                       f"position bits exceeds 2^{self.mantissa_bits}, so no step can be certified (the envelope "
                       f"is {self.max_steps:,} steps at head range +-{self.head_range}; use float64 or a "
                       f"smaller head range)")
        if self.beta is not None and self.beta < self.beta_needed:
            out.append(f"softmax beta={self.beta:g} is below {self.beta_needed:.6g}, the a-priori bound for "
                       f"{self.n_keys} keys (1/(e^beta - 1) + N e^(-beta M) <= 1/3)")
        return out

    def check(self) -> None:
        problems = self.problems()
        if problems:
            raise PrecisionError("outside the precision envelope: " + "; ".join(problems))


def envelope(dtype: str, steps: int, head_range: int, beta: float | None = None, tape_len: int = 0,
             M: int | None = None) -> Envelope:
    if dtype not in MANTISSA_BITS:
        raise PrecisionError(f"dtype {dtype!r}: expected one of {', '.join(MANTISSA_BITS)}")
    return Envelope(dtype, int(steps), int(head_range), beta, 2 * int(tape_len) + int(steps) + 2,
                    int(M) if M else int(steps) + 1)


def frontier_table(head_range: int = 1000) -> list[dict]:
    """T_exact per dtype at a head range, and the beta needed at that many steps."""
    rows = []
    for name, p in MANTISSA_BITS.items():
        T = steps_exact(p, head_range)
        rows.append({"dtype": name, "mantissa_bits": p, "head_range": head_range, "steps_exact": T,
                     "min_beta_at_steps_exact": min_beta(T + 1) if T else float("nan")})
    return rows

