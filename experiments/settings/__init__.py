"""The paper's four settings, one module each, as implementations of one protocol
(:class:`experiments.settings.base.Setting`); ``SETTINGS`` is the registry the engine, the n* search and
the CLI look them up in. A user's setting implements the same protocol
(:class:`experiments.user_setting.UserSetting`).

* ``contexts``   -- :mod:`.contexts` (m contexts, V tokens; the induction head);
* ``sequences``  -- :mod:`.sequences` (outputs of length l; TV or L-infinity);
* ``halfspaces`` -- :mod:`.halfspaces` (counts name it ``halfspace``);
* ``coin``       -- :mod:`.coin` (one probability p).
"""
from __future__ import annotations

from . import coin, contexts, halfspaces, sequences
from .base import NStarOptions, Setting

SETTINGS: dict[str, Setting] = {s.name: s for s in (contexts.SETTING, sequences.SETTING, halfspaces.SETTING, coin.SETTING)}
# count_failures names a setting by its engine name ('halfspace'); either name finds it
_BY_ANY_NAME: dict[str, Setting] = {**SETTINGS, **{s.engine_name: s for s in SETTINGS.values()}}


def find(name) -> Setting | None:
    """The built-in setting of this name (its n* name or its engine name), or None."""
    return _BY_ANY_NAME.get(name) if isinstance(name, str) else None


def get(name) -> Setting:
    """The built-in setting of this name; ``ValueError`` naming the known ones otherwise."""
    s = find(name)
    if s is None:
        raise ValueError(f"setting {name!r}: expected one of {', '.join(SETTINGS)}")
    return s


__all__ = ["SETTINGS", "NStarOptions", "Setting", "find", "get"]
