"""Which toolkit made a result: its version and commit as installed -- never the git repository that
happens to hold the user's working folder or the installed package.

The commit is looked up, first answer wins, in

1. ``tm_transformer/_build_info.py``, written at build time by ``setup.py`` (``pip install .``, a wheel,
   ``pip install git+...``): the commit the installed copy was built from;
2. the installation's own metadata (PEP 610 ``direct_url.json``: ``pip install git+URL@REV`` records the
   commit), used only when that installation is the copy being run;
3. git, asked only when the folder above this package is the top of a git checkout of the toolkit itself
   (its ``pyproject.toml`` names ``tm-transformer`` and it tracks ``tm_transformer/``): a source checkout
   run with ``PYTHONPATH=.`` or installed editable.

``-dirty`` is appended only when a tracked file of the toolkit's own source (:data:`SOURCE`) differs from
the commit; untracked files (results, staging folders, a user's notes) never make it dirty.

Stdlib only; ``setup.py`` loads this file by path at build time and calls :func:`checkout_commit`.
"""
from __future__ import annotations

import json
import subprocess
from functools import lru_cache
from pathlib import Path

SOURCE = ("tm_transformer", "bounds", "experiments", "pyproject.toml", "setup.py")  # the toolkit's own files
DIST = "tm-transformer"
HERE = Path(__file__).resolve().parent


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def checkout_commit(root: Path) -> str | None:
    """``<sha>`` or ``<sha>-dirty`` when ``root`` is the top of a git checkout of the toolkit, else None
    (``root`` inside someone else's repository -- a paper's, a virtual environment's -- gives None)."""
    root = Path(root).resolve()
    try:
        if f'name = "{DIST}"' not in (root / "pyproject.toml").read_text():
            return None
    except OSError:
        return None
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != root:
        return None
    if _git(root, "ls-files", "--error-unmatch", "tm_transformer/__init__.py") is None:
        return None  # the files are there but not tracked by this repository
    sha = _git(root, "rev-parse", "HEAD")
    if not sha:
        return None
    changed = _git(root, "status", "--porcelain", "--untracked-files=no", "--", *SOURCE)
    return sha + ("-dirty" if changed else "")


def _build_info() -> dict | None:
    try:
        from . import _build_info  # type: ignore[attr-defined]
    except ImportError:
        return None
    return {"commit": getattr(_build_info, "COMMIT", None), "source": "build"}


def _installed_vcs_commit() -> str | None:
    """The commit in the installation's ``direct_url.json``, when that installation is this copy."""
    from importlib import metadata

    try:
        dist = metadata.distribution(DIST)
        # locate_file gives a Path here; typeshed's SimplePath protocol lacks __fspath__
        located = Path(dist.locate_file("tm_transformer/__init__.py"))  # pyright: ignore[reportArgumentType]
        if located.resolve() != HERE / "__init__.py":
            return None  # metadata of another copy (e.g. an editable install of a different checkout)
        data = json.loads(dist.read_text("direct_url.json") or "null")
    except (metadata.PackageNotFoundError, OSError, ValueError):
        return None
    vcs = (data or {}).get("vcs_info") or {}
    return vcs.get("commit_id")


@lru_cache(maxsize=1)
def toolkit() -> dict:
    """``{"version", "commit", "source"}`` of the toolkit running now; ``commit`` None when none of the
    three sources knows it (``source`` then None too)."""
    from . import __version__

    info = _build_info()
    if info is None or not info["commit"]:
        commit = _installed_vcs_commit()
        info = ({"commit": commit, "source": "installation metadata"} if commit else
                {"commit": checkout_commit(HERE.parent), "source": "git checkout"})
        if not info["commit"]:
            info = {"commit": None, "source": None}
    return {"version": __version__, **info}


def toolkit_commit() -> str | None:
    """The toolkit's own commit (``-dirty`` when its tracked source differs), or None when unknown."""
    return toolkit()["commit"]
