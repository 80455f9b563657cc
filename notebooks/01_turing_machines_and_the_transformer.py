# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. Turing machines, and the transformer that runs them
#
# A transformer whose weights are *written down*, not trained, can run any Turing machine: one decoded
# token per machine step, every step computed from its weight arrays. This notebook builds one and looks
# inside it. The idea to take away: **attention finds the symbol under the head by picking the last token
# that wrote to the head's cell, and the scores that make this work are integers -- so the run is exact
# exactly as long as the dtype can hold those integers.**
#
# Every claim below sits beside an `assert` that would fail if it were wrong. Run top to bottom: it takes
# well under a minute whatever `TMT_QUICK` says (the measurement of where random machines stop being exact
# is check 6 of `tmt reproduce`); `TMT_SOLUTIONS=1` shows the exercise's solution.

# %%
# %matplotlib inline
import os

import numpy as np

SOLUTIONS = os.environ.get("TMT_SOLUTIONS", "0") == "1"   # show the exercise's solution (the tests do)

# %% [markdown]
# ## Write a machine
#
# A machine is a table: in state `A` reading symbol `0`, write a symbol, move left or right, go to a
# state (or halt, `Z`). The standard text format writes one row per state, one transition per symbol,
# rows joined by `_`. Here is the 2-state, 2-symbol busy beaver, built both ways:

# %%
from tm_transformer import HALT, LEFT, RIGHT, Transition, TuringMachine, parse_machine, simulate

bb2 = TuringMachine(((Transition(1, RIGHT, 1), Transition(1, LEFT, 1)),     # A: 0 -> 1RB, 1 -> 1LB
                     (Transition(1, LEFT, 0), Transition(1, RIGHT, HALT))))  # B: 0 -> 1LA, 1 -> 1RZ
assert bb2 == parse_machine("1RB1LB_1LA1RZ") and str(bb2) == "1RB1LB_1LA1RZ"
bb2

# %% [markdown]
# ## Run it
#
# `simulate` is the reference simulator: plain Python semantics, the ground truth every faster path is
# tested against. BB(2) halts after 6 steps with 4 ones on the tape; the 4-state champion after 107
# with 13.

# %%
assert simulate(bb2, 100).summary()["steps"] == 6 and simulate(bb2, 100).summary()["sigma"] == 4
bb4 = parse_machine("1RB1LB_1LA0LC_1RZ1LD_1RD0RA")
ref = simulate(bb4, 1000)
assert (ref.steps, ref.sigma, ref.halted) == (107, 13, True)
ref.summary()

# %% [markdown]
# The trace holds, per step, the state, the head's cell *before* the step, the symbol read and the
# symbol written:

# %%
t = ref.trace
assert len(t) == 107 and t.head[0] == 0 and t.read[0] == 0 and t.write[0] == 1   # A reads 0, writes 1 ...
assert t.head[1] == 1                                                            # ... and moves right
[(int(a), int(b), int(c), int(d)) for a, b, c, d in zip(t.state[:6], t.head[:6], t.read[:6], t.write[:6])]

# %% [markdown]
# ## Its space-time diagram
#
# One row per step (time runs down), one column per cell, colour = symbol, red dots = the head.
# `tm_transformer.plots.spacetime` returns a matplotlib `Figure` (nothing is written unless you save it).

# %%
from tm_transformer import plots

fig = plots.spacetime(bb4, 107)
assert type(fig).__name__ == "Figure"
fig.set_size_inches(3.4, 5)   # an ordinary matplotlib Figure: resize, annotate, save as you like
fig

# %% [markdown]
# ## Compile it
#
# `compile_machine` writes the weights: one attention layer (one head) and one MLP. The residual stream
# has named dimensions: the current `state`, the symbol `read`, the attention `value`, the head's cell as
# `qbits` (+-1 bits), the cell a token wrote as `kbits`, the token's `recency`, a constant `one`, and the
# MLP's outputs `next_state`, `write`, `move`, `undefined`. The weights are sized for a number of steps
# (the scale M = steps + 1 enters the query) and a head range +-R.

# %%
from tm_transformer.transformer import compile_machine
from tm_transformer.transformer.introspect import transition_table
from tm_transformer.transformer.weights import named_arrays

T, R = 200, 16
cm = compile_machine(bb4, T, head_range=R)
L = cm.layout
print(f"d_model = {L.d_model}, position bits D = {L.D}, scale M = {cm.M}")
print(transition_table(cm))
assert cm.M == T + 1 and L.D == 6                  # 2R + 1 = 33 cells need 6 bits
assert "1RZ" in transition_table(cm).splitlines()[4]  # row C reads 0 -> 1RZ, back from W_2

# %% [markdown]
# ## Read the named weights
#
# Every array has a name (they are exported under these names by `tmt export`). The query matrix copies
# the head's bits, times M, and the constant 1; the key matrix copies the written cell's bits and the
# recency. So the score of key s is `M <bits(head), bits(cell written by s)> + recency(s)`: an integer.

# %%
W = named_arrays(cm.params)
names = L.dim_names()
wq, wk = W["layers.0.attn.w_q"][0], W["layers.0.attn.w_k"][0]   # (d_model, D + 1)
q_rows = {names[i]: wq[i].nonzero()[0].tolist() for i in np.nonzero(wq.any(axis=1))[0]}
print("W_q reads:", {k: float(wq[names.index(k)].sum()) for k in q_rows})
print("W_k reads:", [names[i] for i in np.nonzero(wk.any(axis=1))[0]])
assert all(wq[names.index(f"qbits[{j}]"), j] == cm.M for j in range(L.D)) and wq[names.index("one"), L.D] == 1
assert all(wk[names.index(f"kbits[{j}]"), j] == 1 for j in range(L.D)) and wk[names.index("recency"), L.D] == 1
k_rows = {names[i] for i in np.nonzero(wk.any(axis=1))[0]}
assert set(q_rows) == {f"qbits[{j}]" for j in range(L.D)} | {"one"}        # ... and nothing else
assert k_rows == {f"kbits[{j}]" for j in range(L.D)} | {"recency"}
{k: v.shape for k, v in W.items()}

# %% [markdown]
# ## Run the transformer
#
# `run` decodes one token per step from these weights (in float32 by default) and certifies every step
# (more below). Its trace equals the reference simulator's, step by step:

# %%
from tm_transformer.transformer import run

out = run(bb4, T, head_range=R)
res = out.results[0]
assert res.trace == ref.trace and res.summary() == ref.summary()
assert out.certified
res.summary()

# %% [markdown]
# ## Watch attention pick the last write to the head's cell
#
# With `record=True` the run keeps, per step, which earlier token attention picked and its top two
# scores. The key of the latest write to cell h scores `M D + s` (s = its step); a write to any other
# cell loses at least 2M, an older write to h loses its recency difference, and the start token (which
# stands for the blank tape) scores `M (D - 1)`. Check it against the reference trace: at every step,
# the attended token is the last step that wrote to the cell under the head, or the start token.

# %%
rec = run(bb4, T, head_range=R, layout="dense", record=True)
P, s = rec.prompt_length, int(rec.steps[0])
attended = rec.attended[0][P - 1: P - 1 + s] - (P - 1)   # 0 = start token, j = the token of step j
top = rec.scores[0][P - 1: P - 1 + s, 0]
last_write = []
for step in range(s):
    earlier = np.nonzero(ref.trace.head[:step] == ref.trace.head[step])[0]
    last_write.append(int(earlier[-1]) + 1 if earlier.size else 0)
assert attended.tolist() == last_write
M, D = rec.M, L.D
expected = [M * D + j if j else M * (D - 1) for j in last_write]
assert top.tolist() == expected                          # the integer scores, exactly
print("attended tokens, first 12 steps:", attended[:12].tolist())
print("top scores,      first 12 steps:", top[:12].astype(int).tolist())

# %%
fig = plots.transformer_run(rec, L.dim_names(), title=str(bb4))
fig

# %% [markdown]
# ## Where each dtype stops being exact, and why
#
# Every score is a sum of integer products, the largest about `M D + T`. A float with p significand bits
# holds every integer up to `2^p` exactly, so every score is exact, in any summation order, while
#
# $$ (T + 1) D + T \le 2^p \quad\Longleftrightarrow\quad T \le T_{\rm exact}(p, R) = \left\lfloor \frac{2^p - D}{D + 1} \right\rfloor. $$
#
# That is the **a-priori envelope**: known before the run.

# %%
from tm_transformer.transformer.envelope import MANTISSA_BITS, position_bits, steps_exact

for dtype, p in MANTISSA_BITS.items():
    print(f"{dtype:9s} p = {p:2d}: exact for T <= {steps_exact(p, R):>20,} steps at R = {R}, "
          f"{steps_exact(p, 1000):>20,} at R = 1000")
assert steps_exact(8, R) == (2 ** 8 - position_bits(R)) // (position_bits(R) + 1) == 35
assert steps_exact(24, 1000) == 1_398_100

# %% [markdown]
# ### The certificate
#
# The envelope is sufficient, not necessary. What makes a returned run exact is the **certificate**: each
# step checks, from the model's own numbers, that the query and keys hold integers whose absolute
# products sum to at most `2^p`, that the top score beats the runner-up, and that the read-out is
# decisive. The first step that fails raises `PrecisionError` naming the machine, the step and the
# reason. In bfloat16 (p = 8) BB(4) certifies for 35 steps; with weights sized for 36 steps (M = 37) the
# sum `M D + t` reaches `37 * 6 + 34 = 256 = 2^8` at step 35, which the certificate refuses (it keeps a
# margin below `2^p`), and the run says so:

# %%
from tm_transformer import PrecisionError

assert run(bb4, 35, head_range=R, dtype="bfloat16").results[0].trace == simulate(bb4, 35).trace
try:
    run(bb4, 36, head_range=R, dtype="bfloat16")
    raise AssertionError("expected a PrecisionError")
except PrecisionError as e:
    message = str(e)
assert "not certified at step 35" in message and "bfloat16" in message and "256" in message   # 37 * 6 + 34
print(message)

# %% [markdown]
# The certificate is conservative: it refuses a step as soon as exactness is no longer *guaranteed*, not
# when the answer is already wrong. Decode uncertified (`certify=False`) with weights for 41 steps: the
# certificate's first failure comes well before the trace first differs from the reference -- and never
# after it (a certified wrong step would be a bug; check 6 of `tmt reproduce` measures this over random
# machines).

# %%
loose = run(bb4, 41, head_range=R, dtype="bfloat16", certify=False)
cert_fail = int(loose.fail_step[0])
real_fail = loose.results[0].trace.first_difference(simulate(bb4, 41).trace)
print(f"certificate fails first at step {cert_fail}; the trace first differs at step {real_fail}")
assert real_fail is not None, "the uncertified run should go wrong within 41 steps"
assert cert_fail < real_fail                   # the certificate refuses first (here 5 vs 12)

# %% [markdown]
# A run that cannot certify even its first step (`M D > 2^p`) is refused before it starts:

# %%
try:
    run(bb4, 1000, head_range=R, dtype="bfloat16")
    raise AssertionError("expected a PrecisionError")
except PrecisionError as e:
    assert "hopeless" in str(e)
    print(e)

# %% [markdown]
# ## Exercise
#
# Write a 2-state machine that walks right forever writing `1 0 1 0 ...`. Predict from the envelope the
# longest run float16 (p = 11) is *guaranteed* to keep exact at head range R = 256 (does the head stay
# inside the range?). Check that the transformer runs it for that many steps in float16 and equals the
# reference simulator. The envelope is sufficient, not necessary: does one step more fail for this
# machine?
#
# (The solution sits in the collapsed cell below and runs only when `SOLUTIONS` is true: set
# `SOLUTIONS = True` in the first code cell, or start Jupyter with `TMT_SOLUTIONS=1 jupyter lab notebooks/`.)

# %% tags=["solution"] jupyter={"source_hidden": true}
if SOLUTIONS:
    walker = parse_machine("1RB1RB_0RA0RA")
    limit = steps_exact(MANTISSA_BITS["float16"], 256)   # D = 10 bits for 513 cells: (2048 - 10) // 11
    assert limit == 185 <= 256                            # the head ends at cell 185, inside +-256
    got = run(walker, limit, head_range=256, dtype="float16").results[0]
    assert got.trace == simulate(walker, limit).trace and got.steps == limit
    try:                                                  # here the envelope is tight:
        run(walker, limit + 1, head_range=256, dtype="float16")
        raise AssertionError("expected a PrecisionError")
    except PrecisionError as e:
        assert "not certified at step" in str(e)
    print(f"float16 at R = 256: {limit} steps, exact and certified; {limit + 1} steps are refused")
