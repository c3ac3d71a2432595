"""int8 kernels: QDQ groups fused into quantized ops, and the channels-last layout ONNX Runtime gives them.

`fuse_qdq`: each DequantizeLinear -> op -> QuantizeLinear group (graph/ops/qdq.py) becomes the int8
kernel the runtime's QDQ selectors make of it (Conv -> QLinearConv, Add -> QLinearAdd, ...); ops
that only move int8 data (MaxPool, Flatten, ...) lose their DQ and Q. After it a QDQ model holds the
same kernels as its QOperator twin.

`apply_int8_nhwc` (ONNX Runtime's NhwcTransformer and transpose optimizer): QLinearConv runs
channels last; the int8 ops after it that can (QLinearAdd, MaxPool as NhwcMaxPool, QLinear pools)
follow, and a Transpose converts at each border of that region, once per tensor. A tensor inside the
region holds its channels-last shape (N, H, W, C), as the runtime holds and its profiler reports it.
"""

from __future__ import annotations

from graph.kernels.working import WorkingGraph, WorkingNode
from graph.ops.qdq import QdqGroup
from graph.views import present

__all__ = ["apply_int8_nhwc", "fuse_qdq"]

_CHANNELS_LAST_POOLS = ("QLinearGlobalAveragePool", "QLinearAveragePool")
_ELEMENTWISE = ("QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearLeakyRelu")
_TO_NHWC, _TO_NCHW = (0, 2, 3, 1), (0, 3, 1, 2)


def fuse_qdq(graph: WorkingGraph, groups: dict[int, QdqGroup], absorbed: set[int]) -> None:
    """Rewrite every QDQ group as its int8 kernel; `absorbed` are the Q/DQ node indices that disappear.

    The kernel takes the QOperator form's inputs (each data input with its scale and zero point, then
    the output's) and writes the Q node's output, so every tensor keeps its int8 element type.
    """
    by_origin = {node.origin.index: node for node in graph.nodes if node.origin is not None}
    for index, group in groups.items():
        core = by_origin[index]
        quantize = by_origin[group.quantize]
        dequantized = {by_origin[i].output(0): by_origin[i] for i in group.dequantize if by_origin[i].output(0)}
        if group.kernel == core.op_type:  # the pair is dropped: the op reads and writes int8 as it is
            core.inputs = [dequantized[name].input(0) if name in dequantized else name for name in core.inputs]
        else:
            core.inputs = _qoperator_inputs(core, dequantized, quantize)
            core.op_type = group.kernel
        core.outputs = list(quantize.outputs)
        core.sources.extend(by_origin[i].sources[0] for i in (*group.dequantize, group.quantize) if i in absorbed)
    for index in sorted(absorbed):
        node = by_origin[index]
        graph.remove(node)
        graph.free.append(node.origin)


def _qoperator_inputs(core: WorkingNode, dequantized: dict[str, WorkingNode], quantize: WorkingNode) -> list[str]:
    def triple(name: str) -> list[str]:
        dq = dequantized.get(name)
        return [*dq.inputs[:3], *[""] * (3 - len(dq.inputs[:3]))] if dq is not None else [name, "", ""]

    output = [*quantize.inputs[1:3], *[""] * (2 - len(quantize.inputs[1:3]))]
    inputs = present(core.inputs)
    if core.op_type == "Concat":
        return [*output, *(part for name in inputs for part in triple(name))]
    if core.op_type in ("Conv", "Gemm"):
        # By position: an omitted input stays '' in its slot (qdq_groups makes a group only of a present X and W).
        a, b = triple(core.input(0)), triple(core.input(1))
        bias_name = core.input(2)
        bias = [dequantized[bias_name].input(0) if bias_name in dequantized else bias_name] if bias_name else []
        return [*a, *b, *output, *bias] if core.op_type == "Conv" else [*a, *b, *(bias or [""]), *output]
    return [*(part for name in inputs[:2] for part in triple(name)), *output]


def apply_int8_nhwc(graph: WorkingGraph) -> None:
    """QLinearConv and the int8 ops it feeds run channels last, with Transposes at the region's borders."""
    if not any(node.op_type == "QLinearConv" for node in graph.nodes):
        return  # no region starts (most graphs): the node list stays as it is, and the maps with it
    channels_last: set[str] = set()
    to_nhwc: dict[str, str] = {}
    to_nchw: dict[str, str] = {}
    out: list[WorkingNode] = []

    def nhwc_input(node: WorkingNode, position: int) -> None:
        name = node.inputs[position]
        if name in channels_last:
            return
        if name not in to_nhwc:
            to_nhwc[name] = f"{name}/nhwc"
            shape = graph.shapes.get(name)
            graph.shapes[to_nhwc[name]] = _permuted(shape, _TO_NHWC)
            out.append(_transpose(name, to_nhwc[name], _TO_NHWC))
        node.inputs[position] = to_nhwc[name]

    for node in graph.nodes:
        runs_nhwc = _runs_nhwc(graph, node, channels_last)
        if runs_nhwc:
            for position in _data_positions(node):
                nhwc_input(node, position)
            if node.op_type == "MaxPool":
                node.op_type = "NhwcMaxPool"
            node.layout = node.input_layout = "nhwc"
            channels_last.add(node.outputs[0])
            graph.shapes[node.outputs[0]] = _permuted(graph.shapes.get(node.outputs[0]), _TO_NHWC)
        else:
            for position, name in enumerate(node.inputs):
                if name in channels_last:
                    if name not in to_nchw:
                        to_nchw[name] = f"{name}/nchw"
                        graph.shapes[to_nchw[name]] = _permuted(graph.shapes.get(name), _TO_NCHW)
                        out.append(_transpose(name, to_nchw[name], _TO_NCHW))
                    node.inputs[position] = to_nchw[name]
        out.append(node)
    for name in sorted(channels_last & graph.graph_outputs):
        graph.shapes[f"{name}/nchw"] = _permuted(graph.shapes.get(name), _TO_NCHW)
        out.append(_transpose(name, f"{name}/nchw", _TO_NCHW))
    graph.nodes = out


def _permuted(shape: tuple[int, ...] | None, perm: tuple[int, ...]) -> tuple[int, ...] | None:
    return tuple(shape[axis] for axis in perm) if shape else None


def _runs_nhwc(graph: WorkingGraph, node: WorkingNode, channels_last: set[str]) -> bool:
    shape = graph.shapes.get(node.input(0))
    if shape is None or len(shape) != 4 or len(node.outputs) != 1 or not node.output(0):
        return False
    if node.op_type == "QLinearConv":
        weight = graph.shapes.get(node.input(3))
        return weight is not None and len(weight) == 4
    if node.inputs[0] not in channels_last:
        return False
    if node.op_type in _CHANNELS_LAST_POOLS or node.op_type == "MaxPool":
        return True
    if node.op_type in _ELEMENTWISE:  # its other data input is channels last too, or can be transposed to it
        data = [node.input(p) for p in _data_positions(node)]
        return all(name and (name in channels_last or graph.shapes.get(name) == _permuted(shape, _TO_NCHW)) for name in data)
    return False


def _data_positions(node: WorkingNode) -> tuple[int, ...]:
    return (0, 3) if node.op_type in ("QLinearAdd", "QLinearMul") else (0,)


def _transpose(source: str, target: str, perm: tuple[int, ...]) -> WorkingNode:
    node = WorkingNode("Transpose", [source], [target], {"perm": perm})
    node.layout = "nhwc" if perm == _TO_NHWC else "nchw"
    return node
