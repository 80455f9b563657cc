"""Build-time pages of the docs (run by mkdocs-gen-files): ``reference/cli_help.md``, the ``--help`` of every
``tmt`` command and subcommand, generated from the argument parser itself; and a coverage check that fails
the build when a public name or a command is missing from the reference pages.

The check is plain text (``missing()``), so ``tests/test_docs.py`` runs it without mkdocs installed.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
API = DOCS / "reference" / "api"
CLI = DOCS / "reference" / "cli.md"
# the packages whose public names (``__all__``) must each have a ``::: module.name`` entry in reference/api/
PACKAGES = ("tm_transformer", "tm_transformer.bounds", "tm_transformer.experiments", "tm_transformer.transformer",
            "tm_transformer.dsl", "tm_transformer.icl")


def commands(parser: argparse.ArgumentParser | None = None, prefix: str = "tmt") -> list[tuple[str, argparse.ArgumentParser]]:
    """Every command and subcommand as (``"tmt bounds eval"``, its parser), depth first."""
    if parser is None:
        from tm_transformer.cli import build_parser

        parser = build_parser()
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append((f"{prefix} {name}", sub))
                out += commands(sub, f"{prefix} {name}")
    return out


def missing() -> list[str]:
    """What the reference pages leave out: public names without a ``::: ...name`` entry, commands without a
    `` `tmt ...` `` row in reference/cli.md."""
    import importlib

    entries = "\n".join(p.read_text() for p in sorted(API.glob("*.md")))
    documented = set(re.findall(r"^::: [\w.]*?(\w+)\s*$", entries, flags=re.M))
    out = []
    for package in PACKAGES:
        for name in importlib.import_module(package).__all__:
            if name not in documented:
                out.append(f"{package}.{name}: no '::: ...{name}' entry in docs/reference/api/")
    cli = CLI.read_text()
    for command, _ in commands():
        if f"`{command}`" not in cli:
            out.append(f"{command}: not in docs/reference/cli.md")
    return out


def cli_help() -> str:
    from tm_transformer.cli import build_parser

    parser = build_parser()
    parts = ["# CLI: every command's --help\n",
             "Generated from the argument parser when the docs are built (`docs/scripts/gen_reference.py`).\n",
             "## tmt\n", "```text", parser.format_help().rstrip(), "```\n"]
    for command, sub in commands(parser):
        parts += [f"## {command}\n", "```text", sub.format_help().rstrip(), "```\n"]
    return "\n".join(parts)


def main() -> None:
    import os

    import mkdocs_gen_files

    os.environ.setdefault("COLUMNS", "100")  # argparse wraps at the terminal width: fix it for the page
    problems = missing()
    if problems:
        raise SystemExit("the reference pages are incomplete:\n  " + "\n  ".join(problems))
    with mkdocs_gen_files.open("reference/cli_help.md", "w") as f:
        f.write(cli_help())


if __name__ == "<run_path>" or __name__ == "__main__":  # mkdocs-gen-files runs the script with runpy
    main()
