"""Typed records of the kernels a runtime executes for a model."""

from __future__ import annotations

from dataclasses import dataclass

from graph.records import Layer, LayerType, ModelFacts, Shape

__all__ = ["Kernel", "ModelKernels"]


@dataclass(frozen=True, slots=True)
class Kernel:
    """One kernel: the layer record it computes, and what fusion and layout add to it.

    `layer` keeps the model's view (logical shapes, the seed's columns); `input_shape` and
    `output_shape` are the tensors as the runtime holds them (NCHWc channels padded to the block).
    """

    layer: Layer
    op_type: str  # the runtime's op: Conv, FusedConv, FusedGemm, ReorderInput, Gelu, ...
    layout: str  # of the output: nchw, nchwc or nhwc
    input_layout: str
    activation: str  # a fused activation's op type, or ""
    has_summand: bool  # a residual Add accumulated into the output
    input_shape: Shape | None
    output_shape: Shape | None
    sources: tuple[str, ...]  # the model nodes this kernel computes (empty for runtime-added ones)

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def layer_type(self) -> LayerType:
        return self.layer.layer_type


@dataclass(frozen=True, kw_only=True)
class ModelKernels(ModelFacts):
    """A model as kernels: what runs, what costs nothing, and what the estimator cannot represent."""

    rules: str
    kernels: tuple[Kernel, ...]
    free: tuple[tuple[str, str], ...]  # (node name, op type) of folded or eliminated nodes
