"""Issue 24: every decoder validates its input, and a certified run equals exact arithmetic on the same
weights, for any weights a user loads (the whole-step rounding-error bound of :mod:`.decode`)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tm_transformer.cli import main

STANDALONE = Path(__file__).resolve().parents[1] / "tm_transformer" / "transformer" / "standalone.py"
BB4 = "1RB1LB_1LA0LC_1RZ1LD_1RD0RA"


def _export(tmp_path, machine=BB4, steps=100, R=8):
    path = tmp_path / "w.safetensors"
    assert main(["export", machine, "-o", str(path), "--steps", str(steps), "--head-range", str(R)]) == 0
    return path


def _read(path):
    from safetensors import safe_open
    from safetensors.numpy import load_file

    with safe_open(str(path), "np") as f:
        cfg = json.loads(f.metadata()["config"])
    return load_file(str(path)), cfg


def _write(path, arrays, cfg):
    from safetensors.numpy import save_file

    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path), metadata={"config": json.dumps(cfg)})


def _nan(arrays, name, value=np.nan):
    a = arrays[name].copy()
    a.flat[a.size // 2] = value
    return {**arrays, name: a}


TAMPER = {  # name: (edit of (arrays, cfg), text the one-line refusal holds)
    "n_states": (lambda a, c: (a, {**c, "n_states": c["n_states"] + 1}), "has shape"),
    "n_states_fewer": (lambda a, c: (a, {**c, "n_states": c["n_states"] - 1}), "has shape"),
    "head_range": (lambda a, c: (a, {**c, "head_range": c["head_range"] + 5}), "has shape"),
    "head_range_same_bits": (lambda a, c: (a, {**c, "head_range": c["head_range"] + 1}), "has shape"),
    "position_bits": (lambda a, c: (a, {**c, "position_bits": c["position_bits"] + 1}), "position_bits"),
    "position_bits_text": (lambda a, c: (a, {**c, "position_bits": "four"}), "position_bits"),
    "M_large": (lambda a, c: (a, {**c, "M": 10 ** 6}), "config M"),
    "M_small": (lambda a, c: (a, {**c, "M": c["M"] - 1}), "config M"),
    "M_text": (lambda a, c: (a, {**c, "M": "101"}), "M"),
    "nan": (lambda a, c: (_nan(a, "layers.0.mlp.w_2"), c), "non-finite"),
    "inf": (lambda a, c: (_nan(a, "embed.head", np.inf), c), "non-finite"),
    "missing": (lambda a, c: ({k: v for k, v in a.items() if k != "readout.symbol"}, c), "readout.symbol"),
    "misshapen": (lambda a, c: ({**a, "layers.0.attn.w_v": a["layers.0.attn.w_v"][..., :-1]}, c), "has shape"),
}


def _one_line_refusal(argv_tail, path):
    out = subprocess.run([sys.executable, str(STANDALONE), str(path), *argv_tail], capture_output=True, text=True)
    return out.returncode, out.stdout, out.stderr


@pytest.mark.parametrize("case", sorted(TAMPER))
def test_the_standalone_decoder_refuses_a_tampered_file_in_one_line_as_tmt_does(tmp_path, case, capsys):
    path = _export(tmp_path)
    arrays, cfg = _read(path)
    edit, needle = TAMPER[case]
    _write(path, *edit(arrays, cfg))
    code, out, err = _one_line_refusal(["--json"], path)
    assert code != 0 and out == "" and "Traceback" not in err, err
    assert err.count("\n") == 1 and needle in err, err
    if case == "M_text":  # tmt reads the number inside the string ("101"); the standalone decoder is stricter
        return
    capsys.readouterr()
    assert main(["run", BB4, "--engine", "transformer", "--weights", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle.split()[-1] in err, err


def test_the_standalone_decoder_refuses_a_truncated_file_in_one_line(tmp_path, capsys):
    path = _export(tmp_path)
    data = path.read_bytes()
    for cut in (len(data) // 2, 20, 5):
        path.write_bytes(data[:cut])
        code, out, err = _one_line_refusal([], path)
        assert code != 0 and out == "" and "Traceback" not in err and err.count("\n") == 1, err
        assert "not a readable safetensors file" in err
        capsys.readouterr()
        assert main(["run", BB4, "--engine", "transformer", "--weights", str(path)]) == 2
        assert capsys.readouterr().err.count("\n") == 1


def test_the_standalone_decoder_runs_an_untampered_file_and_says_it_does_not_certify(tmp_path):
    path = _export(tmp_path, steps=300, R=40)
    out = subprocess.run([sys.executable, str(STANDALONE), str(path), "--json"], capture_output=True, text=True,
                         check=True)
    got = json.loads(out.stdout)
    assert (got["steps"], got["sigma"], got["state"], got["certified"]) == (107, 13, "Z", False)
    code, _, err = _one_line_refusal(["--tape", "01x"], path)
    assert code != 0 and err.count("\n") == 1 and "--tape" in err
