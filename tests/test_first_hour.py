"""Issue 27: a first hour without surprises -- an instant CLI, true provenance, progress in every log, the
fast path by default, no input holes, no results silently replaced."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMT_")}
    env["PYTHONPATH"] = str(ROOT)  # this checkout, whatever is installed
    env.update(extra)
    return env


# --- item 6: an instant CLI -------------------------------------------------------------------------------
LOADED = ("import atexit, sys\n"
          "atexit.register(lambda: print('LOADED ' + ' '.join(sorted(m for m in ('jax', 'sympy', 'scipy', 'matplotlib') "
          "if m in sys.modules)), file=sys.stderr))\n"
          "from tm_transformer.cli import main\n"
          "sys.exit(main())\n")


def _loaded(*argv, cwd=None) -> tuple[set[str], subprocess.CompletedProcess]:
    res = subprocess.run([sys.executable, "-c", LOADED, *argv], capture_output=True, text=True, timeout=300,
                         env=_env(), cwd=cwd)
    line = [x for x in res.stderr.splitlines() if x.startswith("LOADED")][-1]
    return set(line.split()[1:]), res


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["runn"], ["run", "--steps", "x", "1RB1LB_1LA1RZ"],
                                  ["bounds", "--help"], ["experiment", "--help"], ["reproduce", "--jobs", "0"]])
def test_version_help_and_bad_input_import_neither_jax_nor_sympy(argv, tmp_path):
    loaded, res = _loaded(*argv, cwd=tmp_path)
    assert res.returncode in (0, 2), res.stderr
    assert loaded == set(), (argv, loaded)


@pytest.mark.parametrize("argv", [["bounds", "list"], ["bounds", "show", "weissman"],
                                  ["bounds", "eval", "weissman", "V=10", "eps=0.1", "delta=0.05"],
                                  ["bounds", "eval", "nope", "eps=0.1"]])
def test_bounds_commands_never_import_jax(argv, tmp_path):
    loaded, res = _loaded(*argv, cwd=tmp_path)
    assert res.returncode in (0, 2), res.stderr
    assert "jax" not in loaded and "matplotlib" not in loaded, (argv, loaded)


def test_lazy_exports_are_the_functions_not_the_submodules():
    """Lazy package attributes keep the eager meaning: ``transformer.envelope`` and ``bounds.compare`` are
    the functions even where the submodule of that name was imported first."""
    code = ("import tm_transformer.transformer.envelope as m1, tm_transformer.bounds.compare as m2\n"
            "import types, tm_transformer as t\n"
            "from tm_transformer.transformer import envelope, run\n"
            "from tm_transformer.bounds import compare, get\n"
            "import bounds\n"
            "assert callable(envelope) and not isinstance(envelope, types.ModuleType)\n"
            "assert callable(compare) and not isinstance(compare, types.ModuleType)\n"
            "assert bounds.compare is compare and bounds.get is get\n"
            "assert t.simulate is __import__('tm_transformer.simulator').simulator.simulate\n"
            "assert set(t.__all__) <= set(dir(t))\n"
            "print('ok')\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=_env())
    assert res.stdout.strip() == "ok", res.stderr
