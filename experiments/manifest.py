"""Provenance of every result: config, seed, package versions, git commit, device, timing."""
from __future__ import annotations

import json
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

PACKAGES = ("jax", "jaxlib", "numpy", "scipy", "sympy", "matplotlib", "numba")


def git_commit() -> str | None:
    """The toolkit's own commit as installed (``-dirty`` only when its tracked source differs), never the
    repository around the working folder: :func:`tm_transformer.provenance.toolkit_commit`."""
    from tm_transformer.provenance import toolkit_commit

    return toolkit_commit()


def versions() -> dict:
    """Python's, the toolkit's (``tm_transformer.__version__``: the source that ran, which an editable
    install's dist metadata can lag) and each dependency's installed version (None where absent)."""
    import tm_transformer

    out: dict[str, str | None] = {"python": sys.version.split()[0], "tm-transformer": tm_transformer.__version__}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def device() -> str:
    import jax

    d = jax.devices()[0]
    return f"{jax.default_backend()}: {d.device_kind} x {jax.device_count()} ({platform.machine()}, {platform.processor() or 'cpu'})"


def manifest(config: dict, seed: int) -> dict:
    from tm_transformer.provenance import toolkit

    return {"config": config, "seed": seed, "versions": versions(), "git_commit": git_commit(),
            "toolkit": toolkit(), "device": device(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv)}


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, default=_default) + "\n")


def _default(o):
    import numpy as np

    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.bool_,)):
        return bool(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
