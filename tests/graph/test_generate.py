"""The seeded generator: classic families unchanged, modern families valid, runnable and varied."""

from __future__ import annotations

import hashlib

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest

from estimator.train.kernel_evaluation import attention_tokens
from graph.build import with_random_weights
from graph.generate import COVERAGE, FAMILIES, MODERN, generate
from graph.kernels import ORT_CPU_AVX2, extract_kernels

# sha256 of generate(family, 0).model.graph, as the generator wrote it before the modern families were added: the
# training data of every profile names its generated graphs by (family, seed) only.
CLASSIC_DIGESTS = {
    "basic_residual": "f041c0f0a967ce04",
    "bottleneck": "5800da56b8649e96",
    "inverted_residual": "32e79e2ed5cc8ff6",
    "inverted_residual_se": "80b6c7135d210f66",
    "depthwise_separable": "4c30f2af309efee2",
    "channel_shuffle": "0cc2c4e72656684b",
    "dense_concat": "961744a1e0e44fd5",
    "inception": "fc54f30d948cd311",
    "convnext": "37624a4779b702de",
    "transformer_mlp": "81cc32fb52a37669",
}


# sha256 of generate("primitives", seed).model.graph for graphs the Zen 4 data timed (2026-12-05): its rows name them.
PRIMITIVES_DIGESTS = {0: "7a3362c77955fdc1", 199: "716bde4c35ec3f0e"}


def test_the_timed_primitives_graphs_stay_what_the_generator_gives():
    for seed, digest in PRIMITIVES_DIGESTS.items():
        assert hashlib.sha256(generate("primitives", seed).model.graph.SerializeToString()).hexdigest()[:16] == digest


def test_classic_families_keep_their_graphs_and_modern_then_coverage_ones_come_after():
    assert FAMILIES[:len(CLASSIC_DIGESTS)] == tuple(CLASSIC_DIGESTS)
    assert FAMILIES[len(CLASSIC_DIGESTS):] == MODERN + COVERAGE
    for family, digest in CLASSIC_DIGESTS.items():
        assert hashlib.sha256(generate(family, 0).model.graph.SerializeToString()).hexdigest()[:16] == digest, family


@pytest.mark.parametrize("family", MODERN + COVERAGE)
def test_modern_networks_run_and_write_the_declared_output_shape(family):
    network = generate(family, 0)
    assert generate(family, 0).model.SerializeToString() == network.model.SerializeToString()  # seeded
    session = ort.InferenceSession(with_random_weights(network.model).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    feeds = {}
    for value in session.get_inputs():
        shape = [2 if isinstance(dim, str) else dim for dim in value.shape]
        feeds[value.name] = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    (output,) = session.run(None, feeds)
    declared = [2 if dim.dim_param else dim.dim_value for dim in network.model.graph.output[0].type.tensor_type.shape.dim]
    assert list(output.shape) == declared


def test_attention_family_spans_the_variants_real_encoders_use():
    specs = [generate("attention", seed).spec for seed in range(60)]
    assert {spec["frontend"] for spec in specs} == {"tokens", "conv1d", "patch"}
    assert {spec["norm"] for spec in specs} == {"layer_norm", "rms_norm"}
    assert {spec["mlp"] for spec in specs} >= {"gelu", "gelu_tanh", "swiglu", "silu", "hardswish"}
    assert {spec["mixer"] for spec in specs} == {"softmax", "linear"}
    assert any(spec["kv_heads"] < spec["heads"] for spec in specs)  # grouped-query attention
    assert any(spec["bias"] for spec in specs)
    tokens = [spec["seq"] for spec in specs]
    assert min(tokens) == 16 and max(tokens) == 4096
    assert sum(t >= 1024 for t in tokens) >= 10 and sum(t <= 512 for t in tokens) >= 30


def test_primitives_span_patch_stems_depthwise_activations_and_both_nearest_roundings():
    stems, depthwise_activations, nearest_modes = set(), set(), set()
    for seed in range(40):
        nodes = generate("primitives", seed).model.graph.node
        consumers = {name: node for node in nodes for name in node.input}
        convs = [node for node in nodes if node.op_type == "Conv"]
        stem = {a.name: tuple(a.ints) for a in convs[0].attribute}
        stems.add((stem["kernel_shape"][0], stem["strides"][0]))
        for node in convs:
            if next((a.i for a in node.attribute if a.name == "group"), 1) > 1:  # depthwise or grouped
                after = consumers.get(node.output[0])
                depthwise_activations.add(after.op_type if after is not None else "")
        nearest_modes |= {next((a.s.decode() for a in node.attribute if a.name == "nearest_mode"), "default")
                          for node in nodes if node.op_type == "Resize"
                          and any(a.name == "mode" and a.s == b"nearest" for a in node.attribute)}
    assert {(3, 2), (7, 2)} <= stems and {(p, p) for p in (2, 4, 8)} <= stems  # the usual stems and patch embeddings
    assert {"Relu", "Clip", "HardSwish", "Sigmoid"} <= depthwise_activations
    assert nearest_modes == {"floor", "default"}


def test_attention_tokens_reads_each_generated_attention_graph_s_sequence_length():
    graphs = pd.DataFrame({"model": ["attention_1", "attention_3", "basic_residual_0", "attention_3"],
                           "source": ["generated", "generated", "generated", "zoo"],
                           "family": ["attention", "attention", "basic_residual", "attention"]})
    assert attention_tokens(graphs).tolist() == [generate("attention", 1).spec["seq"],
                                                 generate("attention", 3).spec["seq"], 0, 0]


def _made_by(producers: dict[str, onnx.NodeProto], name: str, *path: int) -> str:
    """The op that wrote tensor `name`, after following the input positions in `path` back ('' for a constant)."""
    for position in path:
        name = producers[name].input[position] if name in producers else ""
    return producers[name].op_type if name in producers else ""


def test_convnext_v2_spans_both_mlp_layouts_and_both_gelu_forms_and_ort_keeps_the_dynamo_form_unfused(tmp_path):
    networks = [generate("convnext_v2", seed) for seed in range(8)]
    axes, forms = set(), set()
    for network in networks:
        nodes = network.model.graph.node
        axes |= {tuple(a.ints) for node in nodes if node.op_type == "ReduceL2" for a in node.attribute if a.name == "axes"}
        producers = {output: node for node in nodes for output in node.output}
        for node in nodes:
            if node.op_type != "Mul":
                continue
            if _made_by(producers, node.input[1]) == "Mul" and _made_by(producers, node.input[1], 1) == "Add":
                forms.add("dynamo")  # x * (0.5 * (1 + erf))
            if _made_by(producers, node.input[0]) == "Mul" and _made_by(producers, node.input[0], 1) == "Add":
                forms.add("fused by ONNX Runtime")  # (x * (1 + erf)) * 0.5
    assert axes == {(1, 2), (2, 3)}  # GRN over space: channels-last MatMul MLPs and NCHW 1x1-conv MLPs
    assert {"dynamo", "fused by ONNX Runtime"} <= forms

    network = next(n for n in networks if any(node.op_type == "Erf" for node in n.model.graph.node))
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(with_random_weights(network.model).SerializeToString(), options,
                         providers=["CPUExecutionProvider"])
    kept_by_ort = sum(node.op_type == "Erf" for node in onnx.load(options.optimized_model_filepath).graph.node)
    kernels = extract_kernels(network.model, ORT_CPU_AVX2, batch_size=1).kernels
    assert kept_by_ort > 0 and sum(kernel.op_type == "Erf" for kernel in kernels) == kept_by_ort
