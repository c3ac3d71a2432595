"""Kernel extraction against ONNX Runtime itself: the rules probed on this machine, then every kernel
of real and generated networks compared with the optimized graph ORT writes for them."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from estimator.measure.backends.ort import OrtBackend
from estimator.measure.fusion_probes import detect_fusion_rules
from estimator.measure.incontext import GraphTiming, RunPolicy, kernel_signature, match_kernels, time_graph
from graph.build import runnable_model
from graph.generate import FAMILIES, MODERN, generate
from graph.kernels import ORT_CPU_AVX2, extract_kernels
from graph.kernels.runtime import read_runtime_graph
from graph.probes import pattern
from tests.paths import FAMILIES as FAMILY_DIR
from tests.paths import ZOO

ZOO_MODELS = ("lenet", "resnet18", "mobilenet_v2", "mobilenet_v3_small", "googlenet", "resnext50_32x4d", "convnext_tiny")
# The op families (training_data/families): every kernel as ORT makes it, the detectors' control flow aside.
FAMILY_MODELS = ("vit_b_16", "swin_t", "transformer_encoder", "lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large",
                 "unet", "resnet18_int8_qdq", "resnet18_int8_qoperator", "mobilenet_v2_int8_qdq", "r3d_18", "lstm", "gru",
                 "ssdlite320_mobilenet_v3_large")
# Faster R-CNN: ORT folds a few shape computations on data-dependent tensors whose static dims it tracks
# per axis (and splits one pair of index Gathers); only such small index and shape ops may differ.
SHAPE_OPS = frozenset({"Shape", "Gather", "Unsqueeze", "Squeeze", "ConstantOfShape", "Mul", "Split"})


@pytest.fixture(scope="module")
def rules():
    return detect_fusion_rules()


def _ort_kernels(source, input_shapes: dict, folder: Path) -> collections.Counter:
    runnable = runnable_model(source, input_shapes)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(folder / "optimized.onnx")
    options.log_severity_level = 3
    ort.InferenceSession(runnable.data, options, providers=["CPUExecutionProvider"])
    return collections.Counter((node.op_type, node.blocked, node.activation, node.has_summand)
                               for node in read_runtime_graph(folder / "optimized.onnx"))


def _our_kernels(kernels) -> collections.Counter:
    blocked_ops = ("Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "ReorderInput", "ReorderOutput",
                   "Upsample")
    return collections.Counter((k.op_type, k.op_type in blocked_ops and (k.layout == "nchwc" or k.op_type.startswith("Reorder")),
                                k.activation, k.has_summand) for k in kernels)


def _compare(source, batch_size: int, rules, tmp_path: Path) -> tuple[collections.Counter, collections.Counter]:
    ours = extract_kernels(source, rules, batch_size=batch_size)
    assert all(node.op_type == "If" for node in ours.unmodeled)  # control flow is listed as unmodeled
    theirs = _ort_kernels(source, dict(ours.input_shapes), tmp_path)
    theirs -= collections.Counter({key: count for key, count in theirs.items() if key[0] == "If"})
    mine = _our_kernels(ours.kernels)
    return mine - theirs, theirs - mine


def _only_extra_transposes(extra: collections.Counter, missing: collections.Counter) -> bool:
    """ORT's transpose optimizer cancels some Transpose pairs across elementwise ops; the rules keep them."""
    return not missing and all(key[0] == "Transpose" for key in extra)


def test_probed_rules_are_the_avx2_preset_on_an_avx2_machine(rules):
    if rules.nchwc_block != 8:
        pytest.skip(f"this machine blocks NCHWc by {rules.nchwc_block}, not by 8 (no AVX2-only CPU)")
    assert rules == ORT_CPU_AVX2


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("seed", [0, 1])
def test_generated_network_kernels_match_onnx_runtime(family, seed, rules, tmp_path):
    extra, missing = _compare(generate(family, seed).model, 2, rules, tmp_path)
    if family in ("convnext", "primitives"):  # channels-last round trips (primitives: across softmax and reductions too)
        assert _only_extra_transposes(extra, missing), (extra, missing)
    else:
        assert not extra and not missing, (extra, missing)


@pytest.mark.parametrize("name", ZOO_MODELS)
def test_zoo_model_kernels_match_onnx_runtime(name, rules, tmp_path):
    extra, missing = _compare(ZOO / f"{name}.onnx", 1, rules, tmp_path)
    if name.startswith("convnext"):
        assert _only_extra_transposes(extra, missing), (extra, missing)
    else:
        assert not extra and not missing, (extra, missing)


@pytest.mark.parametrize("name", FAMILY_MODELS)
def test_family_model_kernels_match_onnx_runtime(name, rules, tmp_path):
    extra, missing = _compare(FAMILY_DIR / f"{name}.onnx", 1, rules, tmp_path)
    assert not extra and not missing, (extra, missing)


def test_faster_rcnn_kernels_match_onnx_runtime_up_to_shape_ops(rules, tmp_path):
    extra, missing = _compare(FAMILY_DIR / "fasterrcnn_mobilenet_v3_large_320_fpn.onnx", 1, rules, tmp_path)
    assert all(key[0] in SHAPE_OPS for key in extra + missing), (extra, missing)
    assert sum(extra.values()) + sum(missing.values()) <= 30, (extra, missing)


# Every kernel must pair with the one ONNX Runtime's profiler times (op and physical shapes), or its runtime
# is lost from the training data: int8 kernels inside their channels-last region, attention MatMuls that
# read their rows untransposed (transBatch), a ReorderInput that reads a channels-last Transpose's input.
PAIRED_MODELS = (FAMILY_DIR / "resnet18_int8_qdq.onnx", FAMILY_DIR / "transformer_encoder.onnx", ZOO / "resnet18.onnx")


def _lost_kernels(source, rules) -> list:
    """Our kernels of `source` (batch 1) that pair with no event of ONNX Runtime's profiler; fails on unpaired events."""
    ours = extract_kernels(source, rules, batch_size=1)
    timing = time_graph(OrtBackend(), runnable_model(source, dict(ours.input_shapes)),
                        RunPolicy(warmup_runs=1, min_runs=2, min_time_s=0.0, max_runs=2))
    paired, unpaired = match_kernels(ours.kernels, timing)
    assert unpaired == 0
    return [kernel_signature(kernel) for kernel, timed in zip(ours.kernels, paired, strict=True) if timed is None]


@pytest.mark.parametrize("path", PAIRED_MODELS, ids=lambda path: path.stem)
def test_profiled_kernels_pair_with_ours_by_op_and_physical_shape(path, rules):
    lost = _lost_kernels(path, rules)
    assert not lost, lost[:5]


@pytest.mark.parametrize("family", MODERN)
def test_modern_family_kernels_pair_with_the_profiler(family, rules):
    """Attention (GQA, biases, linear attention), tokens folded back into a map (the Transpose becomes the Conv's
    channels-last ReorderInput), ghost modules, re-parameterisable branches, YOLO heads with DFL: all paired."""
    lost = _lost_kernels(generate(family, 0).model, rules)
    assert not lost, lost[:5]


def test_a_channels_last_transpose_before_a_conv_is_its_reorder(rules, tmp_path):
    """NHWC input -> Transpose (0, 3, 1, 2) -> Conv: ORT reads the NHWC tensor with one ReorderInput."""
    weight = onnx.numpy_helper.from_array(np.random.default_rng(0).standard_normal((32, 32, 3, 3)).astype(np.float32), "w")
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Transpose", ["x"], ["t"], perm=[0, 3, 1, 2]),
         onnx.helper.make_node("Conv", ["t", "w"], ["y"], pads=[1, 1, 1, 1])],
        "nhwc_conv", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 20, 20, 32])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 32, 20, 20])], [weight])
    path = tmp_path / "nhwc_conv.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), path)
    ours = extract_kernels(path, rules, batch_size=1)
    if rules.nchwc_block == 0:
        pytest.skip("this machine's ONNX Runtime does not block convolutions (no NCHWc)")
    assert [kernel.op_type for kernel in ours.kernels][:2] == ["ReorderInput", "Conv"]
    timing = time_graph(OrtBackend(), runnable_model(path, dict(ours.input_shapes)),
                        RunPolicy(warmup_runs=1, min_runs=2, min_time_s=0.0, max_runs=2))
    paired, unpaired = match_kernels(ours.kernels, timing)
    assert all(timed is not None for timed in paired) and unpaired == 0


@pytest.mark.parametrize("resize", [{"mode": "nearest", "nearest_mode": "floor"}, {"mode": "nearest"},
                                    {"mode": "nearest", "nearest_mode": "round_prefer_ceil"}, {"mode": "linear"}],
                         ids=lambda resize: "-".join(resize.values()))
def test_a_resize_between_convolutions_runs_blocked_only_where_onnx_runtime_blocks_it(resize, rules, tmp_path):
    """A nearest Resize is an NCHWc Upsample only with nearest_mode "floor" (the default rounds to nearest and stays
    an NCHW Resize between reorders); linear ones always: every kernel as ORT makes it and paired with the profiler."""
    weight = onnx.numpy_helper.from_array(np.random.default_rng(0).standard_normal((16, 16, 3, 3)).astype(np.float32), "w")
    scales = onnx.numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
         onnx.helper.make_node("Resize", ["c", "", "scales"], ["r"], coordinate_transformation_mode="asymmetric", **resize),
         onnx.helper.make_node("Conv", ["r", "w"], ["y"], pads=[1, 1, 1, 1])],
        "resize", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 16, 8, 8])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 16, 16, 16])], [weight, scales])
    path = tmp_path / "resize.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), path)
    if rules.nchwc_block == 0:
        pytest.skip("this machine's ONNX Runtime does not block convolutions (no NCHWc)")
    extra, missing = _compare(path, 1, rules, tmp_path)
    assert not extra and not missing, (extra, missing)
    assert not _lost_kernels(path, rules)


def test_convnext_loses_only_the_kernels_ort_moves_its_transposes_past(rules):
    """ORT's transpose optimizer runs each block's layer-scale Mul (and the first stage's residual Add) channels
    last; the rules keep them channels first with a Transpose: only those kernels go unpaired."""
    path = ZOO / "convnext_tiny.onnx"
    ours = extract_kernels(path, rules, batch_size=1)
    timing = time_graph(OrtBackend(), runnable_model(path, dict(ours.input_shapes)),
                        RunPolicy(warmup_runs=1, min_runs=2, min_time_s=0.0, max_runs=2))
    paired, _ = match_kernels(ours.kernels, timing)
    lost = {kernel.op_type for kernel, timed in zip(ours.kernels, paired, strict=True) if timed is None}
    assert lost <= {"Mul", "Add", "Transpose", "ReorderInput"}, lost


def test_a_scale_folded_from_shapes_fuses_into_the_matmul(rules, tmp_path):
    """q / sqrt(q.shape[-1]) @ k, the scale computed from the shape (as timm exports it): one FusedMatMul."""
    make = onnx.helper.make_node
    graph = onnx.helper.make_graph(
        [make("Shape", ["q"], ["shape"]), make("Gather", ["shape", "last"], ["d"], axis=0),
         make("Cast", ["d"], ["d_float"], to=onnx.TensorProto.FLOAT), make("Sqrt", ["d_float"], ["scale"]),
         make("Div", ["q", "scale"], ["scaled"]), make("MatMul", ["scaled", "k"], ["scores"])],
        "scaled_scores",
        [onnx.helper.make_tensor_value_info("q", onnx.TensorProto.FLOAT, [1, 4, 16, 8]),
         onnx.helper.make_tensor_value_info("k", onnx.TensorProto.FLOAT, [1, 4, 8, 16])],
        [onnx.helper.make_tensor_value_info("scores", onnx.TensorProto.FLOAT, [1, 4, 16, 16])],
        [onnx.numpy_helper.from_array(np.array(3, dtype=np.int64), "last")])
    path = tmp_path / "scaled_scores.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), path)
    ours = extract_kernels(path, rules, batch_size=1)
    assert [kernel.op_type for kernel in ours.kernels] == ["FusedMatMul"]
    timing = time_graph(OrtBackend(), runnable_model(path, dict(ours.input_shapes)),
                        RunPolicy(warmup_runs=1, min_runs=2, min_time_s=0.0, max_runs=2))
    paired, unpaired = match_kernels(ours.kernels, timing)
    assert all(timed is not None for timed in paired) and unpaired == 0


@pytest.mark.parametrize(("kind", "fused"), [("fast_gelu", "FastGelu"), ("rms_norm", "SimplifiedLayerNormalization"),
                                             ("gelu", "Gelu")])
def test_activation_and_norm_patterns_run_as_one_kernel_as_in_onnx_runtime(kind, fused, rules, tmp_path):
    """GPT-2's tanh GELU, LLaMA/T5's RMSNorm and the erf GELU as exporters write them: one kernel each, paired
    with the one ONNX Runtime's profiler times."""
    path = tmp_path / f"{kind}.onnx"
    path.write_bytes(pattern(kind))
    ours = extract_kernels(path, rules)
    assert fused in [kernel.op_type for kernel in ours.kernels]
    timing = time_graph(OrtBackend(), runnable_model(path, dict(ours.input_shapes)),
                        RunPolicy(warmup_runs=1, min_runs=2, min_time_s=0.0, max_runs=2))
    paired, unpaired = match_kernels(ours.kernels, timing)
    assert all(timed is not None for timed in paired) and unpaired == 0


def test_a_mean_of_squares_over_a_scalar_is_no_rms_norm(rules, tmp_path):
    """A degenerate RMSNorm chain on a scalar input: nothing to fuse, and no error."""
    make = onnx.helper.make_node
    constants = [onnx.numpy_helper.from_array(np.array(value, dtype=np.float32), name)
                 for name, value in (("two", 2.0), ("eps", 1e-6), ("w", 1.0))]
    graph = onnx.helper.make_graph(
        [make("Pow", ["x", "two"], ["sq"]), make("ReduceMean", ["sq"], ["ms"], keepdims=1),
         make("Add", ["ms", "eps"], ["v"]), make("Sqrt", ["v"], ["r"]), make("Div", ["x", "r"], ["n"]),
         make("Mul", ["n", "w"], ["y"])],
        "scalar_rms", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [])], constants)
    path = tmp_path / "scalar_rms.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), path)
    kernels = extract_kernels(path, rules)
    assert "SimplifiedLayerNormalization" not in [kernel.op_type for kernel in kernels.kernels]


def test_sibling_kernels_of_one_signature_pair_by_name_whatever_order_the_runtime_runs_them(rules, tmp_path):
    """A detector head's box and class convolutions at one level share a signature; ONNX Runtime may run them in
    the other order than the model lists them. Paired in order they swapped timings; by name each gets its own."""
    make = onnx.helper.make_node
    rng = np.random.default_rng(0)
    weights = [onnx.numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)
               for name, shape in (("w_box", (32, 32, 3, 3)), ("w_cls", (32, 32, 1, 1)))]
    graph = onnx.helper.make_graph(
        [make("Conv", ["x", "w_box"], ["/head/box/Conv_output_0"], name="/head/box/Conv", pads=[1, 1, 1, 1]),
         make("Conv", ["x", "w_cls"], ["/head/cls/Conv_output_0"], name="/head/cls/Conv")],
        "two_heads", [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 32, 16, 16])],
        [onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [1, 32, 16, 16])
         for name in ("/head/box/Conv_output_0", "/head/cls/Conv_output_0")], weights)
    path = tmp_path / "two_heads.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]), path)
    ours = extract_kernels(path, rules, batch_size=1)
    convs = [kernel for kernel in ours.kernels if kernel.sources]
    assert len(convs) == 2 and kernel_signature(convs[0]) == kernel_signature(convs[1])
    timing = time_graph(OrtBackend(), runnable_model(path, dict(ours.input_shapes)),
                        RunPolicy(warmup_runs=1, min_runs=2, min_time_s=0.0, max_runs=2))
    for kernels in (timing.kernels, tuple(reversed(timing.kernels))):  # as run, and as if run the other way round
        paired, unpaired = match_kernels(ours.kernels, GraphTiming(**{**timing.__dict__, "kernels": kernels}))
        assert unpaired == 0
        for kernel in convs:
            timed = paired[ours.kernels.index(kernel)]
            assert timed is not None and timed.node_name.startswith(kernel.sources[0]), (kernel.name, timed.node_name)
