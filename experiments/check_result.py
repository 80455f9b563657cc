"""What a check returns (:class:`CheckResult`) and its progress bar: shared by :mod:`experiments.checks`
and the checks in their own modules (:mod:`experiments.icl_check`, :mod:`experiments.transformer_check`),
which therefore need not import :mod:`experiments.checks` (no import circle)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CheckResult:
    name: str
    rows: list = field(default_factory=list)
    tests: list = field(default_factory=list)
    verdicts: list = field(default_factory=list)
    figures: list = field(default_factory=list)
    summary: str = ""


def _bar(items, desc, progress):
    if not progress:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False, disable=None)  # silent when not on a terminal
