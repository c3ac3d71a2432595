"""PyTorch as a measuring backend: each layer record runs as the torch call that computes it.

Conv, pooling and dense records become ``torch.nn.functional`` calls with the record's exact
configuration; other records go through the op table (ops/). Whole models run in torch too:
``model_runner`` executes the ONNX graph node by node with the same table (graph_runner.py),
and ``torch_model_runner`` times an ``nn.Module``. Timing loops are in timing.py. Everything
runs under ``torch.inference_mode()``.

torch is optional: this module imports without it, and constructing ``TorchBackend`` without
torch raises MeasureError saying how to install it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import platform
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from estimator.errors import MeasureError
from estimator.measure.backends.base import Backend
from estimator.measure.backends.pytorch.graph_runner import GraphProgram
from estimator.measure.backends.pytorch.ops import Spec, build, supported_ops
from estimator.measure.backends.pytorch.tensors import TensorFactory, np_dtype
from estimator.measure.backends.pytorch.timing import EventPool, time_cpu_aligned, time_cuda
from estimator.measure.backends.pytorch.torch_import import load_torch, nn_functional
from estimator.measure.sensors.counter_aligned import CounterAlignedSensor
from estimator.measure.sensors.nvml import nvml_driver_version
from estimator.measure.timing import LoopPolicy, time_calls
from graph.build import LAYER_MODEL_OPSET
from graph.loading import ModelSource
from graph.nodes import read_graph
from graph.records import ConvLayer, DenseLayer, Layer, OtherLayer, PoolLayer

__all__ = ["DTYPES", "TorchBackend", "TorchSettings"]

DTYPES = ("float32", "float16", "bfloat16", "float64")


@dataclass(frozen=True)
class TorchSettings:
    """How layers run in torch; recorded with every measurement.

    device: "cuda", "cuda:N" or "cpu"; None picks "cuda" when torch sees a GPU, else "cpu".
    dtype: the floating-point type of every float tensor (records' float dtypes are replaced).
    cudnn_benchmark: let cuDNN time its algorithms for each new configuration (torch's default: off).
    allow_tf32: let float32 convolutions and matmuls use TF32 tensor cores (off: true float32).
    cpu_threads: torch's intra-op threads on the CPU; None leaves torch's default.
    queue_depth: CUDA calls the host may run ahead of the device inside the timed loop.
    """

    device: str | None = None
    dtype: str = "float32"
    cudnn_benchmark: bool = False
    allow_tf32: bool = False
    cpu_threads: int | None = None
    queue_depth: int = 2


class TorchBackend(Backend):
    """Runs layer records and whole models with PyTorch on a CUDA device or the CPU."""

    name = "pytorch"

    def __init__(self, settings: TorchSettings | None = None, clock: CounterAlignedSensor | None = None) -> None:
        torch = load_torch()
        settings = settings or TorchSettings()
        device = settings.device or ("cuda" if torch.cuda.is_available() else "cpu")
        if settings.dtype not in DTYPES:
            raise MeasureError(f"unknown dtype {settings.dtype!r}; use one of {', '.join(DTYPES)}")
        if settings.queue_depth < 1:
            raise MeasureError(f"queue_depth must be at least 1, got {settings.queue_depth}")
        self.settings = dataclasses.replace(settings, device=device)
        try:
            self.device = torch.device(device)
        except RuntimeError as error:
            raise MeasureError(f"unknown torch device {device!r}: {error}") from None
        self.is_cuda = self.device.type == "cuda"
        if self.is_cuda:
            if not torch.cuda.is_available():
                raise MeasureError("torch sees no CUDA device (torch.cuda.is_available() is False); use device='cpu'")
            index = self.device.index or 0
            if index >= torch.cuda.device_count():
                raise MeasureError(f"no CUDA device {index}; torch sees {torch.cuda.device_count()}")
            self.device = torch.device("cuda", index)
            torch.cuda.set_device(self.device)
        elif self.device.type != "cpu":
            raise MeasureError(f"device {device!r} is not supported; use 'cuda' or 'cpu'")
        if self.settings.cpu_threads is not None:
            torch.set_num_threads(self.settings.cpu_threads)
        self.torch = torch
        self._apply_backend_flags(torch)
        self.dtype = getattr(torch, self.settings.dtype)
        self.align_to(clock)
        self._events = EventPool()
        if self.is_cuda:
            self._events.take(torch, 8192)
        self.tensors = TensorFactory(torch, self.device, self.dtype)

    def align_to(self, clock: CounterAlignedSensor | None) -> None:
        """Start and end timed loops on this clock's counter updates (None: plain loops)."""
        self.clock = clock
        self.align_timeout_s = clock.timeout_s if clock is not None else 0.5

    def _apply_backend_flags(self, torch: Any) -> None:
        torch.backends.cudnn.benchmark = self.settings.cudnn_benchmark
        precision = "tf32" if self.settings.allow_tf32 else "ieee"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                torch.backends.cuda.matmul.fp32_precision = precision
                torch.backends.cudnn.conv.fp32_precision = precision
            except (AttributeError, RuntimeError):  # torch before the fp32_precision API
                torch.backends.cuda.matmul.allow_tf32 = self.settings.allow_tf32
                torch.backends.cudnn.allow_tf32 = self.settings.allow_tf32

    # -- description -------------------------------------------------------------------------

    def describe(self) -> dict[str, object]:
        torch = self.torch
        facts: dict[str, object] = {
            "backend": self.name,
            "torch_version": torch.__version__,
            "cuda_version": torch.version.cuda,
            "cudnn_version": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
            "device": str(self.device),
            "settings": asdict(self.settings),
            "cpu_threads": torch.get_num_threads(),
            "timing": ("CUDA events around each call, host at most queue_depth calls ahead, synchronised at the end"
                       if self.is_cuda else "perf_counter around each call"),
            "python": platform.python_version(),
        }
        if self.is_cuda:
            props = torch.cuda.get_device_properties(self.device)
            facts["gpu_name"] = torch.cuda.get_device_name(self.device)
            facts["gpu_capability"] = f"{props.major}.{props.minor}"
            facts["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
            facts["gpu_multiprocessors"] = props.multi_processor_count
            facts["driver_version"] = nvml_driver_version()
        return facts

    # -- runners ------------------------------------------------------------------------------

    def layer_runner(self, layer: Layer, opset: int) -> Callable[[], object]:
        """A call that runs this record's configuration once (random data, built on the device)."""
        with self.torch.inference_mode():
            try:
                if isinstance(layer, (ConvLayer, PoolLayer)) and (layer.spatial_rank == 3 or layer.dtype_bytes == 1
                                                                  or getattr(layer, "transposed", False)):
                    raise MeasureError(f"{layer.op_type} {layer.name!r}: 3-D, transposed and int8 layers are not "
                                       "supported by the PyTorch backend; measure them with ONNX Runtime")
                return self._runner(layer, opset)
            except self.torch.cuda.OutOfMemoryError as error:
                raise MeasureError(f"{layer.op_type} {layer.name!r}: out of device memory ({error})") from None
            except RuntimeError as error:
                raise MeasureError(f"{layer.op_type} {layer.name!r}: torch cannot build it: "
                                   f"{str(error).splitlines()[0]}") from None

    @functools.singledispatchmethod
    def _runner(self, layer: Layer, opset: int) -> Callable[[], object]:
        """The call that runs one layer: one registration per layer type."""
        raise MeasureError(f"not a layer record: {layer!r}")

    @_runner.register(ConvLayer)
    def _conv_runner(self, layer: ConvLayer, opset: int) -> Callable[[], object]:
        channels, height, width = layer.input_chw
        out_channels = layer.output_chw[0]
        x_shape = (layer.batch_size, channels, height, width)
        w_shape = (out_channels, channels // layer.groups, *layer.kernel)
        attrs = {"kernel_shape": layer.kernel, "strides": layer.stride, "dilations": layer.dilation,
                 "pads": layer.pads, "group": layer.groups}
        fn = build(Spec("Conv", attrs, [x_shape, w_shape], {}, LAYER_MODEL_OPSET))
        x, w = self.tensors.random(x_shape), self.tensors.weight(w_shape)
        b = self.tensors.random((out_channels,)) if layer.has_bias else None
        return lambda: fn(x, w, b)

    @_runner.register(PoolLayer)
    def _pool_runner(self, layer: PoolLayer, opset: int) -> Callable[[], object]:
        torch = self.torch
        x = self.tensors.random((layer.batch_size, *layer.input_chw))
        if layer.op_type in ("ReduceMean", "ReduceMax"):
            reduce_fn = torch.mean if layer.op_type == "ReduceMean" else torch.amax
            return lambda: reduce_fn(x, dim=(2, 3), keepdim=True)
        if layer.is_global:
            op_type = "GlobalMaxPool" if layer.pool_kind == "max" else "GlobalAveragePool"
            fn = build(Spec(op_type, {}, [tuple(x.shape)], {}, LAYER_MODEL_OPSET))
            return lambda: fn(x)
        attrs = {"kernel_shape": layer.kernel, "strides": layer.stride, "pads": layer.pads,
                 "dilations": layer.dilation, "ceil_mode": int(layer.ceil_mode),
                 "count_include_pad": int(layer.count_include_pad)}
        fn = build(Spec("MaxPool" if layer.pool_kind == "max" else "AveragePool", attrs, [tuple(x.shape)], {}, LAYER_MODEL_OPSET))
        return lambda: fn(x)

    @_runner.register(DenseLayer)
    def _dense_runner(self, layer: DenseLayer, opset: int) -> Callable[[], object]:
        functional = nn_functional()
        x = self.tensors.random(layer.input_shape)
        w = self.tensors.weight((layer.out_features, layer.in_features))
        b = self.tensors.random((layer.out_features,)) if layer.has_bias else None
        shape = tuple(layer.input_shape)
        if shape[-1] == layer.in_features and math.prod(shape[:-1]) == layer.rows:
            return lambda: functional.linear(x, w, b)
        if len(shape) == 2 and shape == (layer.in_features, layer.rows):  # Gemm with transA
            return lambda: functional.linear(x.t(), w, b)
        raise MeasureError(f"dense layer {layer.name!r}: input {shape} does not hold {layer.rows} rows of "
                           f"{layer.in_features} features")

    @_runner.register(OtherLayer)
    def _other_runner(self, layer: OtherLayer, opset: int) -> Callable[[], object]:
        if layer.op_type not in supported_ops():
            raise MeasureError(f"op {layer.op_type} is not supported by the PyTorch backend "
                               f"(layer {layer.name!r}); supported: {len(supported_ops())} op types")
        constants = dict(layer.constant_inputs)
        static: dict[int, np.ndarray] = {}
        inputs: list[Any] = []
        for position, (shape, dtype) in enumerate(zip(layer.input_shapes, layer.input_dtypes, strict=False)):
            if shape is None:
                inputs.append(None)
            elif position in constants:
                static[position] = np.asarray(constants[position], dtype=np_dtype(dtype)).reshape(shape)
                inputs.append(self.tensors.constant(constants[position], shape, dtype))
            else:
                inputs.append(self.tensors.random(shape, dtype))
        while inputs and inputs[-1] is None:
            inputs.pop()
        spec = Spec(layer.op_type, dict(layer.attributes), list(layer.input_shapes), static, opset,
                     list(layer.output_shapes))
        fn = build(spec)
        return lambda: fn(*inputs)

    def model_runner(self, model: ModelSource, input_shapes: Mapping[str, Sequence[int]]) -> Callable[[], object]:
        """A call that runs the whole ONNX graph in torch, node by node, with random weights."""
        graph = read_graph(model)
        with self.torch.inference_mode():
            try:
                return GraphProgram(self.tensors, graph, input_shapes).runner()
            except self.torch.cuda.OutOfMemoryError as error:
                raise MeasureError(f"{graph.name!r}: out of device memory ({error})") from None
            except RuntimeError as error:
                raise MeasureError(f"{graph.name!r}: torch cannot run the graph: "
                                   f"{str(error).splitlines()[0]}") from None

    def torch_model_runner(self, module: Any, input_shape: Sequence[int], batch_size: int | None = None
                           ) -> Callable[[], object]:
        """A call that runs an nn.Module (e.g. a torchvision model) on a random batch."""
        shape = list(input_shape)
        if batch_size is not None:
            shape[0] = batch_size
        with self.torch.inference_mode():
            module = module.to(device=self.device, dtype=self.dtype).eval()
            x = self.tensors.random(shape)
        return lambda: module(x)

    def overhead_runner(self) -> Callable[[], object]:
        """A ReLU on one element: what one call costs with next to no work."""
        with self.torch.inference_mode():
            x = self.tensors.random((1,))
        relu = self.torch.relu
        return lambda: relu(x)

    def time_calls(self, run: Callable[[], object], policy: LoopPolicy) -> tuple[np.ndarray, float]:
        """Per-call seconds after warm-up, and the loop's total wall seconds (see timing.py)."""
        clock = self.clock if self.clock is not None and self.clock.window_open else None
        try:
            with self.torch.inference_mode():
                if self.is_cuda:
                    return time_cuda(self.torch, self._events, run, policy, clock, self.settings.queue_depth,
                                     self.align_timeout_s)
                if clock is None:
                    return time_calls(run, policy)
                return time_cpu_aligned(run, policy, clock, self.align_timeout_s)
        except self.torch.cuda.OutOfMemoryError as error:
            raise MeasureError(f"out of device memory while running: {error}") from None
        except RuntimeError as error:
            raise MeasureError(f"torch failed while running: {str(error).splitlines()[0]}") from None
