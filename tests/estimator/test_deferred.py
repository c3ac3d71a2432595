"""Deferred packages: a package's __init__ runs on the first read of a name it lacks, not when a submodule is imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.paths import ROOT, ZOO


def _run(tmp_path, body: str) -> str:
    """Run `body` in a fresh interpreter that sees the package `pkg` written below and returns its stdout."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("import sys\nsys.stdout.write('init ran\\n')\nfrom .core import VALUE\nALIAS = VALUE\n")
    (package / "core.py").write_text("from . import helper\nVALUE = helper.NUMBER * 2\n")
    (package / "helper.py").write_text("NUMBER = 21\n")
    (package / "extra").mkdir()
    (package / "extra" / "__init__.py").write_text("import sys\nsys.stdout.write('extra ran\\n')\nNAME = 'extra'\n")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "__init__.py").write_text("raise ImportError('broken on purpose')\n")
    code = f"import sys\nsys.path[:0] = [{str(tmp_path)!r}, {str(ROOT)!r}]\n" + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


def test_a_submodule_imports_without_the_package_init(tmp_path):
    out = _run(tmp_path, """
        from estimator.deferred import defer, is_deferred
        print(defer("pkg"))
        from pkg.core import VALUE
        print(VALUE, is_deferred("pkg"))
    """)
    assert out == "True\n42 True\n"


def test_reading_a_name_the_package_lacks_runs_its_init_once_into_the_same_module(tmp_path):
    out = _run(tmp_path, """
        from estimator.deferred import defer, is_deferred
        defer("pkg")
        import pkg
        deferred = pkg
        from pkg.core import VALUE
        print(pkg.ALIAS, is_deferred("pkg"), sys.modules["pkg"] is deferred, type(pkg).__name__)
        print(pkg.VALUE, pkg.core.VALUE)
        try:
            pkg.missing
        except AttributeError as error:
            print("AttributeError", error)
    """)
    assert out == "init ran\n42 False True module\n42 42\nAttributeError module 'pkg' has no attribute 'missing'\n"


def test_a_subpackage_is_held_by_its_parent_and_runs_when_read(tmp_path):
    out = _run(tmp_path, """
        from estimator.deferred import defer, is_deferred
        print(defer("pkg.extra"), "pkg" in sys.modules, is_deferred("pkg"), is_deferred("pkg.extra"))
        import pkg
        from pkg import extra
        print(extra is pkg.extra is sys.modules["pkg.extra"], is_deferred("pkg.extra"))
        print(extra.NAME, is_deferred("pkg.extra"))
    """)
    assert out == "init ran\nTrue True False True\nTrue True\nextra ran\nextra False\n"


def test_nothing_is_deferred_that_is_imported_missing_or_not_a_package(tmp_path):
    out = _run(tmp_path, """
        import json
        from estimator.deferred import defer
        print(defer("json"), defer("no_such_package_here"), defer("pkg.core"), defer("textwrap"))
    """)
    assert out == "init ran\nFalse False False False\n"  # pkg.core: a module, not a package (pkg is imported)


def test_a_failing_init_fails_where_it_is_read_and_leaves_sys_modules(tmp_path):
    out = _run(tmp_path, """
        from estimator.deferred import defer
        defer("broken")
        import broken
        try:
            broken.anything
        except ImportError as error:
            print("ImportError", error, "broken" in sys.modules)
    """)
    assert out == "ImportError broken on purpose False\n"


def test_the_cli_scores_without_running_catboost_init_and_catboost_is_whole_after(tmp_path):
    pytest.importorskip("catboost")
    out = _run(tmp_path, f"""
        import io, contextlib
        from estimator.cli import main
        from estimator.deferred import is_deferred
        with contextlib.redirect_stdout(io.StringIO()) as report:
            code = main([{str(ZOO / "resnet18.onnx")!r}, "--no-calibrate"])
        print(code, "runtime" in report.getvalue(), is_deferred("catboost"))
        import catboost
        from catboost.core import CatBoostRegressor
        print(catboost.CatBoostRegressor is CatBoostRegressor, bool(catboost.__version__), is_deferred("catboost"))
    """)
    assert out == "0 True True\nTrue True False\n"
