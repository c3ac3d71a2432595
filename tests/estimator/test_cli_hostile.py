"""Hostile input through `estimate` (issue 12): one printable line and exit 2, or a clean report, never a traceback."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from estimator import estimate
from estimator.cli import main
from estimator.predict import extraction
from estimator.predict.formats import FORMATS
from estimator.predict.profiles import PROFILE_DIR
from estimator.testing import small_cnn
from tests.fuzz.mutate_models import hostile_names
from tests.fuzz.seeds import model_seeds
from tests.fuzz.worker import check_text


def _error_lines(capsys, count: int = 1) -> list[str]:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == count and err.count("\n") == count, err
    assert all(line.startswith("estimate: error: ") and line.isprintable() for line in lines), err
    return lines


@pytest.fixture
def model_path(tmp_path) -> Path:
    path = tmp_path / "small.onnx"
    path.write_bytes(small_cnn().SerializeToString())
    return path


@pytest.fixture
def hostile_model(tmp_path) -> Path:
    """small_cnn whose node names and op types try every injection (formulas, Markdown, HTML, escapes)."""
    model = small_cnn(with_unmodeled=True)
    names = [name for name in hostile_names() if name]
    for node, name in zip(model.graph.node, names, strict=False):
        node.name = name
    model.graph.node[1].op_type = "Relu"
    model.graph.node[3].op_type = "=HYPERLINK(\"http://x\")<b>|x`"  # an unmodeled custom op's type is printed too
    model.graph.node[3].domain = "evil\x1b[31m"
    model.opset_import.append(helper.make_opsetid("evil\x1b[31m", 1))
    path = tmp_path / "hostile\x1b[2J.onnx"
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize("fmt", FORMATS)
def test_renderers_neutralise_hostile_names(hostile_model, fmt, capsys):
    assert main([str(hostile_model), "--format", fmt]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert check_text(captured.out, fmt, loose=False) == ""
    assert "\x1b" not in captured.out


@pytest.mark.parametrize("fmt", FORMATS)
def test_tabs_and_carriage_returns_in_names_reach_no_output(tmp_path, fmt, capsys):
    model = small_cnn()
    model.graph.node[1].name = "tab\there\r"  # found by the long fuzz run: a tab in the HTML chart's tooltip
    path = tmp_path / "tabs.onnx"
    path.write_bytes(model.SerializeToString())
    assert main([str(path), "--format", fmt]) == 0
    assert check_text(capsys.readouterr().out, fmt, loose=False) == ""


def test_csv_cells_cannot_start_a_formula(hostile_model, capsys):
    assert main([str(hostile_model), "--format", "csv"]) == 0
    out = capsys.readouterr().out
    assert "'=cmd|' /C calc'!A0" in out and ",=cmd" not in out and ",+SUM" not in out


@pytest.mark.parametrize("fmt", FORMATS)
def test_layers_listing_neutralises_hostile_names(hostile_model, fmt, capsys):
    assert main([str(hostile_model), "--layers", "--format", fmt]) == 0
    assert check_text(capsys.readouterr().out, fmt, loose=fmt == "json") == ""


def test_errors_are_one_printable_line(tmp_path, capsys):
    model = small_cnn()
    model.graph.node[0].name = "conv\n\x1b[31mforged: line"
    model.graph.node[0].attribute.append(helper.make_attribute("group", helper.make_tensor("g", 7, [1], [2])))
    path = tmp_path / "bad\nname.onnx"
    path.write_bytes(model.SerializeToString())
    assert main([str(path)]) == 2
    (line,) = _error_lines(capsys)
    assert "forged: line" in line and "attribute 'group' must be int, got tensor" in line


@pytest.mark.parametrize("target", ["folder", "/dev/full"])
def test_output_that_cannot_be_written_is_one_line(model_path, tmp_path, target, capsys):
    output = str(tmp_path) if target == "folder" else target
    assert main([str(model_path), "--output", output]) == 2
    assert "cannot write it" in _error_lines(capsys)[0]


@pytest.mark.parametrize(("options", "fragment"), [
    (["--batch-size", str(2**70)], "batch_size"),
    (["--input-shape", "x=1x3x100000000000000000000000x32"], "larger than the estimator represents"),
])
def test_absurd_sizes_are_one_line(model_path, options, fragment, capsys):
    assert main([str(model_path), *options]) == 2
    assert fragment in _error_lines(capsys)[0]


_PREPARE = extraction.prepare


def _boom(job, settings):
    """Reading that hits a bug (a non-project exception) on one model only."""
    if "bad" in str(job.model):
        raise ZeroDivisionError("a bug")
    return _PREPARE(job, settings)


def test_a_bug_in_one_of_several_models_is_that_models_line(model_path, tmp_path, monkeypatch, capsys):
    bad = tmp_path / "bad.onnx"
    shutil.copy(model_path, bad)
    monkeypatch.setattr(extraction, "prepare", _boom)  # the pool's forked workers see the patch
    assert main([str(model_path), str(bad), "--format", "csv"]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "bad.onnx: internal error (ZeroDivisionError: a bug)" in captured.err
    assert "small.onnx" in captured.out and "bad.onnx" not in captured.out


def test_layers_of_several_models_lists_the_good_ones(model_path, capsys):
    assert main([str(model_path), "missing.onnx", "--layers"]) == 2
    captured = capsys.readouterr()
    assert "missing.onnx: file not found" in captured.err and captured.err.count("\n") == 1
    assert "5 layers" in captured.out


def test_totals_say_how_much_lies_outside_the_training_ranges(model_path, capsys):
    report = estimate(model_path, batch_size=10**9)
    assert report.totals.layers_out_of_distribution == len(report.layers)
    assert report.totals.runtime_share_out_of_distribution == pytest.approx(1.0)
    assert main([str(model_path), "--batch-size", str(10**9)]) == 0
    assert "100.0% of the runtime: their runtimes are extrapolated" in capsys.readouterr().out
    assert json.loads(report.to_json())["totals"]["runtime_share_out_of_distribution"] == pytest.approx(1.0)
    usual = estimate(model_path)
    flagged = usual.layers.loc[usual.layers["out_of_distribution"], "runtime_ms"].sum()
    assert usual.totals.runtime_share_out_of_distribution == pytest.approx(flagged / usual.totals.runtime_ms)


def test_node_counts_add_up_with_an_absorbed_bias(tmp_path):
    path = tmp_path / "linear.onnx"
    path.write_bytes(model_seeds()["matmul_bias"])
    totals = estimate(path).totals
    assert totals.nodes_modeled + totals.nodes_free + totals.nodes_unmodeled == totals.nodes_total == 3


# --------------------------------------------------------------------------- files opened


_opened: list[str] | None = None
# This machine's description, read to compare with the profile's fingerprint (estimator.predict.fingerprint).
MACHINE_FILES = {Path("/proc/cpuinfo"), Path("/proc/meminfo")}


def _audit(event, args):
    if _opened is not None and event == "open" and isinstance(args[0], (str, bytes, Path)):
        _opened.append(str(args[0]) if not isinstance(args[0], bytes) else args[0].decode(errors="replace"))


sys.addaudithook(_audit)  # audit hooks cannot be removed; this one records only inside the test below


def test_only_the_model_the_profiles_own_files_and_the_machines_description_are_opened(model_path, tmp_path, capsys):
    global _opened
    profile = tmp_path / "profile"
    shutil.copytree(PROFILE_DIR / "cpu-epyc-1thread", profile)
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16)  # a file the model could name: never read
    model = onnx.load(model_path)
    for tensor in model.graph.initializer:
        tensor.data_location = onnx.TensorProto.EXTERNAL
        tensor.ClearField("raw_data")
        tensor.external_data.add(key="location", value="weights.bin")
    model_path.write_bytes(model.SerializeToString())
    for fmt in FORMATS:  # warm up: lazy imports open Python files of their own
        main([str(model_path), "--profile", str(profile), "--format", fmt])
    capsys.readouterr()
    _opened = []
    try:
        assert main([str(model_path), "--profile", str(profile), "--format", "html"]) == 0
        opened = list(_opened)
    finally:
        _opened = None
    files = {Path(name).resolve() for name in opened} - MACHINE_FILES
    assert model_path.resolve() in files
    assert all(path == model_path.resolve() or path.is_relative_to(profile.resolve()) for path in files), files


# --------------------------------------------------------------------------- omitted inputs ('' names)


def _conv_then(node: onnx.NodeProto, *domains: str) -> onnx.ModelProto:
    """x (1,16,8,8) -> a 16-channel Conv (an NCHWc region under the CPU profiles' rules) -> `node`."""
    conv = helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    weight = numpy_helper.from_array(np.ones((16, 16, 3, 3), np.float32), "w")
    graph = helper.make_graph([conv, node], "omitted", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT,
                                                                                       [1, 16, 8, 8])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                   *(helper.make_opsetid(domain, 1) for domain in domains)])


SHIPPED = sorted(path.name for path in PROFILE_DIR.iterdir() if (path / "profile.json").is_file())


@pytest.mark.parametrize("profile", SHIPPED)
def test_an_add_with_an_omitted_operand_is_one_line_and_exit_2(tmp_path, profile, capsys):
    """It used to be `KeyError: ''` from the NCHWc pass, with a traceback, on the kernel profiles."""
    path = tmp_path / "hollow_add.onnx"
    path.write_bytes(_conv_then(helper.make_node("Add", ["", "c"], ["y"], name="hollow")).SerializeToString())
    assert main([str(path), "--profile", profile, "--threads", "1"]) == 2
    (line,) = _error_lines(capsys)
    assert "'hollow'" in line and "input 0 is missing" in line


@pytest.mark.parametrize("profile", SHIPPED)
def test_a_custom_add_with_an_omitted_operand_is_estimated_and_named_unmodeled(tmp_path, profile, capsys):
    path = tmp_path / "custom_add.onnx"
    node = helper.make_node("Add", ["c", ""], ["y"], name="custom_add", domain="com.microsoft")
    path.write_bytes(_conv_then(node, "com.microsoft").SerializeToString())
    assert main([str(path), "--profile", profile, "--threads", "1", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [entry["name"] for entry in report["unmodeled"]] == ["custom_add"]
    assert report["totals"]["runtime_ms"] > 0


@pytest.mark.parametrize("node", [
    helper.make_node("Clip", ["c", "", "six"], ["y"]),
    helper.make_node("Resize", ["c", "", "scales"], ["y"], mode="nearest", coordinate_transformation_mode="asymmetric"),
    helper.make_node("Pad", ["c", "pads", ""], ["y"]),
], ids=["Clip", "Resize", "Pad"])
@pytest.mark.parametrize("profile", SHIPPED)
def test_optional_inputs_written_as_empty_are_estimated(tmp_path, node, profile, capsys):
    model = _conv_then(node)
    model.graph.initializer.extend([numpy_helper.from_array(np.array(6, np.float32), "six"),
                                    numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
                                    numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")])
    path = tmp_path / "optional.onnx"
    path.write_bytes(model.SerializeToString())
    assert main([str(path), "--profile", profile, "--threads", "1", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["nodes"]["unmodeled"] == 0 and report["totals"]["runtime_ms"] > 0
