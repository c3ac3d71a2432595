"""Level 2 fusions of elementwise patterns into one kernel (ONNX Runtime's names): the erf GELU -> Gelu, SiLU ->
QuickGelu, GPT-2's tanh GELU -> FastGelu, RMSNorm -> SimplifiedLayerNormalization. Each is a rule probed on the
machine (graph/probes.py, estimator/measure/fusion_probes.py) and matched here as exporters write it."""

from __future__ import annotations

import functools

from graph.kernels.working import WorkingGraph, WorkingNode
from graph.views import present

__all__ = ["fuse_fast_gelu", "fuse_gelu", "fuse_quick_gelu", "fuse_rms_norm"]


def fuse_gelu(graph: WorkingGraph) -> None:
    """x / sqrt(2) -> Erf -> + 1 -> * x -> * 0.5 (either order of the two Muls) -> one Gelu."""
    for erf in [node for node in graph.nodes if node.op_type == "Erf"]:
        consumers, producers = graph.consumers(), graph.producers()
        divide = producers.get(erf.input(0))
        if divide is None or divide.op_type != "Div" or not graph.is_constant(divide.input(1)) or not divide.input(0):
            continue
        x = divide.input(0)
        plus_one = graph.sole_consumer(consumers, erf.output(0))
        times = graph.sole_consumer(consumers, plus_one.output(0)) if plus_one and plus_one.op_type == "Add" else None
        if times is None or times.op_type != "Mul":
            continue
        chain = [divide, erf, plus_one, times]
        last = times
        if x in times.inputs:
            half = graph.sole_consumer(consumers, times.output(0))
            if half is not None and half.op_type == "Mul" and any(graph.is_constant(n) for n in half.inputs):
                chain.append(half)
                last = half
        else:
            half = producers.get(next((n for n in times.inputs if n != plus_one.output(0)), ""))
            if half is None or half.op_type != "Mul" or x not in half.inputs:
                continue
            chain.append(half)
        gelu = WorkingNode("Gelu", [x], list(last.outputs), origin=erf.origin,
                           sources=[s for node in chain for s in node.sources])
        _replace_chain(graph, chain, gelu)


def fuse_quick_gelu(graph: WorkingGraph) -> None:
    """x * Sigmoid(x) (SiLU / Swish) -> QuickGelu."""
    for mul in [node for node in graph.nodes if node.op_type == "Mul" and len(present(node.inputs)) == 2]:
        consumers, producers = graph.consumers(), graph.producers()
        for x, gate in (mul.inputs, mul.inputs[::-1]):
            sigmoid = producers.get(gate)
            if sigmoid is not None and sigmoid.op_type == "Sigmoid" and sigmoid.input(0) == x \
                    and graph.sole_consumer(consumers, gate) is mul:
                fused = WorkingNode("QuickGelu", [x], list(mul.outputs), {"alpha": 1.0}, origin=sigmoid.origin,
                                    sources=[*sigmoid.sources, *mul.sources])
                graph.replace(sigmoid, fused)
                graph.remove(mul)
                break


def fuse_fast_gelu(graph: WorkingGraph) -> None:
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (GPT-2's gelu_new, as exported) -> one FastGelu;
    not when it writes a graph output (ONNX Runtime leaves that one as it is)."""
    for tanh in [node for node in graph.nodes if node.op_type == "Tanh"]:
        consumers, producers = graph.consumers(), graph.producers()

        sole = functools.partial(_sole_reader, graph, consumers)
        scaled = producers.get(tanh.input(0))
        inner = producers.get(_variable_operand(graph, scaled) or "") if _is_constant_product(graph, scaled) else None
        if inner is None or inner.op_type != "Add" or len(inner.inputs) != 2 or sole(scaled) is not tanh:
            continue
        found = _cubic_term(graph, producers, inner)
        plus_one = sole(tanh)
        times = sole(plus_one) if plus_one is not None and plus_one.op_type == "Add" \
            and any(graph.is_constant(name) for name in plus_one.inputs) else None
        if found is None or times is None or times.op_type != "Mul" or sole(inner) is not scaled:
            continue
        x, cubic = found
        chain = [*cubic, inner, scaled, tanh, plus_one, times]
        other = next((name for name in times.inputs if name != plus_one.output(0)), "")
        if other == x:  # (x * (1 + tanh)) * 0.5
            half = sole(times)
            last = half
        else:  # (0.5 * x) * (1 + tanh)
            half = producers.get(other)
            last = times
            if half is not None and sole(half) is not times:
                continue
        if not _is_constant_product(graph, half) or _variable_operand(graph, half) not in (x, times.output(0)) \
                or any(name in graph.graph_outputs for name in last.outputs):
            continue
        chain.append(half)
        fused = WorkingNode("FastGelu", [x], list(last.outputs), origin=tanh.origin,
                            sources=[source for node in chain for source in node.sources])
        _replace_chain(graph, chain, fused)


def _sole_reader(graph: WorkingGraph, consumers: dict[str, list[WorkingNode]], node: WorkingNode | None) -> WorkingNode | None:
    """The one node that reads `node`'s output (None when there is no node, or not exactly one reader)."""
    return None if node is None else graph.sole_consumer(consumers, node.output(0))


def _cubic_term(graph: WorkingGraph, producers, inner: WorkingNode) -> tuple[str, list[WorkingNode]] | None:
    """(x, [Pow, Mul]) when `inner` is x + c * x ** 3."""
    for x, term in (inner.inputs, inner.inputs[::-1]):
        product = producers.get(term)
        if not _is_constant_product(graph, product):
            continue
        power = producers.get(_variable_operand(graph, product) or "")
        if power is not None and power.op_type == "Pow" and power.input(0) == x and graph.is_constant(power.input(1)):
            return x, [power, product]
    return None


def _is_constant_product(graph: WorkingGraph, node: WorkingNode | None) -> bool:
    return node is not None and node.op_type == "Mul" and len(node.inputs) == 2 \
        and sum(graph.is_constant(name) for name in node.inputs) == 1


def _variable_operand(graph: WorkingGraph, node: WorkingNode | None) -> str | None:
    return None if node is None else next((name for name in node.inputs if not graph.is_constant(name)), None)


def fuse_rms_norm(graph: WorkingGraph) -> None:
    """x / sqrt(mean(x^2 over the last axis) + eps) * w, the division written as Div(x, root) or x * (1 / root)
    (LLaMA's and T5's RMSNorm, as exported), w a constant of the last axis -> SimplifiedLayerNormalization."""
    for reduce in [node for node in graph.nodes if node.op_type == "ReduceMean"]:
        consumers, producers = graph.consumers(), graph.producers()

        sole = functools.partial(_sole_reader, graph, consumers)
        square = producers.get(reduce.input(0))
        if square is None or square.op_type != "Pow" or not graph.is_constant(square.input(1)) or sole(square) is not reduce:
            continue
        x = square.input(0)
        shape = graph.shapes.get(x)
        if not shape or not _reduces_last_axis(graph, reduce, len(shape)):  # (a scalar has no last axis)
            continue
        plus_eps = sole(reduce)
        root = sole(plus_eps) if plus_eps is not None and plus_eps.op_type == "Add" \
            and any(graph.is_constant(name) for name in plus_eps.inputs) else None
        divide = sole(root) if root is not None and root.op_type == "Sqrt" else None
        if divide is None or divide.op_type != "Div" or divide.input(1) != root.output(0):
            continue
        chain = [square, reduce, plus_eps, root, divide]
        normed = divide
        if divide.input(0) != x:  # x * (1 / root)
            normed = sole(divide)
            if not graph.is_constant(divide.input(0)) or normed is None or normed.op_type != "Mul" or x not in normed.inputs:
                continue
            chain.append(normed)
        scale = sole(normed)
        weight = next((name for name in scale.inputs if name != normed.output(0)), "") if scale is not None else ""
        if scale is None or scale.op_type != "Mul" or not graph.is_constant(weight) \
                or graph.shapes.get(weight) != (shape[-1],):
            continue
        chain.append(scale)
        fused = WorkingNode("SimplifiedLayerNormalization", [x, weight], list(scale.outputs), {"axis": -1},
                            origin=reduce.origin, sources=[source for node in chain for source in node.sources])
        _replace_chain(graph, chain, fused, at=square)


def _replace_chain(graph: WorkingGraph, chain: list[WorkingNode], fused: WorkingNode,
                   at: WorkingNode | None = None) -> None:
    """`fused` takes the place of `at` (the chain's first node by default); the rest of the chain goes."""
    graph.replace(at if at is not None else min(chain, key=graph.nodes.index), fused)
    for node in chain:
        if not node.removed:
            graph.remove(node)


def _reduces_last_axis(graph: WorkingGraph, reduce: WorkingNode, rank: int) -> bool:
    axes = reduce.attributes.get("axes")
    if axes is None and len(reduce.inputs) > 1 and reduce.input(1):
        values = graph.constant_values(reduce.input(1))
        axes = None if values is None else tuple(int(v) for v in values.reshape(-1))
    return axes is not None and len(axes) == 1 and axes[0] % rank == rank - 1 \
        and int(reduce.attributes.get("keepdims", 1) or 0) == 1
