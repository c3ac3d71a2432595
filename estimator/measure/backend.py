"""ONNX Runtime as a measuring backend: one-node layer models and whole models."""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import onnx
import onnxruntime as ort

from estimator.errors import MeasureError
from estimator.measure.timing import LoopPolicy, time_calls
from graph.build import layer_model, random_inputs, with_random_weights
from graph.records import Layer

__all__ = ["Backend", "OrtBackend", "OrtSettings"]

_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


@dataclass(frozen=True)
class OrtSettings:
    """Session options recorded with every measurement."""

    intra_op_threads: int = 1
    inter_op_threads: int = 1
    optimization_level: str = "all"
    provider: str = "CPUExecutionProvider"


class Backend:
    """What the collector needs from a backend; OrtBackend and the PyTorch backend implement it."""

    name = "abstract"

    def describe(self) -> dict[str, object]:
        raise NotImplementedError

    def layer_runner(self, layer: Layer, opset: int) -> Callable[[], object]:
        raise NotImplementedError

    def model_runner(self, model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]]) -> Callable[[], object]:
        raise NotImplementedError

    def overhead_runner(self) -> Callable[[], object]:
        raise NotImplementedError

    def time_calls(self, run: Callable[[], object], policy: LoopPolicy) -> tuple[np.ndarray, float]:
        return time_calls(run, policy)


class OrtBackend(Backend):
    """Runs models with ONNX Runtime under fixed, recorded session options."""

    name = "onnxruntime"

    def __init__(self, settings: OrtSettings | None = None) -> None:
        self.settings = settings or OrtSettings()
        if self.settings.optimization_level not in _LEVELS:
            raise MeasureError(f"unknown optimization level {self.settings.optimization_level!r}; use {sorted(_LEVELS)}")
        if self.settings.provider not in ort.get_available_providers():
            raise MeasureError(
                f"execution provider {self.settings.provider} is not available; have {ort.get_available_providers()}"
            )

    def describe(self) -> dict[str, object]:
        return {
            "backend": self.name,
            "onnxruntime_version": ort.__version__,
            "session_options": asdict(self.settings),
            "python": platform.python_version(),
        }

    def _session(self, model: onnx.ModelProto) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.settings.intra_op_threads
        options.inter_op_num_threads = self.settings.inter_op_threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = _LEVELS[self.settings.optimization_level]
        options.log_severity_level = 3
        try:
            return ort.InferenceSession(model.SerializeToString(), options, providers=[self.settings.provider])
        except Exception as error:  # ORT raises its own exception types per build
            raise MeasureError(f"ONNX Runtime could not load {model.graph.name!r}: {str(error).splitlines()[0]}") from None

    def _runner(self, model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> Callable[[], object]:
        session = self._session(model)
        outputs = [output.name for output in session.get_outputs()]
        return lambda: session.run(outputs, feeds)

    def layer_runner(self, layer: Layer, opset: int) -> Callable[[], object]:
        model = layer_model(layer, opset)
        return self._runner(model, random_inputs(model))

    def model_runner(self, model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]]) -> Callable[[], object]:
        full = with_random_weights(model)
        for value in full.graph.input:
            if value.name in input_shapes:
                dims = value.type.tensor_type.shape
                dims.ClearField("dim")
                for dim in input_shapes[value.name]:
                    dims.dim.add().dim_value = dim
        return self._runner(full, random_inputs(full))

    def overhead_runner(self) -> Callable[[], object]:
        """A Relu on one element: what one `run` call costs with next to no work."""
        node = onnx.helper.make_node("Relu", ["x"], ["y"])
        graph = onnx.helper.make_graph(
            [node], "overhead",
            [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
            [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])],
        )
        model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
        return self._runner(model, {"x": np.ones(1, dtype=np.float32)})
