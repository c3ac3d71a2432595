"""Level 1 and 2 rewrites of transformer graphs (ONNX Runtime's names): FusedMatMul, Gather -> Split, Reshape chains.

- MatMulScaleFusion: a MatMul of two activations whose inputs or output are scaled by a constant
  scalar (Mul or Div) becomes FusedMatMul(alpha); attention's 1/sqrt(d) lands there.
- MatMulTransposeFusion: a Transpose that swaps the last two axes of a MatMul input (K^T in
  attention) is folded in as transA/transB.
- GatherToSplitFusion: Gathers of scalar indices 0..n-1 along one axis of one tensor (q, k, v
  out of a packed projection) become one Split and a Squeeze per part.
- Reshape fusion: a Reshape and the Reshape/Squeeze/Unsqueeze ops after it, each the only reader of the
  one before, are one Reshape.
"""

from __future__ import annotations

import math

from graph.kernels.working import WorkingGraph, WorkingNode
from graph.views import present

__all__ = ["fuse_gathers_to_split", "fuse_matmul_scale", "fuse_matmul_transpose", "fuse_reshape_chains",
           "push_transposes_through_gathers"]

_RESHAPES = ("Reshape", "Squeeze", "Unsqueeze")


def fuse_matmul_scale(graph: WorkingGraph) -> None:
    for matmul in [node for node in graph.nodes if node.op_type in ("MatMul", "FusedMatMul")]:
        if not _between_activations(graph, matmul):
            continue
        consumers, producers = graph.consumers(), graph.producers()
        alpha: float | None = matmul.attributes.get("alpha", 1.0)
        fused: list[WorkingNode] = []
        for position in (0, 1):
            scale = producers.get(matmul.inputs[position])
            if _is_scalar_scale(graph, scale) and graph.sole_consumer(consumers, scale.output(0)) is matmul:
                matmul.inputs[position] = next(n for n in scale.inputs if not graph.is_constant(n))
                alpha = _times(alpha, _scalar_factor(graph, scale))
                fused.append(scale)
        after = graph.sole_consumer(consumers, matmul.output(0))
        if _is_scalar_scale(graph, after):
            alpha = _times(alpha, _scalar_factor(graph, after))
            matmul.outputs = list(after.outputs)
            fused.append(after)
        if fused:
            _to_fused(matmul)
            matmul.attributes["alpha"] = alpha
            for node in fused:
                matmul.sources.extend(node.sources)
                graph.remove(node)


def fuse_matmul_transpose(graph: WorkingGraph) -> None:
    """Transposes of a MatMul input fold into it: of the last two axes as transA/transB, of a 3-D input's
    first two axes (heads before rows, seen through a Reshape that only adds leading 1s) as transBatchA/B."""
    for matmul in [node for node in graph.nodes if node.op_type in ("MatMul", "FusedMatMul")]:
        if not _between_activations(graph, matmul):
            continue
        for position, suffix in ((0, "A"), (1, "B")):
            while _fold_transpose(graph, matmul, position, suffix):
                pass


def _fold_transpose(graph: WorkingGraph, matmul: WorkingNode, position: int, suffix: str) -> bool:
    consumers, producers = graph.consumers(), graph.producers()
    node = producers.get(matmul.inputs[position])
    through = None
    if node is not None and node.op_type == "Reshape" and _adds_leading_ones(graph, node) \
            and graph.sole_consumer(consumers, node.output(0)) is matmul:
        through, node = node, producers.get(node.input(0))
    if node is None or node.op_type != "Transpose" or not node.input(0) or graph.sole_consumer(
            consumers, node.output(0)) not in (matmul, through) or (
            through is not None and graph.sole_consumer(consumers, node.output(0)) is not through):
        return False
    perm = tuple(node.attributes.get("perm") or ())
    rank = len(perm)
    if through is None and rank >= 2 and perm == (*range(rank - 2), rank - 1, rank - 2):
        flag = f"trans{suffix}"
    elif rank == 3 and perm == (1, 0, 2):
        flag = f"transBatch{suffix}"
    else:
        return False
    if matmul.attributes.get(flag):
        return False
    if through is not None:  # the Reshape now feeds the untransposed rows: (M, *batch, K), as the runtime holds them
        through.inputs[0] = node.inputs[0]
        after = graph.shapes.get(through.outputs[0])
        graph.shapes[through.outputs[0]] = (after[-2], *after[:-2], after[-1])
    else:
        matmul.inputs[position] = node.inputs[0]
    _to_fused(matmul)
    matmul.attributes[flag] = 1
    matmul.sources.extend(node.sources)
    graph.remove(node)
    return True


def _adds_leading_ones(graph: WorkingGraph, reshape: WorkingNode) -> bool:
    before, after = graph.shapes.get(reshape.input(0)), graph.shapes.get(reshape.output(0))
    if before is None or after is None or len(after) <= len(before):
        return False
    extra = len(after) - len(before)
    return tuple(after[extra:]) == tuple(before) and all(d == 1 for d in after[:extra])


def push_transposes_through_gathers(graph: WorkingGraph) -> None:
    """A Transpose read only by Gathers of scalar indices 0..n-1 along one axis moves below them: one Split of
    the untransposed tensor, and a Transpose per part (ONNX Runtime's transpose optimizer); Transposes that
    follow each other then merge into one."""
    consumers = graph.consumers()
    for transpose in [node for node in graph.nodes if node.op_type == "Transpose"]:
        readers = consumers.get(transpose.output(0), []) if transpose.input(0) else []
        perm = tuple(transpose.attributes.get("perm") or ())
        if not perm or not readers or transpose.output(0) in graph.graph_outputs or \
                any(r.op_type != "Gather" or r.input(0) != transpose.output(0) or not r.output(0)
                    or graph.shapes.get(r.input(1)) != () for r in readers):
            continue
        axes = {int(r.attributes.get("axis", 0) or 0) % len(perm) for r in readers}
        shape = graph.shapes.get(transpose.outputs[0])
        values = [graph.constant_values(r.input(1)) for r in readers]
        if len(axes) != 1 or shape is None or any(v is None for v in values):
            continue
        axis = axes.pop()
        if sorted(int(v) % shape[axis] for v in values) != list(range(shape[axis])):
            continue
        source_axis = perm[axis]
        rest = [p for p in perm if p != source_axis]
        part_perm = tuple(p - (p > source_axis) for p in rest)
        source_shape = graph.shapes.get(transpose.inputs[0])
        for part, reader in enumerate(readers):
            reader.inputs[0] = transpose.inputs[0]
            reader.attributes["axis"] = source_axis
            if part_perm == tuple(range(len(part_perm))):
                continue  # nothing left to transpose for this part
            moved = f"{reader.outputs[0]}/untransposed"
            graph.shapes[moved] = tuple(d for a, d in enumerate(source_shape) if a != source_axis) if source_shape else None
            after = WorkingNode("Transpose", [moved], list(reader.outputs), {"perm": part_perm},
                                origin=transpose.origin if part == 0 else None,
                                sources=list(transpose.sources) if part == 0 else [])
            reader.outputs = [moved]
            graph.nodes.insert(graph.nodes.index(reader) + 1, after)
        graph.remove(transpose)
        consumers = graph.consumers()
    _merge_transposes(graph)


def _merge_transposes(graph: WorkingGraph) -> None:
    consumers = graph.consumers()
    for first in [node for node in graph.nodes if node.op_type == "Transpose"]:
        second = graph.sole_consumer(consumers, first.output(0))
        if first.removed or second is None or second.op_type != "Transpose":
            continue
        outer, inner = tuple(first.attributes.get("perm") or ()), tuple(second.attributes.get("perm") or ())
        if not outer or len(outer) != len(inner):
            continue
        first.attributes = {"perm": tuple(outer[axis] for axis in inner)}
        first.absorb(second)
        graph.remove(second)
        consumers = graph.consumers()


def fuse_gathers_to_split(graph: WorkingGraph) -> None:
    readers = graph.consumers()
    for tensor, nodes in list(readers.items()):
        shape = graph.shapes.get(tensor)
        gathers = [node for node in nodes if node.op_type == "Gather" and node.input(0) == tensor and node.output(0)]
        if shape is None or len(shape) < 2 or len(gathers) < 2 or len(gathers) != len(nodes):
            continue  # (a 1-D tensor, such as a shape, stays gathered)
        axes = {int(node.attributes.get("axis", 0) or 0) % len(shape) for node in gathers}
        indices = [graph.constant_values(node.input(1)) for node in gathers]
        if len(axes) != 1 or any(v is None or v.ndim != 0 for v in indices):
            continue
        axis = axes.pop()
        positions = sorted(int(v) % shape[axis] for v in indices)
        if positions != list(range(shape[axis])):
            continue
        ordered = sorted(gathers, key=lambda node: int(graph.constant_values(node.input(1))) % shape[axis])
        first = min(graph.nodes.index(node) for node in gathers)
        parts = [f"{node.outputs[0]}/split" for node in ordered]
        for part in parts:
            graph.shapes[part] = (*shape[:axis], 1, *shape[axis + 1:])
        split = WorkingNode("Split", [tensor], parts, {"axis": axis}, origin=ordered[0].origin,
                            sources=[s for node in ordered for s in node.sources])
        squeezes = [WorkingNode("Squeeze", [part], list(node.outputs), {"axes": (axis,)})
                    for part, node in zip(parts, ordered, strict=True)]
        for node in gathers:
            graph.remove(node)
        graph.nodes[first:first] = [split, *squeezes]


def fuse_reshape_chains(graph: WorkingGraph) -> None:
    changed = True
    while changed:
        changed = False
        consumers = graph.consumers()
        for node in graph.nodes:
            if node.op_type != "Reshape":
                continue
            follower = graph.sole_consumer(consumers, node.output(0))
            if follower is None or follower.op_type not in _RESHAPES or follower.input(0) != node.output(0):
                continue
            if graph.shapes.get(follower.output(0)) is None:
                continue
            node.absorb(follower)
            graph.remove(follower)
            changed = True
            break


def _between_activations(graph: WorkingGraph, node: WorkingNode) -> bool:
    return len(present(node.inputs[:2])) == 2 and not any(graph.is_constant(name) for name in node.inputs[:2])


def _is_scalar_scale(graph: WorkingGraph, node: WorkingNode | None) -> bool:
    """A Mul or Div by one constant scalar: a stored one, or one folded from shapes (timm's
    `q * d ** -0.25` exports as Sqrt(Cast(Gather(Shape)))), whose value this reader may not know."""
    constant = _scale_operand(graph, node)
    shape = graph.shapes.get(constant) if constant else None
    if shape is None or math.prod(shape) != 1:
        return False
    return graph.constant_values(constant) is None or _scalar_factor(graph, node) is not None


def _scale_operand(graph: WorkingGraph, node: WorkingNode | None) -> str | None:
    """The constant a Mul or Div scales by (a Div's divisor), or None when `node` is no such scaling."""
    if node is None or node.op_type not in ("Mul", "Div") or len(present(node.inputs)) != 2 or not node.output(0):
        return None
    constants = [name for name in node.inputs if graph.is_constant(name)]
    if len(constants) != 1 or (node.op_type == "Div" and node.inputs[1] != constants[0]):
        return None
    return constants[0]


def _times(alpha: float | None, factor: float | None) -> float | None:
    """alpha * factor; None (unknown) once a factor is unknown. alpha is no feature: a kernel's cost does not depend on it."""
    return None if alpha is None or factor is None else float(alpha) * factor


def _scalar_factor(graph: WorkingGraph, node: WorkingNode | None) -> float | None:
    """The factor a Mul or Div by a constant scalar applies (None for anything else, or when its value is unknown)."""
    constant = _scale_operand(graph, node)
    values = graph.constant_values(constant) if constant else None
    if values is None or values.size != 1:
        return None
    value = float(values.reshape(-1)[0])
    if node.op_type == "Div":
        return None if value == 0 else 1 / value
    return value if math.isfinite(value) else None


def _to_fused(matmul: WorkingNode) -> None:
    if matmul.op_type == "MatMul":
        matmul.op_type = "FusedMatMul"
        matmul.attributes = {"alpha": 1.0, "transA": 0, "transB": 0}
