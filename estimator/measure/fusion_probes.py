"""Detect a machine's fusion rules: run tiny probe models through ONNX Runtime's optimizer and
read back which kernels it made (nn-Meter's kernel detection, for ONNX Runtime).

The result is data (graph.kernels.FusionRules) stored in the profile measured on that machine,
so estimates elsewhere apply the rules of the device they are for, not of the machine they run on.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import onnxruntime as ort

from graph import probes
from graph.kernels import FusionRules
from graph.kernels.runtime import RuntimeNode, read_runtime_graph

__all__ = ["detect_fusion_rules"]

_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
_BLOCK_CANDIDATES = (4, 8, 16, 32, 64)

Optimize = Callable[[bytes], list[RuntimeNode]]


def detect_fusion_rules(optimization_level: str = "all", provider: str = "CPUExecutionProvider") -> FusionRules:
    """The rules ONNX Runtime applies on this machine with these session options (about a second)."""
    with tempfile.TemporaryDirectory(prefix="fusion-probes-") as folder:
        counter = iter(range(10**6))

        def optimize(model: bytes) -> list[RuntimeNode]:
            path = Path(folder) / f"probe{next(counter)}.onnx"
            options = ort.SessionOptions()
            options.graph_optimization_level = _LEVELS[optimization_level]
            options.optimized_model_filepath = str(path)
            options.log_severity_level = 3
            ort.InferenceSession(model, options, providers=[provider])
            return read_runtime_graph(path)

        return rules_from_probes(optimize, name=f"onnxruntime-{provider.removesuffix('ExecutionProvider').lower()}")


def rules_from_probes(optimize: Optimize, name: str) -> FusionRules:
    """Rules read off the optimized probe graphs that `optimize` returns."""
    block = next((size for size in _BLOCK_CANDIDATES
                  if any(node.blocked for node in optimize(probes.pool(size)))), 0)
    multiple = 0
    if block:
        multiple = next(m for m in (1, 2, 4, 8, 16, 32, 64)
                        if m >= block or any(node.blocked and node.op_type == "Conv"
                                             for node in optimize(probes.conv(block + m, 16))))
    candidates = probes.ACTIVATION_CANDIDATES
    blocked_activations, blocked_elementwise, conv_activations, gemm_activations = [], [], [], []
    expanded = []
    for op_type in candidates:
        fused = _activation_of(optimize(probes.activation_after(op_type)), blocked=True)
        if block and fused == op_type:
            blocked_activations.append(op_type)
        if block:
            shared = optimize(probes.activation_after(op_type, shared=True))
            if sum(node.op_type == "ReorderOutput" for node in shared) == 1:
                blocked_elementwise.extend(_ran_as(shared, op_type))
            if op_type == "HardSwish" and any(node.op_type == "HardSigmoid" for node in shared):
                expanded.append("HardSwish")
        if _activation_of(optimize(probes.activation_after(op_type, groups=8)), blocked=False) == op_type:
            conv_activations.append(op_type)
        if any(node.op_type == "FusedGemm" and node.activation == op_type for node in optimize(probes.gemm_then(op_type))):
            gemm_activations.append(op_type)
    nodes_of = {kind: optimize(probes.pattern(kind)) for kind in probes.PATTERNS}
    ops_of = {kind: {node.op_type for node in nodes} for kind, nodes in nodes_of.items()}

    def count(kind: str, op_type: str) -> int:
        return sum(node.op_type == op_type for node in nodes_of[kind])

    return FusionRules(
        name=name,
        fold_constants=True,
        eliminated_ops=("Identity", "Dropout"),
        noop_elimination=not {"Mul", "Cast"} & ops_of["noops"],
        common_subexpression_elimination=count("twins", "Sigmoid") == 1,
        conv_absorbs_constant_ops="BatchNormalization" not in ops_of["batchnorm_after_conv"],
        matmul_add_to_gemm="Gemm" in ops_of["matmul_add"],
        gelu_fusion="Gelu" in ops_of["gelu"],
        quick_gelu_fusion="QuickGelu" in ops_of["quick_gelu"],
        fast_gelu_fusion="FastGelu" in ops_of["fast_gelu"],
        rms_norm_fusion="SimplifiedLayerNormalization" in ops_of["rms_norm"],
        skip_layernorm_fusion="SkipLayerNormalization" in ops_of["skip_layernorm"],
        slice_to_split_fusion="Split" in ops_of["slices"],
        conv_add_activation="Add" not in ops_of["conv_add_relu"],
        conv_add_activation_3d="Add" not in ops_of["conv3d_add_relu"],
        qdq_fusion="QLinearConv" in ops_of["qdq_conv"],
        transpose_optimizer=count("transpose_gathers", "Transpose") > 1,
        gather_to_split_fusion="Split" in ops_of["gathers"],
        matmul_transpose_fusion="FusedMatMul" in ops_of["matmul_transpose"],
        matmul_scale_fusion="FusedMatMul" in ops_of["matmul_scale"],
        reshape_fusion=count("reshapes", "Reshape") == 1,
        conv_activations=tuple(conv_activations),
        gemm_activations=tuple(gemm_activations),
        expanded_ops=tuple(expanded),
        nchwc_block=block,
        nchwc_channel_multiple=multiple,
        nchwc_conv_activations=tuple(blocked_activations),
        nchwc_elementwise=tuple(dict.fromkeys(blocked_elementwise)),
        nchwc_upsample=any(node.op_type == "Upsample" and node.blocked for node in nodes_of["resize_blocked"]),
        int8_nhwc=any(node.op_type == "QLinearConv" and node.domain == "com.microsoft" for node in nodes_of["qdq_conv"]),
    )


def _activation_of(nodes: list[RuntimeNode], blocked: bool) -> str:
    """The activation fused into the probe's first Conv (blocked or plain), or ""."""
    for node in nodes:
        if node.op_type in ("Conv", "FusedConv") and node.blocked == blocked:
            return node.activation
    return ""


def _ran_as(nodes: list[RuntimeNode], op_type: str) -> list[str]:
    """The op types a probe's middle activation ran as (SiLU as QuickGelu, HardSwish as HardSigmoid + Mul)."""
    return [node.op_type for node in nodes if node.op_type not in ("Conv", "ReorderInput", "ReorderOutput")
            and not node.op_type.startswith("Fused")]
