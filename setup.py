"""Build hook (the rest of the configuration is in pyproject.toml): record the commit the toolkit is built
from in ``tm_transformer/_build_info.py`` of the built package, so that results name the toolkit's own
commit wherever it is installed (:mod:`tm_transformer.provenance`)."""
import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def _checkout_commit():
    spec = importlib.util.spec_from_file_location("_tmt_provenance", ROOT / "tm_transformer" / "provenance.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.checkout_commit(ROOT)


class BuildPy(build_py):
    """``build_py`` that also writes ``_build_info.py`` (not for editable installs: they run the checkout,
    whose commit git gives)."""

    def run(self):
        super().run()
        if self.dry_run or getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "tm_transformer" / "_build_info.py"
        target.write_text('"""Written by setup.py at build time: the commit this copy was built from."""\n'
                          f"COMMIT = {_checkout_commit()!r}\n")


setup(cmdclass={"build_py": BuildPy})
