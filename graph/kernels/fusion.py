"""Level 1 and 2 rewrites (ONNX Runtime's names): elimination, constant folding, fusions that keep NCHW."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

from graph.kernels.patterns import fuse_fast_gelu, fuse_gelu, fuse_quick_gelu, fuse_rms_norm
from graph.kernels.rules import FusionRules
from graph.kernels.transformer import (
    fuse_gathers_to_split,
    fuse_matmul_scale,
    fuse_matmul_transpose,
    fuse_reshape_chains,
    push_transposes_through_gathers,
)
from graph.kernels.working import WorkingGraph, WorkingNode
from graph.views import present

__all__ = ["apply_fusions", "conv_nchwc_eligible"]


def apply_fusions(graph: WorkingGraph, rules: FusionRules) -> None:
    """Every rewrite before the layout pass, in the order the runtime applies them."""
    _eliminate(graph, rules)
    if rules.common_subexpression_elimination:
        _common_subexpressions(graph)
    if rules.conv_absorbs_constant_ops:
        _conv_absorbs_constant_ops(graph)
    if rules.matmul_add_to_gemm:
        _matmul_add_to_gemm(graph)
    if rules.gelu_fusion:
        fuse_gelu(graph)
    if rules.quick_gelu_fusion:
        fuse_quick_gelu(graph)
    if rules.fast_gelu_fusion:
        fuse_fast_gelu(graph)
    if rules.rms_norm_fusion:
        fuse_rms_norm(graph)
    if rules.conv_add_activation:
        _conv_add_activation(graph, rules)
    _activations(graph, ("Conv",), "FusedConv", rules.conv_activations)
    _activations(graph, ("Gemm",), "FusedGemm", rules.gemm_activations)
    if rules.skip_layernorm_fusion:
        _skip_layernorm(graph)
    if rules.slice_to_split_fusion:
        _slices_to_split(graph)
    if rules.transpose_optimizer:
        push_transposes_through_gathers(graph)
    if rules.gather_to_split_fusion:
        fuse_gathers_to_split(graph)
    if rules.matmul_scale_fusion:
        fuse_matmul_scale(graph)
    if rules.matmul_transpose_fusion:
        fuse_matmul_transpose(graph)
    if rules.reshape_fusion:
        fuse_reshape_chains(graph)


def conv_nchwc_eligible(graph: WorkingGraph, node: WorkingNode, rules: FusionRules) -> bool | None:
    """Whether a Conv can run in NCHWc: True (input reordered), False (reads NCHW directly), None (no)."""
    block = rules.nchwc_block
    weight = graph.shapes.get(node.input(1))
    if not block or weight is None or len(weight) != 4 or not graph.is_constant(node.input(1)):
        return None
    out_channels, group_channels = weight[0], weight[1]
    groups = int(node.attributes.get("group", 1) or 1)
    if groups > 1:
        if group_channels == 1 and out_channels == groups:  # depthwise
            return True if out_channels % rules.nchwc_channel_multiple == 0 else None
        if out_channels % block or group_channels % block or (out_channels // groups) % block:
            return None
        return True
    if group_channels < block:
        return False
    return True if group_channels % rules.nchwc_channel_multiple == 0 else None


# -- level 1 ------------------------------------------------------------------------------------


def _eliminate(graph: WorkingGraph, rules: FusionRules) -> None:
    """Pass-through ops vanish and nodes whose inputs are all constant are folded, in one topological walk:
    a reader of a vanished node's output reads its input instead (renames are resolved as the walk meets
    each reader, so the walk costs one visit per node however many nodes vanish)."""
    renamed: dict[str, str] = {}
    kept: list[WorkingNode] = []
    graph_outputs, constants = graph.graph_outputs, graph.constants
    for node in graph.nodes:
        inputs = node.inputs
        if renamed and not renamed.keys().isdisjoint(inputs):
            node.inputs = inputs = [renamed.get(name, name) for name in inputs]
        outputs = node.outputs
        if not graph_outputs.isdisjoint(outputs):
            kept.append(node)
            continue
        op_type = node.op_type
        source = _noop_source(graph, node) if rules.noop_elimination and op_type in _NOOP_OPS else None
        if source is None and op_type in rules.eliminated_ops and inputs:
            source = node.input(0)
        if source is not None:
            if source and node.output(0):  # ('' is never renamed: it would hand an omitted input a tensor)
                renamed[node.output(0)] = source
        elif rules.fold_constants and _foldable(graph, node, rules):
            constants.update(present(outputs))
        else:
            kept.append(node)
            continue
        node.removed = True
        if node.origin is not None:
            graph.free.append(node.origin)
    graph.nodes = kept


_NOOP_OPS = frozenset({"Cast", "Add", "Sub", "Mul", "Div"})  # the ops _noop_source can find passing their input on


def _noop_source(graph: WorkingGraph, node: WorkingNode) -> str | None:
    """The input a no-op passes on: Cast to the type it has; Add/Sub of 0 or Mul/Div by 1 that broadcasts nothing."""
    if node.op_type == "Cast":
        same = node.input(0) and node.attributes.get("to") == graph.ctx.elem_type(node.input(0)) != 0
        return node.input(0) if same else None
    if node.op_type not in ("Add", "Sub", "Mul", "Div") or len(present(node.inputs)) != 2:
        return None
    data, constant = node.inputs
    if graph.is_constant(data) and node.op_type in ("Add", "Mul"):
        data, constant = constant, data
    values = graph.constant_values(constant) if graph.is_constant(constant) else None
    if values is None or graph.is_constant(data) or graph.shapes.get(node.outputs[0]) != graph.shapes.get(data):
        return None
    neutral = 0.0 if node.op_type in ("Add", "Sub") else 1.0
    return data if bool((values == neutral).all()) else None


def _foldable(graph: WorkingGraph, node: WorkingNode, rules: FusionRules) -> bool:
    if node.op_type == "Shape":  # the runtime knows every shape here, but not sizes set by data
        return graph.shapes.get(node.input(0)) is not None and node.input(0) not in graph.ctx.data_dependent
    inputs, constants = node.inputs, graph.constants
    if (inputs and inputs[0] and inputs[0] not in constants) or not any(inputs) \
            or not all(name in constants for name in inputs if name):
        return False  # (most nodes: a first input that is not constant, tested first)
    return not (node.op_type == "DequantizeLinear" and rules.qdq_fusion)  # kept for the QDQ selectors, as the
    # runtime's constant folding keeps it


_NONDETERMINISTIC = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
                               "Bernoulli", "Dropout"})


def _common_subexpressions(graph: WorkingGraph) -> None:
    """Nodes with the same op, inputs and attributes compute the same tensors: the runtime keeps the first."""
    # (op, inputs, output count) -> the first nodes of each set of attributes: the attributes are compared only
    # among nodes that read the same tensors with the same op (few: writing their key for every node was most of
    # the pass)
    seen: dict[tuple, list[WorkingNode]] = {}
    renamed: dict[str, str] = {}
    for node in list(graph.nodes):
        if renamed and any(name in renamed for name in node.inputs):
            node.inputs = [renamed.get(name, name) for name in node.inputs]
        if node.op_type in _NONDETERMINISTIC or node.op_type in ("If", "Loop", "Scan") or not node.inputs:
            continue
        if any(name in graph.graph_outputs for name in node.outputs):
            continue
        key = (node.op_type, tuple(node.inputs), len(node.outputs))
        alike = seen.get(key)
        if alike is None:
            seen[key] = [node]
            continue
        attributes = _attributes_text(node)
        first = next((other for other in alike if _attributes_text(other) == attributes), None)
        if first is None:
            alike.append(node)
            continue
        if any(old and not new for old, new in zip(node.outputs, first.outputs, strict=True)):
            continue  # it writes a tensor that the first one omits: both stay
        renamed.update((old, new) for old, new in zip(node.outputs, first.outputs, strict=True) if old)
        first.sources.extend(node.sources)
        graph.remove(node)


def _attributes_text(node: WorkingNode) -> str:
    """The node's attributes as one comparable text (equal text: equal attributes)."""
    return repr(sorted(node.attributes.items())) if node.attributes else ""


def _conv_absorbs_constant_ops(graph: WorkingGraph) -> None:
    """Conv followed by BatchNormalization, or by an Add/Mul of a per-channel constant, is one Conv."""
    consumers = graph.consumers()
    for node in list(graph.nodes):
        while node.op_type == "Conv" and not node.removed:
            follower = graph.sole_consumer(consumers, node.output(0))
            if follower is None or not _per_channel_constant_op(graph, node, follower):
                break
            node.absorb(follower)
            graph.remove(follower)
            consumers = graph.consumers()


def _per_channel_constant_op(graph: WorkingGraph, conv: WorkingNode, follower: WorkingNode) -> bool:
    if follower.op_type == "BatchNormalization":
        return len([o for o in follower.outputs if o]) == 1 and all(graph.is_constant(n) for n in follower.inputs[1:5])
    if follower.op_type not in ("Add", "Mul") or len(present(follower.inputs)) != 2:
        return False
    other = [name for name in follower.inputs if name != conv.output(0)]
    if len(other) != 1 or not graph.is_constant(other[0]):
        return False
    shape, output = graph.shapes.get(other[0]), graph.shapes.get(conv.output(0))
    if shape is None or output is None or len(output) < 2:
        return False
    return math.prod(shape) in (1, output[1]) and (len(shape) < 2 or shape[-1] == 1)


# -- level 2 ------------------------------------------------------------------------------------


def _matmul_add_to_gemm(graph: WorkingGraph) -> None:
    """MatMul by a constant 2-D weight + Add of its bias -> Gemm (between Reshapes when the input is not 2-D).

    A fusion changes only its MatMul, its Add and the Reshapes around them, none of which decides another MatMul's
    fusion: all are found on one consumer map and the node list is rebuilt once (patching the maps after each
    fusion was most of the pass on a transformer)."""
    consumers = graph.consumers()
    around: dict[WorkingNode, tuple[WorkingNode, WorkingNode]] = {}  # Gemm -> the Reshapes before and after it
    fused = False
    for node in graph.nodes:
        weight = graph.shapes.get(node.input(1)) if node.op_type == "MatMul" else None
        data = graph.shapes.get(node.input(0)) if weight is not None else None
        if weight is None or data is None or len(weight) != 2 or not graph.is_constant(node.input(1)):
            continue
        add = graph.sole_consumer(consumers, node.output(0))
        if add is None or add.op_type != "Add" or len(present(add.inputs)) != 2:
            continue
        bias = [name for name in add.inputs if name != node.output(0)]
        if len(bias) != 1 or not graph.is_constant(bias[0]) or graph.shapes.get(bias[0]) != (weight[1],):
            continue
        node.op_type = "Gemm"
        node.inputs = [node.inputs[0], node.inputs[1], bias[0]]
        node.absorb(add)
        add.removed = True  # (leaves the list below)
        fused = True
        if len(data) != 2:
            around[node] = _reshapes_around(graph, node, (math.prod(data[:-1]), data[-1]),
                                            (math.prod(data[:-1]), weight[1]))
    if fused:
        graph.nodes = [kept for node in graph.nodes if not node.removed
                       for kept in ((around[node][0], node, around[node][1]) if node in around else (node,))]


def _reshapes_around(graph: WorkingGraph, gemm: WorkingNode, input_2d, output_2d) -> tuple[WorkingNode, WorkingNode]:
    """The Reshapes to 2-D before `gemm` and back after it (gemm now reads and writes the 2-D tensors)."""
    flat_in, flat_out = f"{gemm.name}/gemm_input", f"{gemm.name}/gemm_output"
    graph.shapes[flat_in], graph.shapes[flat_out] = tuple(input_2d), tuple(output_2d)
    before = WorkingNode("Reshape", [gemm.inputs[0]], [flat_in])
    after = WorkingNode("Reshape", [flat_out], list(gemm.outputs))
    gemm.inputs[0], gemm.outputs = flat_in, [flat_out]
    return before, after


def _conv_add_activation(graph: WorkingGraph, rules: FusionRules) -> None:
    """A Conv that stays NCHW + Add of another activation (+ Relu) -> FusedConv with a summand."""
    consumers = graph.consumers()
    for conv in list(graph.nodes):
        if conv.op_type != "Conv" or conv_nchwc_eligible(graph, conv, rules) is not None:
            continue
        weight = graph.shapes.get(conv.input(1))
        if weight is not None and len(weight) == 5 and not rules.conv_add_activation_3d:
            continue
        add = graph.sole_consumer(consumers, conv.output(0))
        if add is None or add.op_type != "Add" or len(present(add.inputs)) != 2:
            continue
        other = [name for name in add.inputs if name != conv.output(0)]
        if len(other) != 1 or graph.is_constant(other[0]) or graph.shapes.get(other[0]) != graph.shapes.get(conv.output(0)):
            continue
        conv.op_type, conv.summand = "FusedConv", other[0]
        conv.inputs = [*conv.inputs, *[""] * (3 - len(conv.inputs)), other[0]]
        conv.absorb(add)
        graph.remove(add)
        relu = graph.sole_consumer(graph.consumers(), conv.output(0))
        if relu is not None and relu.op_type == "Relu":
            conv.activation = "Relu"
            conv.absorb(relu)
            graph.remove(relu)
        consumers = graph.consumers()


def _activations(graph: WorkingGraph, ops: tuple[str, ...], fused_op: str, activations: tuple[str, ...]) -> None:
    """Conv/Gemm + an activation it alone feeds -> one fused kernel (Clip only with constant bounds)."""
    if not activations:
        return
    consumers = graph.consumers()
    for node in list(graph.nodes):
        if node.op_type not in ops or node.activation:
            continue
        follower = graph.sole_consumer(consumers, node.output(0))
        if follower is None or follower.op_type not in activations:
            continue
        if follower.op_type == "Clip" and not all(graph.is_constant(n) for n in follower.inputs[1:] if n):
            continue
        node.op_type, node.activation = fused_op, follower.op_type
        node.absorb(follower)
        graph.remove(follower)
        consumers = graph.consumers()


def _skip_layernorm(graph: WorkingGraph) -> None:
    """Add of two (1, S, H) tensors (one may be constant: BERT's position embeddings) feeding only a
    LayerNormalization -> SkipLayerNormalization."""
    consumers = graph.consumers()
    for add in [node for node in graph.nodes if node.op_type == "Add" and len(present(node.inputs)) == 2]:
        shape = graph.shapes.get(add.inputs[0])
        if shape is None or len(shape) != 3 or graph.shapes.get(add.inputs[1]) != shape:
            continue
        if all(graph.is_constant(name) for name in add.inputs):
            continue
        norm = graph.sole_consumer(consumers, add.output(0))
        if norm is None or norm.op_type != "LayerNormalization" or norm.input(0) != add.output(0):
            continue
        norm.op_type = "SkipLayerNormalization"
        norm.inputs = [*add.inputs, *norm.inputs[1:]]
        norm.sources = [*add.sources, *norm.sources]
        graph.remove(add)
        consumers = graph.consumers()


def _slices_to_split(graph: WorkingGraph) -> None:
    """Slices with constant bounds that tile one axis of one tensor -> one Split."""
    by_input: dict[str, list[WorkingNode]] = defaultdict(list)
    for node in graph.nodes:
        if node.op_type == "Slice" and len(node.inputs) >= 4 and node.input(0) and node.output(0):
            by_input[node.inputs[0]].append(node)
    for tensor, slices in by_input.items():
        shape = graph.shapes.get(tensor)
        spans = [_slice_span(graph, node, shape) for node in slices] if shape is not None and len(slices) > 1 else []
        if not spans or any(span is None for span in spans) or len({span[0] for span in spans}) != 1:
            continue
        spans.sort(key=lambda span: span[1])
        axis = spans[0][0]
        if spans[0][1] != 0 or spans[-1][2] != shape[axis] or any(a[2] != b[1] for a, b in itertools.pairwise(spans)):
            continue
        nodes = [span[3] for span in spans]
        first = min(graph.nodes.index(node) for node in nodes)
        split = WorkingNode("Split", [tensor], [node.outputs[0] for node in nodes], {"axis": axis},
                            origin=nodes[0].origin, sources=[s for node in nodes for s in node.sources])
        for node in nodes:
            graph.remove(node)
        graph.nodes.insert(first, split)


def _slice_span(graph: WorkingGraph, node: WorkingNode, shape) -> tuple[int, int, int, WorkingNode] | None:
    values = [graph.constant_values(name) for name in node.inputs[1:4]]
    if any(v is None or v.size != 1 for v in values):
        return None
    if len(node.inputs) > 4 and node.inputs[4]:
        steps = graph.constant_values(node.inputs[4])
        if steps is None or steps.size != 1 or int(steps.reshape(-1)[0]) != 1:
            return None
    start, end, axis = (int(v.reshape(-1)[0]) for v in values)
    axis %= len(shape)
    size = shape[axis]
    start = min(max(start + size if start < 0 else start, 0), size)
    end = min(max(end + size if end < 0 else end, 0), size)
    return axis, start, end, node
