"""Tests for the PyTorch backend (estimator.measure.backends.pytorch) on the CPU: each record type computes the configuration
that ONNX Runtime computes, timing works, unknown ops are refused, and the CUDA loop's control flow
(events, bounded queue, counter-aligned windows) runs against a fake CUDA and a fake NVML."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from estimator.errors import MeasureError  # noqa: E402
from estimator.measure.backends.pytorch import TorchBackend, TorchSettings  # noqa: E402
from estimator.measure.backends.pytorch.graph_runner import GraphProgram  # noqa: E402
from estimator.measure.sensors import CounterAlignedSensor, NvmlSensor  # noqa: E402
from estimator.measure.timing import LoopPolicy  # noqa: E402
from graph.build import layer_model, random_inputs  # noqa: E402
from graph.extract import extract_layers  # noqa: E402
from graph.nodes import read_graph  # noqa: E402
from graph.records import OtherLayer  # noqa: E402
from tests.fakes import ClockNvml  # noqa: E402
from tests.paths import ROOT, ZOO  # noqa: E402

FLOAT = TensorProto.FLOAT


@pytest.fixture(scope="module")
def backend() -> TorchBackend:
    return TorchBackend(TorchSettings(device="cpu"))


# --------------------------------------------------------------------------- fixtures built in code


def _weight(name: str, shape: list[int], seed: int = 0) -> onnx.TensorProto:
    values = np.random.default_rng(seed).uniform(-0.5, 0.5, size=shape).astype(np.float32)
    return numpy_helper.from_array(values, name)


def _model(nodes, inputs, initializers=(), opset: int = 17) -> onnx.ModelProto:
    out = nodes[-1].output[0]
    graph = helper.make_graph(nodes, "fixture", inputs, [helper.make_tensor_value_info(out, FLOAT, None)],
                              list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _x(shape: list[int], name: str = "X"):
    return helper.make_tensor_value_info(name, FLOAT, shape)


def _const(name: str, values, dtype=np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


CASES: dict[str, onnx.ModelProto] = {
    "conv_same": _model([helper.make_node("Conv", ["X", "W", "B"], ["Y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
                        [_x([2, 4, 9, 9])], [_weight("W", [8, 4, 3, 3]), _weight("B", [8])]),
    "conv_asymmetric_grouped_dilated": _model(
        [helper.make_node("Conv", ["X", "W"], ["Y"], kernel_shape=[3, 2], pads=[0, 1, 2, 0], strides=[2, 1],
                          dilations=[2, 1], group=2)],
        [_x([1, 4, 11, 7])], [_weight("W", [6, 2, 3, 2])]),
    "conv_depthwise_auto_pad": _model(
        [helper.make_node("Conv", ["X", "W"], ["Y"], kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER",
                          group=4)],
        [_x([1, 4, 8, 8])], [_weight("W", [4, 1, 3, 3])]),
    "conv_1d": _model([helper.make_node("Conv", ["X", "W"], ["Y"], kernel_shape=[3], pads=[1, 1])],
                      [_x([1, 3, 10])], [_weight("W", [5, 3, 3])]),
    "maxpool_ceil": _model([helper.make_node("MaxPool", ["X"], ["Y"], kernel_shape=[3, 3], strides=[2, 2],
                                             ceil_mode=1)], [_x([1, 3, 10, 10])]),
    "maxpool_asymmetric": _model([helper.make_node("MaxPool", ["X"], ["Y"], kernel_shape=[2, 2], strides=[2, 2],
                                                   pads=[0, 0, 1, 1])], [_x([1, 3, 7, 7])]),
    "maxpool_dilated": _model([helper.make_node("MaxPool", ["X"], ["Y"], kernel_shape=[3, 3], dilations=[2, 2],
                                                pads=[1, 1, 1, 1])], [_x([1, 2, 9, 9])]),
    "avgpool_include_pad": _model([helper.make_node("AveragePool", ["X"], ["Y"], kernel_shape=[3, 3],
                                                    strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)],
                                  [_x([1, 3, 8, 8])]),
    "avgpool_exclude_pad_ceil": _model([helper.make_node("AveragePool", ["X"], ["Y"], kernel_shape=[2, 2],
                                                         strides=[2, 2], ceil_mode=1)], [_x([2, 3, 7, 7])]),
    "avgpool_asymmetric_exclude_pad": _model([helper.make_node("AveragePool", ["X"], ["Y"], kernel_shape=[2, 2],
                                                               strides=[2, 2], pads=[0, 0, 1, 1])],
                                             [_x([1, 3, 7, 7])]),
    "global_avg": _model([helper.make_node("GlobalAveragePool", ["X"], ["Y"])], [_x([2, 6, 5, 5])]),
    "global_max": _model([helper.make_node("GlobalMaxPool", ["X"], ["Y"])], [_x([2, 6, 5, 5])]),
    "reduce_mean_hw": _model([helper.make_node("ReduceMean", ["X"], ["Y"], axes=[2, 3], keepdims=1)],
                             [_x([2, 6, 5, 5])], opset=13),
    "gemm": _model([helper.make_node("Gemm", ["X", "W", "B"], ["Y"], transB=1)], [_x([3, 20])],
                   [_weight("W", [7, 20]), _weight("B", [7])]),
    "matmul_add_nhwc": _model([helper.make_node("MatMul", ["X", "W"], ["XW"]),
                               helper.make_node("Add", ["XW", "B"], ["Y"])],
                              [_x([2, 3, 3, 16])], [_weight("W", [16, 24]), _weight("B", [24])]),
    "relu": _model([helper.make_node("Relu", ["X"], ["Y"])], [_x([2, 3, 4, 4])]),
    "clip": _model([helper.make_node("Clip", ["X", "lo", "hi"], ["Y"])], [_x([2, 3, 4, 4])],
                   [_const("lo", 0.0), _const("hi", 6.0)]),
    "sigmoid": _model([helper.make_node("Sigmoid", ["X"], ["Y"])], [_x([2, 5])]),
    "hardswish": _model([helper.make_node("HardSwish", ["X"], ["Y"])], [_x([2, 3, 4, 4])]),
    "hardsigmoid": _model([helper.make_node("HardSigmoid", ["X"], ["Y"], alpha=1 / 6)], [_x([2, 3, 4, 4])]),
    "tanh": _model([helper.make_node("Tanh", ["X"], ["Y"])], [_x([2, 5])]),
    "erf": _model([helper.make_node("Erf", ["X"], ["Y"])], [_x([2, 5])]),
    "mul_scalar": _model([helper.make_node("Mul", ["X", "half"], ["Y"])], [_x([2, 5])], [_const("half", 0.5)]),
    "add_broadcast": _model([helper.make_node("Add", ["X", "X2"], ["Y"])], [_x([2, 3, 4, 4]), _x([2, 3, 1, 1], "X2")]),
    "div_scalar": _model([helper.make_node("Div", ["X", "d"], ["Y"])], [_x([2, 5])], [_const("d", 1.41)]),
    "sub": _model([helper.make_node("Sub", ["X", "X2"], ["Y"])], [_x([2, 5]), _x([2, 5], "X2")]),
    "concat": _model([helper.make_node("Concat", ["X", "X2"], ["Y"], axis=1)],
                     [_x([1, 3, 4, 4]), _x([1, 5, 4, 4], "X2")]),
    "batchnorm": _model([helper.make_node("BatchNormalization", ["X", "s", "b", "m", "v"], ["Y"])], [_x([2, 3, 4, 4])],
                        [_const("s", [1.0, 2.0, 0.5]), _const("b", [0.0, 1.0, -1.0]), _const("m", [0.1, 0.2, 0.3]),
                         _const("v", [1.0, 0.5, 2.0])]),
    "layernorm_last": _model([helper.make_node("LayerNormalization", ["X", "s", "b"], ["Y"], axis=-1, epsilon=1e-6)],
                             [_x([2, 4, 4, 8])], [_weight("s", [8]), _weight("b", [8], seed=1)]),
    "softmax": _model([helper.make_node("Softmax", ["X"], ["Y"], axis=1)], [_x([2, 6, 3])]),
    "transpose": _model([helper.make_node("Transpose", ["X"], ["Y"], perm=[0, 2, 3, 1])], [_x([1, 3, 4, 5])]),
    "gelu_erf_chain": _model([helper.make_node("Div", ["X", "r2"], ["D"]), helper.make_node("Erf", ["D"], ["E"]),
                              helper.make_node("Add", ["E", "one"], ["Y"])], [_x([2, 5])],
                             [_const("r2", 1.41), _const("one", 1.0)]),
    "reduce_max_axis": _model([helper.make_node("ReduceMax", ["X"], ["Y"], axes=[1], keepdims=0)], [_x([2, 6, 5])],
                              opset=13),
}


def _layers(model: onnx.ModelProto):
    layers = extract_layers(model)
    return [layer for layer in layers.layers if not (isinstance(layer, OtherLayer) and layer.is_free)], layers.opset


def _ort_outputs(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


# --------------------------------------------------------------------------- layer runners


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_runner_output_shape_matches_onnx_runtime(backend: TorchBackend, case: str) -> None:
    layers, opset = _layers(CASES[case])
    assert layers
    for layer in layers:
        model = layer_model(layer, opset)
        expected = [out.shape for out in _ort_outputs(model, random_inputs(model))]
        result = backend.layer_runner(layer, opset)()
        got = [tuple(t.shape) for t in (result if isinstance(result, (tuple, list)) else [result])]
        assert got == expected, (case, layer)


def test_every_record_type_is_covered(backend: TorchBackend) -> None:
    kinds = {layer.layer_type for model in CASES.values() for layer in _layers(model)[0]}
    assert kinds == {"convolutional", "pooling", "dense", "other"}


# Asymmetric pads on an average pool are applied with F.pad, so its border windows divide by the whole
# kernel even when count_include_pad=0: the configuration (shape, work) is exact, border values are not.
NUMERIC_EXCEPTIONS = {"avgpool_asymmetric_exclude_pad"}


@pytest.mark.parametrize("case", sorted(set(CASES) - NUMERIC_EXCEPTIONS))
def test_one_node_models_compute_what_onnx_runtime_computes(backend: TorchBackend, case: str) -> None:
    """The same builders, fed ONNX Runtime's inputs and weights, give ONNX Runtime's numbers."""
    layers, opset = _layers(CASES[case])
    for layer in layers:
        model = layer_model(layer, opset)
        feeds = random_inputs(model, seed=3)
        expected = _ort_outputs(model, feeds)
        with torch.inference_mode():
            program = GraphProgram(backend.tensors, read_graph(model), {name: value.shape for name, value in feeds.items()})
            for name, value in feeds.items():
                program.inputs[name] = torch.from_numpy(value.copy())
            got = program.runner()()
        for mine, theirs in zip(got, expected, strict=True):
            np.testing.assert_allclose(mine.numpy(), theirs, rtol=1e-4, atol=1e-5, err_msg=case)


def test_pads_that_torch_cannot_take_natively(backend: TorchBackend) -> None:
    """MaxPool pads larger than half the kernel go through F.pad with -inf, and still match."""
    model = _model([helper.make_node("MaxPool", ["X"], ["Y"], kernel_shape=[3, 3], pads=[2, 0, 1, 2],
                                     ceil_mode=1, strides=[2, 2])], [_x([1, 2, 7, 6])])
    feeds = {"X": np.random.default_rng(0).normal(size=(1, 2, 7, 6)).astype(np.float32)}
    expected = _ort_outputs(model, feeds)[0]
    with torch.inference_mode():
        program = GraphProgram(backend.tensors, read_graph(model), {"X": (1, 2, 7, 6)})
        program.inputs["X"] = torch.from_numpy(feeds["X"])
        got = program.runner()()[0]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)


def test_dense_runner_uses_the_record_input_shape(backend: TorchBackend) -> None:
    layer = next(layer for layer in _layers(CASES["matmul_add_nhwc"])[0] if layer.layer_type == "dense")
    assert layer.has_bias and layer.input_shape == (2, 3, 3, 16)
    assert tuple(backend.layer_runner(layer, 17)().shape) == (2, 3, 3, 24)


def test_gemm_with_trans_a_runs_on_the_transposed_input(backend: TorchBackend) -> None:
    model = _model([helper.make_node("Gemm", ["X", "W", "B"], ["Y"], transA=1, transB=1)], [_x([20, 3])],
                   [_weight("W", [7, 20]), _weight("B", [7])])
    (layer,), _ = _layers(model)
    expected = _ort_outputs(model, {"X": np.ones((20, 3), dtype=np.float32)})[0].shape
    assert tuple(backend.layer_runner(layer, 17)().shape) == expected == (3, 7)


def test_unknown_other_op_raises_measure_error(backend: TorchBackend) -> None:
    layer = OtherLayer(name="n0", op_type="NonMaxSuppressionFoo", index=0, dtype="float32", batch_size=1,
                       input_shapes=((1, 4),), input_dtypes=("float32",), output_shapes=((1, 4),), attributes=(),
                       constant_inputs=(), is_free=False, dtype_bytes=4)
    with pytest.raises(MeasureError, match="NonMaxSuppressionFoo"):
        backend.layer_runner(layer, 17)


# --------------------------------------------------------------------------- whole models, timing, description


def test_model_runner_runs_the_zoo_lenet_graph(backend: TorchBackend) -> None:
    path = ZOO / "lenet.onnx"
    if not path.exists():
        pytest.skip("zoo not exported")
    layers = extract_layers(path, batch_size=3)
    run = backend.model_runner(path, dict(layers.input_shapes))
    (output,) = run()
    assert tuple(output.shape) == (3, 10)
    assert torch.isfinite(output).all()


def test_time_calls_returns_positive_per_call_times(backend: TorchBackend) -> None:
    layer = _layers(CASES["conv_same"])[0][0]
    seconds, window = backend.time_calls(backend.layer_runner(layer, 17),
                                         LoopPolicy(warmup_s=0.0, min_time_s=0.02, min_iterations=5))
    assert seconds.size >= 5 and (seconds > 0).all()
    assert window >= 0.02 and window >= seconds.sum() * 0.99
    overhead, _ = backend.time_calls(backend.overhead_runner(), LoopPolicy(warmup_s=0.0, min_time_s=0.01))
    assert np.median(overhead) < np.median(seconds)


def test_describe_records_versions_and_settings(backend: TorchBackend) -> None:
    facts = backend.describe()
    assert facts["backend"] == "pytorch" and facts["torch_version"] == torch.__version__
    assert facts["settings"]["device"] == "cpu" and facts["settings"]["dtype"] == "float32"
    assert {"cuda_version", "cudnn_version", "cpu_threads"} <= set(facts)


def test_module_imports_without_torch_and_the_backend_says_how_to_install() -> None:
    code = ("import sys; sys.modules['torch'] = None\n"
            "from estimator.measure.backends import pytorch as tb\n"
            "from estimator.errors import MeasureError, EstimatorError\n"
            "assert not tb.torch_available()\n"
            "try:\n    tb.TorchBackend()\nexcept MeasureError as e:\n"
            "    assert isinstance(e, EstimatorError) and 'pip install torch' in str(e); print('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr


# --------------------------------------------------------------------------- the CUDA loop, faked


class _FakeEvent:
    def __init__(self, enable_timing: bool = True) -> None:
        self.t: float | None = None

    def record(self) -> None:
        self.t = time.perf_counter()

    def query(self) -> bool:
        return True

    def synchronize(self) -> None:
        pass

    def elapsed_time(self, other: _FakeEvent) -> float:
        return (other.t - self.t) * 1e3


class _FakeCuda:
    Event = _FakeEvent
    OutOfMemoryError = torch.cuda.OutOfMemoryError

    @staticmethod
    def synchronize() -> None:
        pass


class _TorchWithFakeCuda:
    cuda = _FakeCuda

    def __getattr__(self, name: str):
        return getattr(torch, name)


def test_cuda_loop_with_events_and_counter_aligned_window() -> None:
    nvml = ClockNvml(watts=200.0, interval_s=0.01)
    sensor = CounterAlignedSensor(NvmlSensor(nvml), timeout_s=1.0)  # generous: a busy machine delays polls
    backend = TorchBackend(TorchSettings(device="cpu", queue_depth=2), clock=sensor)
    backend.is_cuda = True
    backend.torch = _TorchWithFakeCuda()
    x = torch.ones(64)
    # A window of ten counter updates: a poll that a busy machine wakes a millisecond late is 1% of it, not 3%. (With
    # the default cap of 20,000 calls a quick machine stopped after about 0.04 s of these 2-us calls, and the window
    # read 0.0498 s now and then: the time, not the cap, must end the loop.)
    policy = LoopPolicy(warmup_s=0.0, min_time_s=0.1, min_iterations=5, max_iterations=10**7)
    with sensor:
        token = sensor.begin()
        seconds, window = backend.time_calls(lambda: torch.relu(x), policy)
        reading = sensor.end(token)
        assert seconds.size >= 5 and (seconds >= 0).all() and window >= 0.05  # whole counter updates of the loop
        assert reading is not None and reading.method == "energy-counter-aligned"
        assert reading.power_w == pytest.approx(200.0, rel=0.02)  # whole updates over their own times
        assert sensor.aligned_windows == 1
        idle = sensor.wait_idle_window(0.03)
        assert idle is not None and idle.power_w == pytest.approx(200.0, rel=0.05)
        plain, _ = backend.time_calls(lambda: torch.relu(x), policy)  # no window open: no alignment
        assert plain.size >= 5
    assert sensor.describe()["window_alignment"] == "counter-update"


def test_cpu_loop_aligns_to_the_counter_too() -> None:
    sensor = CounterAlignedSensor(NvmlSensor(ClockNvml(watts=50.0, interval_s=0.005)), timeout_s=1.0)
    backend = TorchBackend(TorchSettings(device="cpu"), clock=sensor)
    with sensor:
        token = sensor.begin()
        seconds, _ = backend.time_calls(backend.overhead_runner(), LoopPolicy(warmup_s=0.0, min_time_s=0.02))
        reading = sensor.end(token)
    assert (seconds > 0).all()
    assert reading.method == "energy-counter-aligned" and reading.power_w == pytest.approx(50.0, rel=0.05)
