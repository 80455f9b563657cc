"""The setting protocol (issue 23): the four built-in settings are implementations of one protocol, looked
up in a registry; the engine, the n* search and the CLI know no setting by name; a user's function is the
same protocol; the package has no import circles."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from tm_transformer.experiments import montecarlo, settings, user_setting
from tm_transformer.experiments.montecarlo import count_failures, resolve
from tm_transformer.experiments.nstar import LEARNERS, SETTINGS, TARGETS, nstar
from tm_transformer.experiments.settings.base import Setting
from tm_transformer.experiments.settings.coin import Coin

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


def test_registry_holds_the_four_settings_one_module_each():
    assert tuple(settings.SETTINGS) == SETTINGS == ("contexts", "sequences", "halfspaces", "coin")
    for name, s in settings.SETTINGS.items():
        assert isinstance(s, Setting) and s.name == name
        assert type(s).__module__.endswith(f"settings.{name}")
        assert settings.get(s.engine_name) is s and settings.find(name) is s
    assert settings.get("halfspace") is settings.SETTINGS["halfspaces"]  # the engine's name for it
    assert LEARNERS["halfspaces"] == ("midpoint", "perceptron", "max-margin", "gd") and "coin" not in TARGETS
    with pytest.raises(ValueError, match="setting 'nope': expected one of contexts, sequences, halfspaces, coin"):
        settings.get("nope")


@pytest.mark.parametrize("path", ["montecarlo.py", "nstar.py", "cli.py", "sampling.py"])
def test_engine_search_and_cli_know_no_setting_by_name(path):
    src = (EXPERIMENTS / path).read_text()
    names = "|".join(["contexts", "sequences", "halfspaces?", "coin"])
    assert not re.findall(rf"setting\s*(==|!=)\s*['\"]({names})['\"]", src)
    assert not re.findall(r"setting\s+(not\s+)?in\s*\(", src)


class RenamedCoin(Coin):
    """A setting the engine was never told about: the coin under another name."""
    name = engine_name = "renamed-coin"


@pytest.mark.parametrize("sampler", ["direct", "reduced"])
def test_the_engine_runs_a_setting_object_it_does_not_know(sampler):
    kw = dict(p=0.3, eps=0.1)
    mine = count_failures(RenamedCoin(), 40, 500, 7, "protocol", sampler=sampler, **kw)
    coin = count_failures("coin", 40, 500, 7, "protocol", sampler=sampler, **kw)
    assert mine == coin and mine["sampler"] == sampler


def test_a_users_function_is_the_same_protocol():
    def f(key, n, p):
        import jax

        return jnp.abs((jax.random.uniform(key, (n,)) < p).mean() - p)

    s = resolve(f)
    assert isinstance(s, user_setting.UserSetting) and isinstance(s, Setting) and s.counts_itself
    assert s.name == "own:test_a_users_function_is_the_same_protocol.<locals>.f"
    via_engine = count_failures(f, 20, 300, 1, "own/t", eps=0.1, p=0.5)
    assert via_engine == s.count_failures(20, 300, 1, "own/t", eps=0.1, p=0.5)
    assert resolve("coin") is settings.SETTINGS["coin"]
    with pytest.raises(ValueError, match="unknown setting 'nope'"):
        resolve("nope")


def test_the_search_goes_through_the_setting(monkeypatch):
    """nstar looks the setting up in the registry and hands it the search (here a stand-in)."""
    seen = {}

    def fake(params, eps, delta, opts, engine):
        seen.update(params=params, eps=eps, delta=delta, opts=opts)
        return "n*"

    monkeypatch.setattr(settings.SETTINGS["coin"], "search", fake)
    assert nstar("coin", {"eps": 0.2, "delta": 0.1}, target=0.3) == "n*"
    assert seen["eps"] == 0.2 and seen["opts"].target == 0.3 and seen["opts"].seed == 0


def test_sampler_choice_is_the_settings():
    u4 = dict(probs=np.full((2, 4), 0.25), eps=0.2)
    assert montecarlo.has_reduction("contexts", u4) and montecarlo.auto_sampler("contexts", u4, 30, 100) == "reduced"
    assert not montecarlo.has_reduction("contexts", dict(u4, probs=np.full((3, 4), 0.25), random_allocation=True))
    assert montecarlo.constant_cost("halfspace", dict(d=2)) and not montecarlo.constant_cost("halfspace", dict(d=3))
    assert montecarlo.tree_plan("coin", 10, 0, dict(p=0.5)) is None
    assert not montecarlo.has_reduction("nope", {})


def _imports(path: Path, package: Path) -> set[str]:
    """Modules of the package that ``path`` imports (anywhere in the file, inside functions too)."""
    parts = list(path.relative_to(package).with_suffix("").parts)
    here = parts[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else list(here)
                mod = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] in ("experiments", "tm_transformer"):
                m = node.module.split(".")
                mod = m[2:] if m[:2] == ["tm_transformer", "experiments"] else m[1:] if m[0] == "experiments" else None
                if mod is None:
                    continue
            else:
                continue
            out.add(".".join(mod))
            out.update(".".join(mod + [a.name]) for a in node.names)
    return out


def test_no_import_circles_in_experiments():
    package = EXPERIMENTS
    modules = {}
    for f in package.rglob("*.py"):
        parts = list(f.relative_to(package).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = f
    graph = {m: {d for d in _imports(f, package) if d in modules and d != m} for m, f in modules.items()}
    # a submodule's import of its own package's __init__ is how Python loads it, not a circle
    graph = {m: {d for d in deps if not m.startswith(d + ".") and d != ""} for m, deps in graph.items()}
    state, cycle = {}, []

    def visit(m, path):
        state[m] = 1
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycle.append(path[path.index(d):] + [d])
            elif d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycle, f"import circles: {cycle}"
