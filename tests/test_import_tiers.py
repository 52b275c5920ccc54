"""The import tiers of ``../shared/DESIGN.md``, read from the source with ``ast``.

- tier 0 (the core: everything but ``render/`` and ``cli/``) imports only the standard library,
  numpy, h5py, PyYAML, ml-dtypes and isal (the base install's dependencies) at module level;
  tier 1 (``render/``, ``cli/``) adds rich and click; nothing else is imported at module level
  (``TYPE_CHECKING`` blocks aside);
- no import goes up the tiers (the core never imports ``render`` or ``cli``, ``render`` never
  imports ``cli``), even inside a function;
- the packages the operations are built on (``formats/``, ``graph/``, ``keras_bridge/``) never
  import ``ops`` or ``api`` at run time, even inside a function (type hints under
  ``TYPE_CHECKING`` may name the report classes they draw);
- the heavy packages are imported (or ``_optional.require``-d) only by the modules that own
  that work: live Keras in ``keras_bridge/``, TensorFlow also for SavedModel values and ONNX
  export, onnx/onnxruntime for ONNX files and export;
- no module imports another package's private module (``formats._zip`` from ``ops/``);
- no ``keras.src`` import (``import`` or ``importlib.import_module``) and no private attribute
  modeltool does not define itself (a private Keras attribute such as
  ``layer._inbound_nodes``) outside ``keras_bridge/``. (Module names such as
  ``keras.src.ops.numpy`` written as data, in the class tables a config is matched against,
  are not imports.)

Any violation fails: ``ALLOWED`` is empty, and an entry that no longer occurs fails too, so an
exception can only be added on purpose, with its reason beside it.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "modeltool"

#: What each tier may import at module level, beside the standard library and modeltool.
MODULE_LEVEL = {0: {"numpy", "h5py", "yaml", "ml_dtypes", "isal"},
                1: {"numpy", "h5py", "yaml", "ml_dtypes", "isal", "rich", "click"}}

#: Heavy packages, and the modules (dotted prefixes under ``modeltool``) that may import them
#: inside function bodies.
HEAVY_OWNERS: dict[str, tuple[str, ...]] = {
    "keras": ("keras_bridge",),
    "tf_keras": ("keras_bridge",),
    "tensorflow": ("keras_bridge", "formats.savedmodel", "ops.onnx_export"),
    "tf2onnx": ("keras_bridge", "ops.onnx_export"),
    "onnx": ("formats.onnx_", "ops.onnx_", "keras_bridge"),
    "onnxruntime": ("ops.onnx_", "keras_bridge"),
    "onnxslim": ("ops.onnx_",),
    "onnxconverter_common": ("ops.onnx_",),
    "safetensors": ("formats.safetensors_file",),
    "cairosvg": ("ops.plot",),
}

#: Private attributes of the standard library that modeltool may use.
STDLIB_PRIVATE = {"_exit", "_getframe", "_replace", "_asdict", "_fields", "_make", "_name_",
                  "_value_", "_missing_", "_member_map_", "_current_frames"}

#: Exceptions to the rules, each with its reason (none today).
ALLOWED: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Violation:
    module: str
    rule: str
    detail: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.module, f"{self.rule}: {self.detail}")


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _tier(module: str) -> int:
    return 1 if module.split(".")[0] in ("render", "cli", "__main__") else 0


def _package_of(module: str, path: Path) -> str:
    """The dotted package a module lives in ('' for the top level)."""
    if path.name == "__init__.py":
        return module
    return module.rpartition(".")[0]


def _resolve(node: ast.ImportFrom, package: str) -> list[str]:
    """The modeltool-relative dotted names a ``from`` import reaches (``formats._zip``), or
    the absolute module for a third-party import."""
    if node.level == 0:
        base = node.module or ""
        if base == "modeltool" or base.startswith("modeltool."):
            base = base.removeprefix("modeltool").lstrip(".")
            return [f"{base}.{a.name}".lstrip(".") for a in node.names] + [base]
        return [base]
    parts = package.split(".") if package else []
    parts = parts[:len(parts) - (node.level - 1)] if node.level > 1 else parts
    base = ".".join([*parts, *(node.module.split(".") if node.module else [])])
    return [f"{base}.{a.name}".lstrip(".") for a in node.names] + [base]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(tree: ast.AST) -> Iterator[tuple[ast.AST, bool]]:
    """Every node with whether it runs at import time (module level, not TYPE_CHECKING)."""
    def visit(node: ast.AST, top: bool) -> Iterator[tuple[ast.AST, bool]]:
        yield node, top
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.body:
                yield from visit(child, False)
            for child in node.orelse:
                yield from visit(child, top)
            return
        inner = top and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                              ast.Lambda))
        for child in ast.iter_child_nodes(node):
            yield from visit(child, inner)
    yield from visit(tree, True)


def _type_checking_only(tree: ast.AST) -> set[int]:
    """The ids of the nodes inside ``if TYPE_CHECKING:`` bodies (never run)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.body:
                inside.update(id(n) for n in ast.walk(child))
    return inside


#: Packages below the operations: they never import these at run time.
FOUNDATIONS = ("formats", "graph", "keras_bridge")
ABOVE_FOUNDATIONS = ("ops", "api")


def _own_private_names(trees: list[ast.AST]) -> set[str]:
    """Private names modeltool defines itself (functions, classes, attributes, globals)."""
    names: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
            elif isinstance(node, ast.alias):
                names.add((node.asname or node.name).split(".")[0])
            elif isinstance(node, ast.arg):
                names.add(node.arg)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def _heavy_allowed(module: str, top: str) -> bool:
    if module == "_optional":  # the lazy handles themselves
        return True
    return any(module == owner or module.startswith(owner)
               for owner in HEAVY_OWNERS.get(top, ()))


def _violations() -> list[Violation]:
    sources = {module: (path, ast.parse(path.read_text(), str(path)))
               for module, path in _modules()}
    own_private = _own_private_names([tree for _, tree in sources.values()])
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    found: list[Violation] = []
    for module, (path, tree) in sources.items():
        tier, package = _tier(module), _package_of(module, path)
        bridge = module == "keras_bridge" or module.startswith("keras_bridge.")
        foundation = module.split(".")[0] in FOUNDATIONS
        typing_only = _type_checking_only(tree)
        for node, top in _walk(tree):
            third_party: list[str] = []
            internal: list[str] = []
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "modeltool" or alias.name.startswith("modeltool."):
                        internal.append(alias.name.removeprefix("modeltool").lstrip("."))
                    else:
                        third_party.append(alias.name)
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0 and not (node.module or "").startswith("modeltool"):
                    third_party.append(node.module or "")
                else:
                    internal.extend(_resolve(node, package))
            elif isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in ("require", "import_module") and node.args and isinstance(
                        node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    third_party.append(node.args[0].value)
                elif name in ("keras", "tensorflow") and isinstance(func, ast.Attribute) and \
                        getattr(func.value, "id", "") == "_optional":
                    third_party.append(name)
                elif name in ("getattr", "hasattr", "setattr") and len(node.args) >= 2 and \
                        isinstance(node.args[1], ast.Constant) and \
                        isinstance(node.args[1].value, str):
                    attr = node.args[1].value
                    if not bridge and attr.startswith("_") and not attr.startswith("__") \
                            and attr not in own_private and attr not in STDLIB_PRIVATE:
                        found.append(Violation(module, "private attribute", attr))
            elif isinstance(node, ast.Attribute) and not bridge:
                attr = node.attr
                if attr.startswith("_") and not attr.startswith("__") and \
                        attr not in own_private and attr not in STDLIB_PRIVATE:
                    found.append(Violation(module, "private attribute", attr))
            for name in third_party:
                root = name.split(".")[0]
                if name.startswith("keras.src") and not bridge:
                    found.append(Violation(module, "keras.src", name))
                if root in stdlib or root == "modeltool":
                    continue
                if top and root not in MODULE_LEVEL[tier]:
                    found.append(Violation(module, "module-level import", root))
                elif not top and root in HEAVY_OWNERS and not _heavy_allowed(module, root):
                    found.append(Violation(module, "heavy import", root))
            for target in internal:
                head = target.split(".")[0]
                if foundation and head in ABOVE_FOUNDATIONS and id(node) not in typing_only:
                    found.append(Violation(module, "up the packages",
                                           ".".join(target.split(".")[:2])))
                if (tier == 0 and head in ("render", "cli")) or (
                        module.split(".")[0] == "render" and head == "cli"):
                    found.append(Violation(module, "up the tiers",
                                           ".".join(target.split(".")[:2])))
                private = _private_module(target, sources)
                if private is not None:
                    owner = private.rpartition(".")[0]
                    if owner and package != owner and not package.startswith(f"{owner}."):
                        found.append(Violation(module, "private module", private))
    unique: dict[tuple[str, str], Violation] = {}
    for violation in found:
        unique.setdefault(violation.key, violation)
    return list(unique.values())


def _private_module(target: str, sources: dict[str, tuple[Path, ast.AST]]) -> str | None:
    """The first private module on the dotted path ``target`` (``formats._zip``), if any."""
    parts = target.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            dotted = ".".join(parts[:i + 1])
            return dotted if dotted in sources else None
    return None


def test_the_rules_see_what_they_forbid(tmp_path: Path) -> None:
    """The checker itself: each rule finds a planted violation (so the test can fail)."""
    tree = ast.parse("import keras\nimport rich\nfrom ..formats import _zip\n"
                     "def f(m):\n    import tensorflow\n    from ..render import table\n"
                     "    return m._inbound_nodes, 'keras.src.ops'\n")
    nodes = {type(n).__name__ for n, _ in _walk(tree)}
    assert {"Import", "ImportFrom", "Attribute"} <= nodes
    tops = {n.names[0].name: top for n, top in _walk(tree) if isinstance(n, ast.Import)}
    assert tops == {"keras": True, "rich": True, "tensorflow": False}
    resolved = _resolve(next(n for n, _ in _walk(tree) if isinstance(n, ast.ImportFrom)), "ops")
    assert "formats._zip" in resolved
    assert not _heavy_allowed("ops.freeze", "keras") and _heavy_allowed("keras_bridge.x", "keras")
    hinted = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                       "    from ..ops.plot import PlotGraph\n"
                       "def g():\n    from ..ops.freeze.plan import LayerNode\n")
    typing_only = _type_checking_only(hinted)
    imports = [n for n, _ in _walk(hinted) if isinstance(n, ast.ImportFrom)
               and n.module and n.module.startswith("ops")]
    assert [id(n) in typing_only for n in imports] == [True, False]


def test_imports_follow_the_tiers() -> None:
    found = {v.key for v in _violations()}
    new = sorted(found - ALLOWED)
    stale = sorted(ALLOWED - found)
    assert not new, "import rules broken:\n" + "\n".join(f"  {m}: {d}" for m, d in new)
    assert not stale, "allowed violations no longer occur (remove them from ALLOWED):\n" + \
        "\n".join(f"  {m}: {d}" for m, d in stale)

