"""Fusion and layout rules: how a runtime turns a model's nodes into the kernels it executes.

Rules are data, kept per device in its profile (as nn-Meter keeps fusion rules per device): the
same model becomes different kernels on a CPU with AVX2 (NCHWc blocks of 8 channels), one with
AVX-512 (blocks of 16) or a GPU runtime that fuses nothing. `estimator.measure.fusion_probes`
detects them on a machine by running tiny graphs through ONNX Runtime's optimizer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["EXPANSIONS", "NO_FUSION", "ORT_CPU_AVX2", "FusionRules"]

# Function ops a runtime may run as their body: the op types of the kernels they become.
EXPANSIONS = {"HardSwish": ("HardSigmoid", "Mul")}

_ACTIVATIONS = ("Relu", "Sigmoid", "Tanh", "LeakyRelu", "Clip", "HardSigmoid")


@dataclass(frozen=True)
class FusionRules:
    """Which rewrites the runtime applies, in ONNX Runtime's order (level 1, level 2, layout).

    Every field defaults to "off": `FusionRules()` runs each compute node as its own kernel.
    """

    name: str = "none"
    # Level 1: constant folding and elimination.
    fold_constants: bool = False
    eliminated_ops: tuple[str, ...] = ()
    noop_elimination: bool = False  # Cast to its own type, Add/Sub of 0, Mul/Div by 1
    common_subexpression_elimination: bool = False  # identical nodes on the same inputs run once
    conv_absorbs_constant_ops: bool = False  # Conv + BatchNormalization / Add(const) / Mul(const)
    # Level 2: fusions that keep the NCHW layout.
    matmul_add_to_gemm: bool = False
    gelu_fusion: bool = False  # Div -> Erf -> Add -> Mul -> Mul  ==>  Gelu
    quick_gelu_fusion: bool = False  # x * Sigmoid(x)  ==>  QuickGelu
    fast_gelu_fusion: bool = False  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))  ==>  FastGelu
    rms_norm_fusion: bool = False  # x / sqrt(mean(x^2) + eps) * w  ==>  SimplifiedLayerNormalization
    skip_layernorm_fusion: bool = False  # Add -> LayerNormalization  ==>  SkipLayerNormalization
    slice_to_split_fusion: bool = False
    transpose_optimizer: bool = False  # a Transpose read by Gathers moves below them; Transpose pairs merge
    gather_to_split_fusion: bool = False  # Gathers of indices 0..n-1 along one axis  ==>  Split + Squeezes
    matmul_transpose_fusion: bool = False  # Transpose of the last two axes -> MatMul  ==>  FusedMatMul(transB)
    matmul_scale_fusion: bool = False  # MatMul of activations scaled by a constant  ==>  FusedMatMul(alpha)
    reshape_fusion: bool = False  # Reshape/Squeeze/Unsqueeze chains  ==>  one Reshape
    conv_add_activation: bool = False  # Conv + Add (+ Relu) ==> FusedConv with a summand, for NCHW convs
    conv_activations: tuple[str, ...] = ()
    gemm_activations: tuple[str, ...] = ()
    conv_add_activation_3d: bool = False  # the same for 3-D convolutions
    qdq_fusion: bool = False  # DequantizeLinear -> op -> QuantizeLinear  ==>  QLinearConv, QLinearAdd, ...
    # Function ops the runtime runs as their body when nothing absorbs them (e.g. HardSwish).
    expanded_ops: tuple[str, ...] = ()
    # Layout: the blocked NCHWc format (0: not used) and what may join it.
    nchwc_block: int = 0
    nchwc_channel_multiple: int = 4  # input channels an NCHWc conv accepts, in steps of this
    nchwc_conv_activations: tuple[str, ...] = ()
    nchwc_elementwise: tuple[str, ...] = ()  # unfused ops that run on NCHWc tensors as they are
    nchwc_upsample: bool = False  # Resize by whole factors of a blocked tensor  ==>  NCHWc Upsample
    int8_nhwc: bool = False  # QLinearConv and the int8 ops after it run channels last, Transposes at the borders

    def to_dict(self) -> dict[str, object]:
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> FusionRules:
        """Rules from a profile manifest; unknown keys are an error (a newer profile format)."""
        fields = {field.name: field for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ValueError(f"unknown fusion rule {unknown[0]!r}")
        values: dict[str, object] = {}
        for key, value in data.items():
            default = fields[key].default
            if isinstance(default, tuple):
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ValueError(f"fusion rule {key!r} must be a list of op types")
                values[key] = tuple(value)
            elif isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"fusion rule {key!r} must be true or false")
                values[key] = value
            elif isinstance(default, int):
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 64:
                    raise ValueError(f"fusion rule {key!r} must be an integer from 0 to 64")
                values[key] = value
            else:
                if not isinstance(value, str):
                    raise ValueError(f"fusion rule {key!r} must be a string")
                values[key] = value
        return cls(**values)


NO_FUSION = FusionRules()

# ONNX Runtime's CPU provider at optimization level ALL on an AVX2 machine (ORT 1.32, probed).
ORT_CPU_AVX2 = FusionRules(
    name="onnxruntime-cpu",
    fold_constants=True,
    eliminated_ops=("Identity", "Dropout"),
    noop_elimination=True,
    common_subexpression_elimination=True,
    conv_absorbs_constant_ops=True,
    matmul_add_to_gemm=True,
    gelu_fusion=True,
    quick_gelu_fusion=True,
    fast_gelu_fusion=True,  # FastGelu and RMSNorm: probed on a Zen 4 machine, ORT 1.32; no ISA-specific fusions
    rms_norm_fusion=True,
    skip_layernorm_fusion=True,
    slice_to_split_fusion=True,
    conv_add_activation=True,
    conv_activations=_ACTIVATIONS,
    gemm_activations=("Relu", "Sigmoid", "Tanh", "LeakyRelu", "HardSigmoid", "Elu", "Softplus", "Selu"),
    expanded_ops=("HardSwish",),
    nchwc_block=8,
    nchwc_channel_multiple=4,
    nchwc_conv_activations=(*_ACTIVATIONS, "HardSwish"),
    # Gelu: probed on a Zen 4 (AVX-512) machine, ORT 1.32; the NCHWc pass's op list does not depend on the ISA.
    nchwc_elementwise=("Relu", "Sigmoid", "Tanh", "HardSigmoid", "Mul", "QuickGelu", "Gelu"),
    transpose_optimizer=True,
    gather_to_split_fusion=True,
    matmul_transpose_fusion=True,
    matmul_scale_fusion=True,
    reshape_fusion=True,
    qdq_fusion=True,
    nchwc_upsample=True,
    int8_nhwc=True,
)
