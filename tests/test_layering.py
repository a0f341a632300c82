"""The package's layer map (docs/architecture.md): imports point down or sideways within a
package, never up, and the module graph has no cycle. Read from the source with `ast`, so
function-local imports count as much as module-level ones."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "alt_jax"

# Bottom to top; a module belongs to the group of its longest matching prefix. A module may
# import from a lower layer or from its own layer (no cycle), except in layer 1, whose packages
# are independent: data/, models/ and the PyTorch mirror torch/ do not import each other.
INDEPENDENT_LAYER = 1
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "alt_jax.resources",
        "alt_jax.tokenizer",
        "alt_jax.labels",
        "alt_jax.logs",
        "alt_jax.progress",
        "alt_jax.viz",
        "alt_jax.corpus_builder",
    ),
    ("alt_jax.data", "alt_jax.models", "alt_jax.torch"),
    ("alt_jax.configs_lib", "alt_jax.config_files"),
    (
        "alt_jax.text",
        "alt_jax.corpus",
        "alt_jax.weights",
        "alt_jax.builders",
        "alt_jax.explain",
        "alt_jax.grounding",
    ),
    ("alt_jax.train",),
    (
        "alt_jax.main",
        "alt_jax.predict",
        "alt_jax.pretrain_clip",
        "alt_jax.torch.convert",
        "alt_jax.cli",
    ),
)
# The package's __init__ is a facade: the tokenizer at import, JAX-side names on first use.
FACADE = "alt_jax"
MAX_MODULE_LINES = 600


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def group_of(module: str) -> tuple[int, str]:
    """(layer, group prefix) of a module: its longest matching prefix in LAYERS."""
    best = None
    for layer, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > len(best[1]):
                    best = (layer, prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer of LAYERS: place it there")
    return best


def imports_of(module: str) -> list[tuple[str, int, bool]]:
    """(imported alt_jax module, line, function-local) of every import in `module`."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parent = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(parent + ([child.module] if child.module else []))
                for alias in child.names:
                    name = f"{base}.{alias.name}"
                    target = name if name in MODULES else base
                    if target.startswith("alt_jax"):
                        out.append((target, child.lineno, local))
            elif isinstance(child, ast.Import):
                out.extend(
                    (a.name, child.lineno, local)
                    for a in child.names
                    if a.name.startswith("alt_jax")
                )
            visit(child, local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(ast.parse(path.read_text()), False)
    return out


def test_every_module_has_a_layer():
    for module in MODULES:
        if module != FACADE:
            group_of(module)


@pytest.mark.parametrize("module", sorted(set(MODULES) - {FACADE}))
def test_imports_never_point_up(module):
    layer, group = group_of(module)
    for target, line, _ in imports_of(module):
        if target == FACADE:
            continue
        t_layer, t_group = group_of(target)
        sideways = t_layer == layer and (layer != INDEPENDENT_LAYER or t_group == group)
        assert t_layer < layer or sideways, (
            f"{MODULES[module].name}:{line} ({module}, layer {layer}) imports {target} "
            f"(layer {t_layer}, {t_group})"
        )


def test_no_import_cycle():
    graph = {m: {t for t, _, _ in imports_of(m) if t in MODULES and t != m} for m in MODULES}
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :] + [nxt] if nxt in path else [node, nxt]
                raise AssertionError("import cycle: " + " → ".join(cycle))
            if nxt not in state:
                walk(nxt, path + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])


def test_function_local_imports_say_why():
    """A function-local import of the package is there to keep start-up fast or torch and JAX
    apart, and says so in a comment on it or within the three lines above."""
    unexplained = []
    for module, path in MODULES.items():
        lines = path.read_text().splitlines()
        for _, line, local in imports_of(module):
            window = lines[max(0, line - 4) : line]
            if local and not any("#" in text for text in window):
                unexplained.append(f"{path.relative_to(PACKAGE.parent)}:{line}")
    assert not unexplained, f"function-local imports without a reason: {sorted(set(unexplained))}"


def test_no_module_is_too_long():
    long = {
        str(p.relative_to(PACKAGE.parent)): n
        for p in MODULES.values()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_models_read_no_files():
    """models/ are pure modules: no weights, corpus, file or config-file reading."""
    for module in (m for m in MODULES if m.startswith("alt_jax.models")):
        source = MODULES[module].read_text()
        for word in ("open(", "read_text(", "np.load(", "json.load"):
            assert word not in source, f"{module} reads files ({word})"
