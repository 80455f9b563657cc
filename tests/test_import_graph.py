"""Imports point one way: the import graph of the whole package (``tm_transformer``, with ``bounds`` and
``experiments`` installed as ``tm_transformer.bounds`` and ``tm_transformer.experiments``) has no circle,
counting imports inside functions too (a function-local import still makes two modules need each other)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the package's folders and the dotted names they are installed under
FOLDERS = {"tm_transformer": ROOT / "tm_transformer", "tm_transformer.bounds": ROOT / "bounds",
           "tm_transformer.experiments": ROOT / "experiments"}
ALIASES = {"bounds": "tm_transformer.bounds", "experiments": "tm_transformer.experiments"}


def modules() -> dict[str, Path]:
    out = {}
    for name, folder in FOLDERS.items():
        for f in folder.rglob("*.py"):
            parts = list(f.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([name] + parts)] = f
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules ``name`` imports (at any depth of its code)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        for t in targets:
            head, _, rest = t.partition(".")
            t = ALIASES[head] + ("." + rest if rest else "") if head in ALIASES else t
            parts = t.split(".")
            # importing a.b.c runs a.b's __init__ first: an edge to every package on the way
            out.update(p for p in (".".join(parts[:i]) for i in range(2, len(parts) + 1)) if p in known)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state, found = {}, []

    def visit(m, path):
        state[m] = 1
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                found.append(path[path.index(d):] + [d])
            elif d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    g = {m: imports(m, f, set(mods)) - {m} for m, f in mods.items()}
    # a submodule's import of a package above it is how Python loads it, not a circle
    return {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in g.items()}


def test_the_package_has_no_import_circles():
    assert not cycles(graph()), f"import circles: {cycles(graph())}"


def test_the_circle_finder_finds_a_circle():
    g = graph()
    g["tm_transformer.errors"] = g["tm_transformer.errors"] | {"tm_transformer.cli"}  # errors -> cli -> errors
    assert any(c[0] == c[-1] for c in cycles(g))
