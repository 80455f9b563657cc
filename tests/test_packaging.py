"""Issue 11, items 4 and 6: import names that cannot be shadowed; a package a researcher can install and cite."""
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

import tm_transformer
from tm_transformer.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


def test_api_imports_from_a_folder_with_its_own_bounds_and_experiments(tmp_path):
    (tmp_path / "bounds.py").write_text("raise ImportError('the user bounds.py was imported')\n")
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "__init__.py").write_text("raise ImportError('the user experiments/ was imported')\n")
    res = _python("""
from tm_transformer.bounds import get, compare, Bound
from tm_transformer.experiments.report import run_checks
from tm_transformer.experiments.checks import CHECKS
from tm_transformer.transformer import run, compile_machine, envelope, TransformerRun
from tm_transformer import parse_machine
assert abs(get("weissman").evaluate(V=10, eps=0.1, delta=0.05) - 496.26245) < 1e-3
assert run(parse_machine("1RB1LB_1LA1RZ"), 20).results[0].steps == 6
print("ok")
""", tmp_path)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]


def test_old_names_are_the_same_modules(tmp_path):
    res = _python("""
import bounds, bounds.compare, experiments.stats, experiments.report
import tm_transformer.bounds, tm_transformer.bounds.compare, tm_transformer.experiments.stats
import sys
assert bounds is tm_transformer.bounds and sys.modules["bounds.compare"] is sys.modules["tm_transformer.bounds.compare"]
assert experiments.stats is tm_transformer.experiments.stats and bounds.get is tm_transformer.bounds.get
from bounds import compare
assert callable(compare) and compare is sys.modules["tm_transformer.bounds.compare"].compare
print("ok")
""", tmp_path)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]


def test_no_import_hook_a_checkout_resolves_the_parts_through_its_links():
    """Issue 23: ``tm_transformer.bounds``/``.experiments`` are plain folders to the import system and to static
    tools (pyright): links in a checkout, folders when installed; the package adds no finder to sys.meta_path."""
    assert (ROOT / "tm_transformer" / "bounds").resolve() == ROOT / "bounds"
    assert (ROOT / "tm_transformer" / "experiments").resolve() == ROOT / "experiments"
    res = _python("import sys; before = list(sys.meta_path)\n"
                  "import tm_transformer, tm_transformer.bounds.known, tm_transformer.experiments.report\n"
                  "import warnings; warnings.simplefilter('ignore')\n"
                  "import bounds, experiments.stats\n"
                  "print([type(f).__module__ for f in sys.meta_path if f not in before])", ROOT)
    assert res.returncode == 0 and res.stdout.strip() == "[]", res.stderr[-2000:]


def test_transformer_package_documents_its_api():
    import tm_transformer.transformer as t

    assert t.__doc__ and set(t.__all__) == {"run", "compile_machine", "envelope", "TransformerRun"}


def test_version_has_one_source(capsys):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    dynamic = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["dynamic"]
    assert dynamic["version"] == {"attr": "tm_transformer.__version__"}
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"tmt {tm_transformer.__version__}"
    assert yaml.safe_load((ROOT / "CITATION.cff").read_text())["version"] == tm_transformer.__version__


def test_every_listed_package_has_its_folder():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = tool["package-dir"]
    for package in tool["packages"]:
        folder = ROOT / mapping.get(package, package.replace(".", "/"))
        assert (folder / "__init__.py").is_file(), package
    found = {p.parent.relative_to(ROOT).as_posix() for p in ROOT.glob("tm_transformer/**/__init__.py")}
    assert found <= {p.replace(".", "/") for p in tool["packages"]}, "a subpackage is missing from pyproject"
    assert (ROOT / "tm_transformer" / "styles" / "tmt.mplstyle").is_file()


def test_packaging_metadata_and_documents():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == {"text": "MIT"} and project["urls"] and len(project["classifiers"]) >= 5
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] and cff["license"] == "MIT"
    assert (ROOT / "docs" / "CLAIMS.md").is_file() and (ROOT / "docs" / "MACHINES.md").is_file()
    outside = ("PAPER" + ".md", "ACCEPTANCE" + ".md")  # documents outside the repository
    code = [p for folder in ("tm_transformer", "bounds", "experiments", "tests") for p in (ROOT / folder).glob("**/*.py")]
    assert [p.name for p in code if any(name in p.read_text() for name in outside)] == []
    readme = (ROOT / "README.md").read_text()
    assert "python3 -m venv" in readme and "pip install . && tmt reproduce --quick" in readme
    # CI runs the README's test command (.ci/run), exactly
    command = re.search(r'pip install "\.\[test\]" && (python -m pytest[^#\n]*?)\s*(#|\n)', readme).group(1)
    assert command.startswith("python -m pytest -q") and command in (ROOT / ".ci" / "run").read_text()
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    sources = "".join("".join(c["source"]) for nb in notebooks for c in json.loads(nb.read_text())["cells"])
    assert "from bounds" not in sources and "from experiments" not in sources


@pytest.mark.slow
def test_a_wheel_holds_the_mapped_packages_and_the_style_file(tmp_path):
    """``pip install .`` installs what the wheel holds: tm_transformer.bounds/.experiments, the old names, the style."""
    import shutil
    import zipfile

    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc")
    for folder in ("tm_transformer", "bounds", "experiments"):
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                          str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("tm_transformer-*.whl"))
    assert wheel.name.startswith(f"tm_transformer-{tm_transformer.__version__}-")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in ("tm_transformer/bounds/__init__.py", "tm_transformer/experiments/report.py",
                 "tm_transformer/transformer/__init__.py", "tm_transformer/styles/tmt.mplstyle",
                 "bounds/__init__.py", "experiments/__init__.py", "tm_transformer/formats/program.py"):
        assert path in names, path
