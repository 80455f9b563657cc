"""The transformer's batched decode split over host devices (issue 14): each device decodes its own
machines, so traces, tapes, certificates and slot counts are bit-identical on 1 and 4 devices, and the
decoding state really lived on 4 devices. Run in subprocesses (the device count is fixed at JAX start)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r'''
import json, numpy as np
from tm_transformer.formats import parse_machine
from tm_transformer.transformer.decode import run
# five machines (padded to 8 rows on 4 devices, the copies dropped): halting, non-halting, 3-symbol
ms = [parse_machine(s) for s in ["1RB1LB_1LA1RZ", "1RB0LB_1LA0RA", "1RB1LC_1RC1RB_1RD0LE_1LA1LD_1RZ0LA",
                                 "1RB2LB1RZ_2LA2RB1LB", "1RB1LB_1LA1RZ"]]
out = {}
for cache in ("full", "evict"):
    r = run(ms, 60, cache=cache)
    out[cache] = {"devices": r.devices, "steps": r.steps.tolist(), "sigma": r.sigma.tolist(),
                  "traces": [[getattr(x.trace, f).tolist() for f in ("state", "head", "read", "write")]
                             for x in r.results],
                  "tapes": [x.tape.tolist() for x in r.results], "gap": np.asarray(r.min_gap).tolist(),
                  "margin": np.asarray(r.min_readout_margin).tolist(),
                  "slots": None if r.slots is None else np.asarray(r.slots).tolist()}
out["single"] = run(ms[2], 30, cache="evict").devices
print(json.dumps(out))
'''


def _run(devices: int) -> dict:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", "JAX_PLATFORMS": "cpu"}
    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_batched_decode_is_split_over_devices_and_bit_identical():
    one, four = _run(1), _run(4)
    for cache in ("full", "evict"):
        assert one[cache]["devices"] == 1 and four[cache]["devices"] == 4
        assert len(four[cache]["steps"]) == 5  # the padding copies are dropped
        for key in ("steps", "sigma", "traces", "tapes", "gap", "margin", "slots"):
            assert one[cache][key] == four[cache][key], (cache, key)
    assert one["single"] == four["single"] == 1  # one machine is not split
