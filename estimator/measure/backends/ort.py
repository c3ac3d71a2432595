"""ONNX Runtime as a measuring backend: one-node layer models and whole models, as bytes from graph."""

from __future__ import annotations

import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import onnxruntime as ort

from estimator.errors import MeasureError
from estimator.measure.backends.base import Backend
from graph.build import RunnableModel, overhead_model, runnable_layer, runnable_model
from graph.loading import ModelSource
from graph.records import Layer

__all__ = ["OrtBackend", "OrtSettings"]

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

    def session(self, model: RunnableModel, profile_prefix: str | None = None,
                spinning: bool = True) -> ort.InferenceSession:
        """A session under the recorded options; with `profile_prefix`, ONNX Runtime's profiler on.

        `spinning=False` stops idle intra-op threads from spinning: needed when two sessions take turns,
        because an idle pool that spins takes a core from the other one.
        """
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.settings.intra_op_threads
        options.inter_op_num_threads = self.settings.inter_op_threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = _LEVELS[self.settings.optimization_level]
        options.log_severity_level = 3
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if profile_prefix is not None:
            options.enable_profiling = True
            options.profile_file_prefix = profile_prefix
        try:
            return ort.InferenceSession(model.data, options, providers=[self.settings.provider])
        except Exception as error:  # ORT raises its own exception types per build
            raise MeasureError(f"ONNX Runtime could not load {model.name!r}: {str(error).splitlines()[0]}") from None

    def _runner(self, model: RunnableModel) -> Callable[[], object]:
        session = self.session(model)
        outputs = [output.name for output in session.get_outputs()]
        feeds = model.feeds
        return lambda: session.run(outputs, feeds)

    def layer_runner(self, layer: Layer, opset: int) -> Callable[[], object]:
        try:
            model = runnable_layer(layer, opset)
        except Exception as error:  # onnx's inference rejects a record no one-node model can hold (e.g. int8 ops
            # of ONNX Runtime's own domain): a layer that cannot be measured alone, not a crash of the run
            raise MeasureError(f"{layer.op_type} {layer.name!r}: no one-node model for it ({error}); "
                               "measure it in context (estimator.measure.kernel_collector)") from None
        return self._runner(model)

    def model_runner(self, model: ModelSource, input_shapes: Mapping[str, Sequence[int]]) -> Callable[[], object]:
        return self._runner(runnable_model(model, input_shapes))

    def overhead_runner(self) -> Callable[[], object]:
        """A Relu on one element: what one `run` call costs with next to no work."""
        return self._runner(overhead_model())
