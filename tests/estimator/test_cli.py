"""The `estimate` CLI through main([...]): output formats and every error path (exit 2, one line)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from estimator.cli import main
from estimator.testing import small_cnn
from tests.paths import ROOT


@pytest.fixture()
def model_path(tmp_path) -> Path:
    path = tmp_path / "small.onnx"
    path.write_bytes(small_cnn().SerializeToString())
    return path


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("estimate: error: ") and "Traceback" not in err
    return err


def test_estimate_prints_a_table(model_path, capsys):
    assert main([str(model_path)]) == 0
    out = capsys.readouterr().out
    assert "runtime" in out and "conv1" in out and "not measured for this profile" in out


def test_json_output_to_a_file(model_path, tmp_path):
    target = tmp_path / "report.json"
    assert main([str(model_path), "--format", "json", "--output", str(target), "--batch-size", "2"]) == 0
    document = json.loads(target.read_text())
    assert document["batch_size"] == 2 and document["batch_size_assumed"] is False


def test_layers_listing_in_every_format(model_path, capsys):
    assert main([str(model_path), "--layers"]) == 0
    assert "5 layers (convolutional 1, pooling 2, dense 1, other 1)" in capsys.readouterr().out
    assert main([str(model_path), "--layers", "--format", "csv"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header.startswith("name,op_type,layer_type,batch_size,input_size_0")
    assert main([str(model_path), "--layers", "--format", "json"]) == 0
    layers = json.loads(capsys.readouterr().out)["layers"]
    assert [layer["layer_type"] for layer in layers][:3] == ["convolutional", "other", "pooling"]


def test_several_models_give_one_summary_line_each(model_path, capsys):
    assert main([str(model_path), str(model_path), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("model,batch_size,runtime_ms")


def test_several_models_are_compared_in_every_format(model_path, tmp_path, capsys):
    bigger = tmp_path / "bigger.onnx"
    bigger.write_bytes(small_cnn(channels=64).SerializeToString())
    assert main([str(bigger), str(model_path), "--format", "html"]) == 0
    page = capsys.readouterr().out
    assert "<title>Comparison of 2 models</title>" in page and str(tmp_path) not in page
    assert page.index(">small.onnx</text>") < page.index(">bigger.onnx</text>")  # cheapest first
    assert main([str(bigger), str(model_path), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [entry["title"] for entry in document] == ["small.onnx", "bigger.onnx"]
    assert set(document[0]["by_layer_type"]) == {"convolutional", "pooling", "dense", "other", "run overhead"}
    assert main([str(bigger), str(model_path), "--format", "markdown"]) == 0
    assert capsys.readouterr().out.startswith("# Comparison of 2 models")


def test_list_profiles(capsys):
    assert main(["--list-profiles"]) == 0
    listed = capsys.readouterr().out
    assert "amd-epyc-f23m49-avx2-t1\tshipped\truntime only" in listed
    assert "cpu-epyc-1thread\tshipped\truntime only" in listed


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["missing.onnx"], "missing.onnx: file not found"),
        (["{model}", "--profile", "nope"], "unknown profile 'nope'"),
        (["{model}", "--input-shape", "x=1xAx3"], "expected NAME=1x3x224x224"),
        (["{model}", "--input-shape", "y=1x3x32x32"], "no graph input named 'y'"),
        (["{model}", "--batch-size", "0"], "--batch-size 0: must be positive"),
        (["{garbage}"], "not a valid ONNX model"),
        ([], "no MODEL given"),
    ],
)
def test_bad_input_exits_2_with_one_line(arguments, expected, model_path, tmp_path, capsys):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x07\xff\xfe not protobuf")
    arguments = [a.format(model=model_path, garbage=garbage) for a in arguments]
    assert main(arguments) == 2
    assert expected in _one_line_error(capsys)


def test_symbolic_dimension_error_says_how_to_fix(tmp_path, capsys):
    path = tmp_path / "seq.onnx"
    model = small_cnn()
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "height"
    path.write_bytes(model.SerializeToString())
    assert main([str(path)]) == 2
    error = _one_line_error(capsys)
    assert "dimension 2 is symbolic ('height')" in error and "--input-shape x=" in error
    assert main([str(path), "--input-shape", "x=1x3x32x32"]) == 0


def test_one_bad_model_among_several_exits_2(model_path, capsys):
    assert main([str(model_path), "missing.onnx"]) == 2
    captured = capsys.readouterr()
    assert "missing.onnx: file not found" in captured.err and "small.onnx" in captured.out


def test_unknown_format_is_a_usage_error(model_path, capsys):
    assert main([str(model_path), "--format", "xml"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_help_runs_as_a_console_script():
    result = subprocess.run([sys.executable, "-m", "estimator.cli", "--help"], capture_output=True, text=True,
                            cwd=ROOT, check=False)
    assert result.returncode == 0 and "usage: estimate" in result.stdout


def test_calibrate_measures_this_machine_then_estimates_with_it(model_path, capsys, monkeypatch):
    import estimator.calibrate
    from estimator.predict.userdata import user_profile_dir

    monkeypatch.setattr(estimator.calibrate, "MAX_OTHER_CORES", 1e9)  # the suite may run beside other work
    assert main([str(model_path), "--calibrate", "15", "--threads", "1", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert "estimate: profile of this machine written to" in captured.err and "Traceback" not in captured.err
    written = [path.parent for path in user_profile_dir().glob("*/profile.json")]
    assert len(written) == 1 and json.loads((written[0] / "profile.json").read_text())["fingerprint"]["intra_op_threads"] == 1
    document = json.loads(captured.out)
    assert document["profile"] == written[0].name
    assert document["device_note"] == f"profile {written[0].name} (local): measured on this machine at 1 thread(s)"


def test_no_first_use_calibration_outside_a_terminal(model_path, capsys, monkeypatch):
    from estimator.cli import AUTO_CALIBRATE_VARIABLE
    from estimator.predict.userdata import user_data_dir

    monkeypatch.delenv(AUTO_CALIBRATE_VARIABLE)
    monkeypatch.delenv("CI", raising=False)
    assert main([str(model_path), "--threads", "1", "--format", "json"]) == 0  # pytest's stdin is no terminal
    captured = capsys.readouterr()
    assert captured.err == "" and not (user_data_dir() / "training_data").exists()
    assert "nearest to this machine" in json.loads(captured.out)["device_note"] or \
        "measured on this machine" in json.loads(captured.out)["device_note"]


@pytest.mark.parametrize("argv", [["--calibrate", "60", "--no-calibrate"], ["--threads", "0"], ["--calibrate", "5"]])
def test_calibration_options_are_checked(model_path, capsys, argv):
    assert main([str(model_path), *argv]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_busy_machine_stores_nothing_and_the_estimate_uses_the_nearest_profile(model_path, capsys, monkeypatch):
    import estimator.calibrate
    from estimator.errors import MachineBusyError
    from estimator.predict.userdata import user_data_dir

    def busy(*args, **kwargs):
        raise MachineBusyError("the machine was busy while measuring at 1 thread(s) (other processes used 0.90 CPU "
                               "cores on average): no profile stored; run it again when the machine is quiet")

    monkeypatch.setattr(estimator.calibrate, "calibrate_machine", busy)
    assert main([str(model_path), "--calibrate", "--threads", "1", "--format", "json"]) == 0
    err = capsys.readouterr()
    assert err.err.count("\n") == 1 and "busy" in err.err and "estimating with the nearest profile" in err.err
    assert json.loads(err.out)["device_note"].startswith("profile ")  # which profile it took instead, and why
    assert json.loads((user_data_dir() / "first-use.json").read_text())["threads"] == 1  # no automatic retry for an hour


@pytest.mark.parametrize(("terminal", "environment", "flag", "expected"), [
    (True, {}, [], True),
    (False, {}, [], False),  # a pipeline or a script
    (True, {"CI": "true"}, [], False),
    (True, {"ONNX_COST_ESTIMATOR_AUTO_CALIBRATE": "0"}, [], False),
    (True, {}, ["--no-calibrate"], False),
])
def test_who_gets_a_first_use_calibration(monkeypatch, terminal, environment, flag, expected):
    from estimator.cli import AUTO_CALIBRATE_VARIABLE, _may_calibrate_by_itself, build_parser

    monkeypatch.delenv(AUTO_CALIBRATE_VARIABLE)
    monkeypatch.delenv("CI", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: terminal, raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal, raising=False)
    assert _may_calibrate_by_itself(build_parser().parse_args(["m.onnx", *flag]), threads=2) is expected


def test_a_batch_size_list_gives_a_curve_in_every_format(model_path, tmp_path, capsys):
    assert main([str(model_path), "--batch-size", "1,8,32", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [point["batch_size"] for point in document] == [1, 8, 32]
    assert all(point["dimension"] == "batch_size" and point["runtime_per_sample_ms"] > 0 for point in document)
    assert main([str(model_path), "--batch-size", "1,8", "--format", "csv"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    assert main([str(model_path), "--batch-size", "1,8"]) == 0
    assert "samples/s" in capsys.readouterr().out
    target = tmp_path / "curve.html"
    assert main([str(model_path), "--batch-size", "1,8", "--format", "html", "--output", str(target)]) == 0
    assert "<title>Curve: small.onnx over batch size</title>" in target.read_text()


def test_dim_sizes_a_named_dimension_and_several_sizes_give_a_curve(tmp_path, capsys):
    path = tmp_path / "square.onnx"
    model = small_cnn()
    for axis in (2, 3):
        model.graph.input[0].type.tensor_type.shape.dim[axis].dim_param = "side"
    path.write_bytes(model.SerializeToString())
    assert main([str(path), "--dim", "side=16", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["input_shapes"] == {"x": [1, 3, 16, 16]}
    assert main([str(path), "--dim", "side=16,32", "--batch-size", "2", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [(p["dimension"], p["value"], p["batch_size"]) for p in document] == [("side", 16, 2), ("side", 32, 2)]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["{model}", "--batch-size", "1,0,x"], "--batch-size 1,0,x: expected a whole number or comma-separated ones"),
        (["{model}", "--batch-size", "1,-8"], "--batch-size 1,-8: must be positive"),
        (["{model}", "--batch-size", "1,2", "--dim", "N=1,2"], "a curve sweeps one dimension"),
        (["{model}", "{model}", "--batch-size", "1,2"], "a curve (--batch-size with several sizes) takes one MODEL, got 2"),
        (["{model}", "--batch-size", "1,2", "--layers"], "--layers lists one model's layers"),
        (["{model}", "--dim", "seq"], "--dim 'seq': expected NAME=N"),
        (["{model}", "--dim", "seq=4", "--dim", "seq=8"], "--dim seq: given twice"),
        (["{model}", "--dim", "seq=4"], "no input has a symbolic dimension named 'seq'"),
    ],
)
def test_bad_curve_options_exit_2_with_one_line(arguments, expected, model_path, capsys):
    assert main([a.format(model=model_path) for a in arguments]) == 2
    assert expected in _one_line_error(capsys)
