"""The docs (issue 26): the reference pages name every public name and every ``tmt`` command, the README
stays short and points into the docs. Plain text checks: they need no mkdocs (the build itself runs the
same check, ``docs/scripts/gen_reference.py``, and fails when it finds something missing)."""
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _gen():
    spec = importlib.util.spec_from_file_location("gen_reference", DOCS / "scripts" / "gen_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_public_name_and_command_is_in_the_reference():
    gen = _gen()
    assert gen.missing() == []
    names = [(p, n) for p in gen.PACKAGES for n in importlib.import_module(p).__all__]
    assert len(names) >= 40 and ("tm_transformer.bounds", "compare") in names
    commands = [c for c, _ in gen.commands()]
    assert {"tmt run", "tmt nstar", "tmt reproduce", "tmt bounds eval", "tmt icl"} <= set(commands)


def test_the_check_fails_when_a_name_or_a_command_is_left_out(tmp_path, monkeypatch):
    gen = _gen()
    api, cli = tmp_path / "api", tmp_path / "cli.md"
    api.mkdir()
    for page in gen.API.glob("*.md"):
        (api / page.name).write_text(page.read_text().replace("::: tm_transformer.simulator.simulate\n", ""))
    cli.write_text(gen.CLI.read_text().replace("| `tmt bounds eval` |", "| bounds eval |"))
    monkeypatch.setattr(gen, "API", api)
    monkeypatch.setattr(gen, "CLI", cli)
    problems = gen.missing()
    assert any(p.startswith("tm_transformer.simulate:") for p in problems), problems
    assert "tmt bounds eval: not in docs/reference/cli.md" in problems


def test_the_cli_help_page_holds_every_command():
    gen = _gen()
    text = gen.cli_help()
    for command, _ in gen.commands():
        assert f"## {command}\n" in text
    assert "usage: tmt nstar" in text


def test_the_nav_names_only_pages_that_exist():
    nav = re.findall(r":\s+([\w./-]+\.(?:md|ipynb))\s*$", (ROOT / "mkdocs.yml").read_text(), flags=re.M)
    nav += re.findall(r"^\s+- ([\w./-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), flags=re.M)
    generated = {"reference/cli_help.md"}
    assert len(nav) >= 25
    assert [p for p in nav if p not in generated and not (DOCS / p).exists()] == []


@pytest.mark.parametrize("page", ["reference/json.md"])
def test_every_nstar_json_key_is_explained(page):
    from tm_transformer.experiments.nstar import NStar
    from dataclasses import fields

    text = (DOCS / page).read_text()
    for f in fields(NStar):
        assert f"| `{f.name}` |" in text, f.name


def test_readme_is_short_and_links_into_the_docs():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    assert 'pip install ".[docs]" && mkdocs build --strict' in readme
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).exists(), link
