"""Output folders that never lose a user's files.

The toolkit writes a results folder in one piece: everything goes into a hidden staging folder next to
the target, and the staging folder is renamed into place at the end. Each folder it writes holds a
marker file, :data:`MARKER`, listing the files it wrote. An existing target folder is replaced only when

* it is empty, or
* it holds the marker and nothing but the files the marker lists (the toolkit's own earlier results).

The point store, :data:`STORE`, is written into the target folder itself while a run goes on (that is
what lets an interrupted run resume) and copied into the new results at the end (the original stays in
the target until the new folder has replaced it, so a refused or failed commit keeps every point); it
counts as the toolkit's own.

Anything else -- a folder with a user's files in it, ``--out .``, a file where a folder should be -- is
refused with one line, before any work starts. Nothing outside the listed files is ever deleted.

The marker also names the command that wrote the folder and when (``command``, ``created``). The
command line (:func:`check_replace`) refuses, without ``--overwrite``, to replace the results of a
different command, or a folder holding another command's results inside it (an earlier ``tmt
experiment`` under ``results/``), and says in one line what it replaces.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from tm_transformer.errors import ToolkitError

MARKER = ".tmt-results.json"
STORE = ".tmt-points.jsonl"  # the point store of a run in progress (:mod:`experiments.store`)
TOOL = "tm-transformer"


def _listing(folder: Path) -> set[str]:
    """Every file and folder under ``folder``, as POSIX paths relative to it (the marker excluded)."""
    out = set()
    for p in folder.rglob("*"):
        rel = p.relative_to(folder).as_posix()
        if rel != MARKER:
            out.add(rel + ("/" if p.is_dir() and not p.is_symlink() else ""))
    return out


def _owned(folder: Path) -> set[str] | None:
    """The files the marker of ``folder`` lists, or None when it has no readable toolkit marker."""
    try:
        data = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("tool") != TOOL or not isinstance(data.get("files"), list):
        return None
    return {str(f) for f in data["files"]}


def _foreign(folder: Path, owned: set[str], prefix: str = "") -> list[str]:
    """Files under ``folder`` that no toolkit marker lists: neither ``owned`` (paths relative to the top
    folder) nor the marker of a toolkit subfolder (an earlier ``tmt experiment`` writes its own)."""
    out = []
    for child in sorted(folder.iterdir()):
        rel = prefix + child.name
        if child.name == MARKER or (not prefix and child.name == STORE and child.is_file()):
            continue
        if child.is_dir() and not child.is_symlink():
            sub = _owned(child)
            if sub is not None:  # a toolkit subfolder: its own marker lists its files
                out += [rel + "/" + f for f in _foreign(child, sub) if rel + "/" + f not in owned]
            else:
                out += _foreign(child, owned, rel + "/")
        elif rel not in owned:
            out.append(rel)
    return out


def check_target(out: Path) -> None:
    """Raise :class:`ToolkitError` unless the toolkit may (re)place ``out`` without losing anything."""
    out = Path(out)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ToolkitError(f"--out {str(out)!r}: exists and is not a folder; choose a new folder name")
    for parent in out.absolute().parents:
        if parent.exists() and not parent.is_dir():
            raise ToolkitError(f"--out {str(out)!r}: {str(parent)!r} is a file, not a folder")
    if not out.exists():
        return
    here = Path.cwd().resolve()
    if out.resolve() == here or out.resolve() in here.parents:
        raise ToolkitError(f"--out {str(out)!r}: is the current folder (or holds it); choose a new folder name")
    try:
        foreign = _foreign(out, _owned(out) or set())
    except OSError as exc:
        raise ToolkitError(f"--out {str(out)!r}: cannot list it ({exc.strerror})") from None
    if foreign and _owned(out) is None:
        raise ToolkitError(f"--out {str(out)!r}: folder is not empty and was not written by tmt "
                           f"(no {MARKER}); choose a new or empty folder")
    if foreign:
        raise ToolkitError(f"--out {str(out)!r}: holds files tmt did not write ({', '.join(foreign[:3])}"
                           f"{', ...' if len(foreign) > 3 else ''}); move them or choose another folder")


def _marker(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("tool") == TOOL else None


def _nested(folder: Path, prefix: str = "") -> list[tuple[str, dict]]:
    """Toolkit results folders (their own marker) anywhere below ``folder``, as (relative path, marker)."""
    out = []
    for child in sorted(folder.iterdir()):
        if child.is_dir() and not child.is_symlink():
            data = _marker(child)
            if data is not None:
                out.append((prefix + child.name, data))
            else:
                out += _nested(child, prefix + child.name + "/")
    return out


def _written_by(data: dict) -> str:
    return (f"`{data['command']}`" if data.get("command") else "an earlier tmt command") + (
        f" (written {data['created']})" if data.get("created") else "")


def check_replace(out: Path, command: str | None, overwrite: bool = False) -> str | None:
    """After :func:`check_target`: refuse (unless ``overwrite``) to replace the results of a command other
    than ``command``, or a folder with another command's results folder inside it; return the line that
    names what will be replaced (folder, command, time), None when nothing is."""
    out = Path(out)
    if not out.is_dir():
        return None
    try:
        nested, data = _nested(out), _marker(out)
    except OSError as exc:
        raise ToolkitError(f"--out {str(out)!r}: cannot list it ({exc.strerror})") from None
    if nested and not overwrite:
        where, inner = nested[0]
        raise ToolkitError(f"--out {str(out)!r}: holds the results of {_written_by(inner)} in {where!r}"
                           f"{f' and {len(nested) - 1} more' if len(nested) > 1 else ''}; move them, choose "
                           "another folder, or add --overwrite to replace them all")
    if data is None and not nested:
        return None  # empty
    if data is not None and command and data.get("command") and data["command"] != command and not overwrite:
        raise ToolkitError(f"--out {str(out)!r}: holds the results of {_written_by(data)}, not of `{command}`; "
                           "choose another folder, or add --overwrite to replace them")
    what = _written_by(data) if data is not None else "no results of its own"
    inner = f", and {', '.join(w for w, _ in nested)} inside it" if nested else ""
    return f"tmt: replacing {str(out)!r} when this run finishes: the results of {what}{inner}"


def staging_for(out: Path) -> Path:
    """A fresh hidden folder beside ``out`` (same file system, so the final rename is atomic)."""
    out = Path(out)
    check_target(out)
    try:
        out.absolute().parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.absolute().name}.tmt-", dir=out.absolute().parent))
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)  # mkdtemp makes 0700; results are for others to read too
        return staging
    except OSError as exc:
        raise ToolkitError(f"--out {str(out)!r}: cannot create a folder beside it ({exc.strerror or exc})") from None


def _keep(staging: Path, out: Path, created: str) -> Path | None:
    """Rename a finished run's staging folder to a visible name beside ``out`` (``OUT.kept-<time>``), so
    that a refused commit loses no results; None when that fails too."""
    stamp = created.replace(":", "").replace("-", "").replace("+0000", "")
    for i in range(100):
        target = out.absolute().parent / f"{out.absolute().name}.kept-{stamp}{f'-{i}' if i else ''}"
        try:
            target.mkdir()  # claims the name (a rename onto an empty folder then replaces it)
            os.rename(staging, target)
            return target
        except FileExistsError:
            continue
        except OSError:
            return None
    return None


def commit(staging: Path, out: Path, command: str | None = None, overwrite: bool = False) -> None:
    """Mark ``staging`` as the toolkit's and rename it to ``out``, replacing an earlier toolkit folder.

    Both checks run again first (:func:`check_target`, and :func:`check_replace` for ``command``): a user
    may have put files in ``out`` while the run went on, or another run (another command, or results
    written inside ``out``) may have finished there; then nothing is replaced, this run's results are kept
    beside it (``OUT.kept-<time>``) and the error names both.

    The old folder is first renamed aside and removed only after the new one is in place, so at every
    moment either the old results or the new ones exist under a name the user can find.
    """
    staging, out = Path(staging), Path(out)
    files = sorted(p for p in _listing(staging) if not p.endswith("/"))
    from datetime import datetime, timezone

    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    (staging / MARKER).write_text(json.dumps({"tool": TOOL, "files": files, "command": command, "created": created},
                                             indent=1) + "\n")
    try:
        check_target(out)  # again: the user, or an overlapping run, may have written there meanwhile
        if command is not None:
            check_replace(out, command, overwrite)
    except ToolkitError as exc:
        kept = _keep(staging, out, created)
        where = f"; this run's results are in {str(kept)!r}" if kept is not None else ""
        raise ToolkitError(f"{exc} (found when this run finished: written while it went on; nothing was "
                           f"replaced{where})") from None
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.absolute().name}.old-", dir=out.absolute().parent))
        os.rename(out, old / "results")
    os.rename(staging, out)
    if old is not None:
        shutil.rmtree(old)
