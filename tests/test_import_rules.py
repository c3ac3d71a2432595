"""The one-way layout, enforced by reading every module's imports (AST), so no change breaks it quietly.

- graph imports nothing from estimator;
- estimator.predict imports graph only; estimator.train imports predict and graph; estimator.measure
  imports graph (and predict), never train; the command handler imports predict and graph; the two
  console commands (`estimate`, `estimate-calibrate`) may also measure and train (`estimate` only when
  asked with --calibrate, or on a first call at a terminal);
- estimator.errors and estimator.files are leaf modules every layer may use;
- protobuf (`import onnx`, onnx.helper / numpy_helper / ModelProto, google.protobuf) is used only in
  graph/; elsewhere only the operator-schema registry `onnx.defs` may be imported, as
  `from onnx.defs import ...` or `from onnx import defs` (`import onnx.defs` would bind all of onnx);
- nothing imports another module's private (_underscored) names;
- a Report is data, and renderers depend on it, never the reverse: within estimator.predict only the modules
  that return results (estimation, curve, comparison) import estimator.predict.render, which registers the
  renderers that Report.to_json() and the like look up (estimator.predict.formats); estimator.predict.report
  and every other data module import no renderer.
Scripts may import any layer, but not protobuf, except scripts/bench.py, whose floors are onnx.load
and ONNX shape inference themselves. Dynamic imports count too: a string constant that names a
project module (e.g. estimator/__init__.py's lazy table) is read as an import of it.

What a module imports when it is imported (not inside a function, not for type checking only) makes no
circle: estimator.predict.units imports features, so features names no unit (each Unit carries its featurize),
and estimator.train.units imports the modules that train each unit, so none of them imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.paths import ROOT

PACKAGES = ("graph", "estimator")
SHARED = frozenset({"estimator.errors", "estimator.files"})
ALLOWED: dict[str, frozenset[str]] = {
    "graph": frozenset({"graph"}),
    "shared": frozenset({"graph", "shared"}),
    "predict": frozenset({"graph", "shared", "predict"}),
    "train": frozenset({"graph", "shared", "predict", "train"}),
    "measure": frozenset({"graph", "shared", "predict", "measure"}),
    "entry": frozenset({"graph", "shared", "predict", "entry"}),
    # estimate-calibrate and estimate (--calibrate, first use) measure and train: commands like the scripts,
    # installed as console scripts.
    "command": frozenset({"graph", "shared", "predict", "train", "measure", "entry", "command"}),
    "script": frozenset({"graph", "shared", "predict", "train", "measure", "entry", "command"}),
}
PROTOBUF_EXEMPT = frozenset({"scripts.bench"})
RENDER = "estimator.predict.render"
RENDER_IMPORTERS = frozenset({"estimator.predict.estimation", "estimator.predict.curve", "estimator.predict.comparison"})


def layer(module: str) -> str | None:
    """The layer a project module belongs to (None: not a project module)."""
    if module == "graph" or module.startswith("graph."):
        return "graph"
    if module in SHARED:
        return "shared"
    for name in ("predict", "train", "measure"):
        if module == f"estimator.{name}" or module.startswith(f"estimator.{name}."):
            return name
    if module in ("estimator.calibrate", "estimator.cli"):
        return "command"
    if module == "estimator" or module.startswith("estimator."):
        return "entry"
    if module.startswith("scripts."):
        return "script"
    return None


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(module: str, source: str, is_package: bool) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for each import, dynamic ones included."""
    found: list[tuple[str, list[str], int]] = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((base, [alias.name for alias in node.names], node.lineno))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and layer(node.value) is not None \
                and node.value.replace(".", "").replace("_", "").isalnum() and node.value.count(".") >= 1 \
                and node.value.split(".")[0] in PACKAGES:
            found.append((node.value, [], node.lineno))
    return found


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """Every broken rule in one module's source, as `module:line: what`."""
    problems = []
    own = layer(module)
    for imported, names, line in _imports(module, source, is_package):
        where = f"{module}:{line}"
        target = layer(imported)
        if own is not None and target is not None and target not in ALLOWED[own]:
            problems.append(f"{where}: {own} may not import {imported} ({target})")
        if target is not None and imported != module:
            private = [name for name in names if name.startswith("_") and name != "__future__"]
            if private or any(part.startswith("_") and part != "__init__" for part in imported.split(".")):
                problems.append(f"{where}: imports private {imported} {private or ''}".rstrip())
        if own != "graph" and module not in PROTOBUF_EXEMPT and _touches_protobuf(imported, names):
            problems.append(f"{where}: protobuf outside graph/ ({imported} {names or ''})".rstrip())
        if own == "predict" and not _is_render(module) and module not in RENDER_IMPORTERS \
                and _is_render(imported, names):
            problems.append(f"{where}: {module} is data that renderers read; it may not import them ({imported})")
    return problems


def _is_render(module: str, names: list[str] = ()) -> bool:
    """Whether `module` (or `from module import names`) is the render package or one of its modules."""
    return module == RENDER or module.startswith(f"{RENDER}.") or (module == "estimator.predict" and "render" in names)


def _touches_protobuf(imported: str, names: list[str]) -> bool:
    if imported == "google.protobuf" or imported.startswith("google.protobuf."):
        return True
    if imported == "google" and "protobuf" in names:
        return True
    if imported == "onnx":
        return not names or any(name != "defs" for name in names)  # `import onnx` or `from onnx import helper`
    if imported.startswith("onnx."):
        return not names or not imported.startswith("onnx.defs")  # `import onnx.defs` binds all of onnx
    return False


def _project_files() -> list[Path]:
    files = [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")]
    return sorted([*files, *(ROOT / "scripts").glob("*.py")])


def test_every_module_keeps_the_import_rules():
    problems = []
    for path in _project_files():
        module = f"scripts.{path.stem}" if path.parent.name == "scripts" else _module_name(path)
        problems += violations(module, path.read_text(encoding="utf-8"), path.name == "__init__.py")
    assert not problems, "\n".join(problems)


def test_the_walk_sees_every_package():
    layers = {layer(_module_name(path)) for path in _project_files() if path.parent.name != "scripts"}
    assert layers == {"graph", "shared", "predict", "train", "measure", "entry", "command"}


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("graph.loading", "import estimator.errors"),
        ("graph.ops.conv", "from estimator.predict import features"),
        ("estimator.predict.report", "from estimator.train.fitting import fit_layer_models"),
        ("estimator.predict.report", "from estimator.measure import timing"),
        ("estimator.measure.collector", "from estimator.train.data import load_training_data"),
        ("estimator.train.data", "from estimator.measure.layout import config_key"),
        ("estimator.commands", "from estimator.train.profiles import train_profile"),
        ("estimator.errors", "from estimator.predict.report import Report"),
        ("estimator.measure.sweep", "import onnx"),
        ("estimator.measure.sweep", "from onnx import helper"),
        ("estimator.measure.sweep", "from onnx import ModelProto, defs"),
        ("estimator.measure.sweep", "import onnx.defs"),
        ("estimator.predict.profiles", "from onnx.numpy_helper import to_array"),
        ("estimator.train.data", "from google.protobuf.message import DecodeError"),
        ("scripts.collect", "import onnx"),
        ("estimator.measure.collector", "from estimator.measure.layout import _now"),
        ("estimator.measure.collector", "from estimator.measure.backends.pytorch import _private"),
        ("estimator", "import importlib\nimportlib.import_module('estimator.train.profiles')"),
        ("estimator.predict.estimation", "def f():\n    from estimator.train import fitting"),
        ("estimator.predict.report", "from estimator.predict.render.json import render_json, report_dict"),
        ("estimator.predict.report", "from estimator.predict.render import render"),
        ("estimator.predict.report", "from estimator.predict import render"),
        ("estimator.predict.report", "import estimator.predict.render"),
        ("estimator.predict.report", "if TYPE_CHECKING:\n    from estimator.predict.render.html import DEFAULT_TOP"),
        ("estimator.predict.report", "import importlib\nimportlib.import_module('estimator.predict.render.csv')"),
        ("estimator.predict.breakdown", "from estimator.predict.render.common import number"),
        ("estimator.predict.formats", "from estimator.predict.render import FORMATS"),
    ],
)
def test_a_broken_rule_is_caught(module, source):
    assert violations(module, source)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("graph.build", "import onnx\nfrom onnx import helper, numpy_helper"),
        ("estimator.predict.report", "from estimator.errors import ProfileError\nfrom graph.records import Layer"),
        ("estimator.train.fitting", "from estimator.predict.models import LayerModels\nfrom estimator.files import Journal"),
        ("estimator.measure.backends.pytorch.ops.registry", "from onnx import defs\nfrom onnx.defs import get_schema"),
        ("estimator.measure.collector", "from estimator.predict.features import featurize_layers"),
        ("scripts.train", "from estimator.train.profiles import train_profile"),
        ("scripts.bench", "import onnx"),
        ("estimator.predict.estimation", "import estimator.predict.render"),
        ("estimator.predict.curve", "from estimator.predict.render.curve import render_curve"),
        ("estimator.predict.render.json", "from estimator.predict.render.common import number"),
        ("estimator.predict.render", "from estimator.predict.formats import FORMATS, register"),
        ("estimator.cli", "from estimator.predict.render import render"),
    ],
)
def test_an_allowed_import_passes(module, source):
    assert not violations(module, source)


def _import_time_imports(module: str, source: str, is_package: bool, known: set[str]) -> set[str]:
    """The project modules in `known` that importing `module` imports: top-level statements only (a function's
    imports run when it is called, an `if TYPE_CHECKING:` block never)."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)  # `from package import module`
            for field in ("body", "orelse", "handlers", "finalbody"):
                visit(getattr(node, field, []))

    visit(ast.parse(source).body)
    return {name for name in found if name in known and name != module}


def circles(imports: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of a module -> imported modules graph: each strongly connected set of two or more."""
    order: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's algorithm
        order[module] = lowest[module] = len(order)
        stack.append(module)
        for imported in imports.get(module, ()):
            if imported not in order:
                visit(imported)
                lowest[module] = min(lowest[module], lowest[imported])
            elif imported in stack:
                lowest[module] = min(lowest[module], order[imported])
        if lowest[module] == order[module]:
            members = stack[stack.index(module):]
            del stack[stack.index(module):]
            if len(members) > 1:
                found.append(sorted(members))

    for module in imports:
        if module not in order:
            visit(module)
    return found


def test_no_module_imports_itself_through_others():
    sources = {(f"scripts.{path.stem}" if path.parent.name == "scripts" else _module_name(path)): path
               for path in _project_files()}
    known = set(sources)
    imports = {module: _import_time_imports(module, path.read_text(encoding="utf-8"), path.name == "__init__.py", known)
               for module, path in sources.items()}
    assert imports["estimator.predict.units"] >= {"estimator.predict.features"}  # the walk sees what it should
    assert not circles(imports)


def test_an_import_circle_is_caught():
    known = {"estimator.predict.features", "estimator.predict.units", "estimator.predict.models"}
    imports = {
        "estimator.predict.units": _import_time_imports(
            "estimator.predict.units", "from estimator.predict.features import FEATURES", False, known),
        "estimator.predict.features": _import_time_imports(
            "estimator.predict.features", "from estimator.predict import units", False, known),
        "estimator.predict.models": _import_time_imports(
            "estimator.predict.models", "def f():\n    from estimator.predict import units\n"
            "if TYPE_CHECKING:\n    from estimator.predict.units import Unit", False, known),
    }
    assert circles(imports) == [["estimator.predict.features", "estimator.predict.units"]]
    assert imports["estimator.predict.models"] == set()  # a function's import and a type-only one are not circles


def test_the_report_imports_no_renderer():
    """The one import circle there was (report -> every renderer -> report): it must not come back."""
    path = ROOT / "estimator" / "predict" / "report.py"
    imported = [name for name, names, _ in _imports("estimator.predict.report", path.read_text(encoding="utf-8"), False)
                if _is_render(name, names)]
    assert not imported
