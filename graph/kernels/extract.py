"""Model -> ModelKernels: the kernels a runtime with the given fusion rules executes."""

from __future__ import annotations

import heapq

import onnx

from graph.collector import collector_paused
from graph.context import GraphContext, dtype_name_and_bytes
from graph.inputs import fix_input_shapes
from graph.kernels.fusion import apply_fusions
from graph.kernels.nchwc import apply_nchwc
from graph.kernels.quantized import apply_int8_nhwc, fuse_qdq
from graph.kernels.records import Kernel, ModelKernels
from graph.kernels.rules import FusionRules
from graph.kernels.working import WorkingGraph, WorkingNode
from graph.loading import ModelSource, default_opset, load_model
from graph.ops import handle_node, unmodeled_reason
from graph.ops.qdq import QdqGroup, absorbed_by_groups, qdq_groups, quantized_record
from graph.records import ConvLayer, Layer, OtherLayer, UnmodeledNode
from graph.views import present, text

__all__ = ["extract_kernels"]

_RECORD_OPS = {  # kernel op -> the model ops whose own record describes it
    "Conv": ("Conv",), "FusedConv": ("Conv",), "MaxPool": ("MaxPool",), "AveragePool": ("AveragePool",),
    "GlobalAveragePool": ("GlobalAveragePool",), "GlobalMaxPool": ("GlobalMaxPool",),
    "Gemm": ("Gemm", "MatMul"), "FusedGemm": ("Gemm",), "MatMul": ("MatMul",),
    "ReduceMean": ("ReduceMean",), "ReduceMax": ("ReduceMax",),
    "QLinearConv": ("QLinearConv", "Conv"), "QGemm": ("QGemm", "Gemm"), "QLinearMatMul": ("QLinearMatMul", "MatMul"),
    "QLinearGlobalAveragePool": ("QLinearGlobalAveragePool", "GlobalAveragePool"),
    "QLinearAveragePool": ("QLinearAveragePool", "AveragePool"), "NhwcMaxPool": ("MaxPool",),
    "FusedMatMul": ("MatMul",),
}
# Kernels that are their model node unchanged and whose handler builds a richer record than the tensors alone.
_OWN_RECORD = frozenset({"ConvTranspose", "ConvInteger", "MatMulInteger", "Einsum", "LSTM", "GRU", "RNN"})


@collector_paused()
def extract_kernels(
    model: ModelSource,
    rules: FusionRules,
    batch_size: int | None = None,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    dimensions: dict[str, int] | None = None,
) -> ModelKernels:
    """Read a model and return the kernels that a runtime applying `rules` would run (sizes as in extract_layers)."""
    loaded = load_model(model)
    shaped = fix_input_shapes(loaded, batch_size, input_shapes, dimensions)
    label = loaded.label
    del loaded  # the shaped copy is all that is read from here on: a large graph's nodes are not kept twice
    opset = default_opset(shaped.model) or 0
    ctx = GraphContext.from_shaped(shaped, label, opset)
    graph = WorkingGraph(ctx, set(present(text(output.name) for output in shaped.model.graph.output)))
    groups = qdq_groups(ctx) if rules.qdq_fusion else {}
    if groups:
        fuse_qdq(graph, groups, absorbed_by_groups(ctx, groups))
    apply_fusions(graph, rules)
    apply_nchwc(graph, rules)
    if rules.int8_nhwc:
        apply_int8_nhwc(graph)
    _expand(graph, rules)
    kernels: list[Kernel] = []
    unmodeled: list[UnmodeledNode] = []
    data_dependent: list[str] = []
    for position, node in _execution_order(graph.nodes):
        record = _record(graph, node, position, groups)
        if isinstance(record, UnmodeledNode):
            unmodeled.append(record)
            continue
        kernels.append(_kernel(graph, node, record, rules))
        if ctx.data_dependent and any(name in ctx.data_dependent for name in present([*node.inputs, *node.outputs])):
            data_dependent.append(kernels[-1].name)
    graph.close()
    return ModelKernels(
        source=label,
        rules=rules.name,
        kernels=tuple(kernels),
        free=tuple((view.name, view.op_type) for view in graph.free),
        unmodeled=tuple(unmodeled),
        input_shapes=tuple(shaped.input_shapes.items()),
        batch_size=shaped.batch_size,
        batch_size_assumed=shaped.batch_size_assumed,
        opset=opset,
        node_count=len(ctx.nodes),
        data_dependent=tuple(data_dependent),
    )


def _execution_order(nodes: list[WorkingNode]) -> list[tuple[int, WorkingNode]]:
    """(position, node) in an order the runtime can run them: as listed, but a node after every node producing what it
    reads, its fused summand included.

    Fusing an Add into the first of two sibling convolutions (RepVGG: Add(Conv3x3(x), Conv1x1(x)), NCHWc) makes the
    first read the second's output, so ONNX Runtime, which sorts its graph after fusing, runs the second first. The
    profiled kernels are paired with ours in order within a signature (estimator.measure.incontext.match_kernels): listed
    as the model had them, two sibling convolutions of one shape swapped timings (a 3x3 timed at 8x the machine's
    peak, the 1x1 beside it at a tenth of it)."""
    if _in_order(nodes):  # nearly always (one cheap pass: a graph of 200,000 nodes is read in a tenth of a second)
        return list(enumerate(nodes))
    producer = {tensor: place for place, node in enumerate(nodes) for tensor in node.outputs if tensor}
    waits_on: list[set[int]] = []
    for place, node in enumerate(nodes):
        reads = [*node.inputs, node.summand]
        waits_on.append({producer[t] for t in reads if t and t in producer and producer[t] != place})
    readers: dict[int, list[int]] = {}
    for place, before in enumerate(waits_on):
        for p in before:
            readers.setdefault(p, []).append(place)
    left = [len(before) for before in waits_on]
    ready = [place for place, count in enumerate(left) if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        place = heapq.heappop(ready)
        order.append(place)
        for reader in readers.get(place, ()):
            left[reader] -= 1
            if left[reader] == 0:
                heapq.heappush(ready, reader)
    if len(order) < len(nodes):  # a cycle (not a valid graph): keep the listed order
        return list(enumerate(nodes))
    return [(place, nodes[place]) for place in order]


def _in_order(nodes: list[WorkingNode]) -> bool:
    """Whether no node reads (as an input or its fused summand) a tensor that it or a later node writes."""
    pending = {tensor for node in nodes for tensor in node.outputs if tensor}
    for node in nodes:
        if node.summand in pending or not pending.isdisjoint(node.inputs):
            return False
        pending.difference_update(node.outputs)
    return True


def _expand(graph: WorkingGraph, rules: FusionRules) -> None:
    """Function ops nothing absorbed run as their body: HardSwish = x * HardSigmoid(x)."""
    expanded: list[WorkingNode] = []
    for node in graph.nodes:
        if node.op_type == "HardSwish" and "HardSwish" in rules.expanded_ops and node.input(0) and node.output(0):
            gate = f"{node.output(0)}/hard_sigmoid"
            graph.shapes[gate] = graph.shapes.get(node.output(0))
            sigmoid = WorkingNode("HardSigmoid", [node.input(0)], [gate], {"alpha": 1 / 6, "beta": 0.5},
                                  origin=node.origin, sources=list(node.sources))
            multiply = WorkingNode("Mul", [node.input(0), gate], list(node.outputs))
            sigmoid.layout = multiply.layout = node.layout
            sigmoid.input_layout = multiply.input_layout = node.input_layout
            expanded += [sigmoid, multiply]
        else:
            expanded.append(node)
    graph.nodes = expanded


def _record(graph: WorkingGraph, node: WorkingNode, position: int, groups: dict[int, QdqGroup]) -> Layer | UnmodeledNode:
    """The layer record of a kernel: its model node's own record when it has one, else built from its tensors."""
    origin = node.origin
    if origin is not None and (origin.op_type in _RECORD_OPS.get(node.op_type, ()) or (origin.op_type == node.op_type
                               and origin.op_type in _OWN_RECORD)):
        record = handle_node(graph.ctx, origin)
        return quantized_record(record, groups[origin.index]) if origin.index in groups else record
    if origin is not None and origin.op_type == "BatchNormalization" and node.op_type == "Conv":
        return _batch_norm_as_conv(graph, node, origin.name, origin.index)
    if origin is not None:
        reason = unmodeled_reason(graph.ctx, origin)
        if reason is not None:
            return reason
    return _other_record(graph, node, position)


def _batch_norm_as_conv(graph: WorkingGraph, node: WorkingNode, name: str, index: int) -> ConvLayer | OtherLayer:
    shape = graph.shapes.get(node.input(0))
    if shape is None or len(shape) != 4:
        return _other_record(graph, node, index)
    batch, channels, height, width = shape
    dtype, dtype_bytes = dtype_name_and_bytes(graph.ctx.elem_type(node.input(0)))
    return ConvLayer(name=name, op_type="BatchNormalization", index=index, dtype=dtype, batch_size=batch,
                     input_chw=(channels, height, width), output_chw=(channels, height, width), kernel=(1, 1),
                     pads=(0, 0, 0, 0), stride=(1, 1), dilation=(1, 1), groups=channels, has_bias=True,
                     dtype_bytes=dtype_bytes)


def _other_record(graph: WorkingGraph, node: WorkingNode, position: int) -> OtherLayer:
    ctx = graph.ctx
    shapes, elem_types, constants = graph.shapes, ctx.elem_types, ctx.constants
    inputs = present(node.inputs)
    outputs = present(node.outputs)
    input_types = [elem_types.get(name, onnx.TensorProto.UNDEFINED) for name in inputs]
    elem_type = input_types[0] if inputs else onnx.TensorProto.FLOAT
    if elem_type == onnx.TensorProto.UNDEFINED:
        elem_type = onnx.TensorProto.FLOAT
    dtype, dtype_bytes = dtype_name_and_bytes(elem_type)
    constant_inputs = []
    for slot, name in enumerate(inputs):
        values = ctx.constant_values(name) if name in constants else None
        if values is not None:
            constant_inputs.append((slot, tuple(values.reshape(-1).astype(float).tolist())))
    attributes = tuple([(key, value) for key, value in sorted(node.attributes.items())
                        if isinstance(value, (int, float, str, tuple)) and not isinstance(value, bool)]) \
        if node.attributes else ()
    batch = shapes.get(outputs[0]) if outputs else None
    origin = node.origin
    return OtherLayer(
        name=node.name if origin is not None else f"{node.op_type}({_short(inputs[0] if inputs else '')})",
        op_type=node.op_type,
        index=origin.index if origin is not None else -1 - position,
        dtype=dtype,
        batch_size=batch[0] if batch else ctx.batch_size,
        input_shapes=tuple([shapes.get(name) for name in inputs]),
        input_dtypes=tuple([dtype_name_and_bytes(input_type)[0] for input_type in input_types]),
        output_shapes=tuple([shapes.get(name) or () for name in outputs]),
        attributes=attributes,
        constant_inputs=tuple(constant_inputs),
        is_free=False,
        dtype_bytes=dtype_bytes,
        producer_op="",
    )


def _short(tensor: str) -> str:
    return tensor if len(tensor) <= 60 else "..." + tensor[-57:]


def _kernel(graph: WorkingGraph, node: WorkingNode, layer: Layer, rules: FusionRules) -> Kernel:
    first_input, first_output = next(filter(None, node.inputs), ""), next(filter(None, node.outputs), "")
    return Kernel(
        layer=layer,
        op_type=node.op_type,
        layout=node.layout,
        input_layout=node.input_layout,
        activation=node.activation,
        has_summand=bool(node.summand),
        input_shape=_physical(graph.shapes.get(first_input) if first_input else None, node.input_layout, rules),
        output_shape=_physical(graph.shapes.get(first_output) if first_output else None, node.layout, rules),
        sources=tuple(node.sources),
    )


def _physical(shape, layout: str, rules: FusionRules):
    if shape is None or layout != "nchwc" or len(shape) != 4 or not rules.nchwc_block:
        return shape
    block = rules.nchwc_block
    return (shape[0], -(-shape[1] // block) * block, shape[2], shape[3])

