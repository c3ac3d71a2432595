"""The mutable graph the fusion passes rewrite: nodes that remember which model nodes they compute."""

from __future__ import annotations

import threading
from collections import defaultdict

import numpy as np

from graph.context import GraphContext, NodeView

__all__ = ["WorkingGraph", "WorkingNode"]

Shape = tuple[int, ...]

# Every change to a node's inputs or outputs, or to a graph's node list, moves this thread's clock on, so
# that WorkingGraph can keep its consumer and producer maps until something changes: the passes ask for
# them once per candidate, and rebuilding them each time made large graphs quadratic.
_clock = threading.local()


def _tick() -> None:
    _clock.now = getattr(_clock, "now", 0) + 1


def _now() -> int:
    return getattr(_clock, "now", 0)


def _ticking(method):
    """`method` of list, moving the clock on after it ran."""
    def changed(self, *args, **kwargs):
        result = method(self, *args, **kwargs)
        _tick()
        return result
    changed.__name__ = method.__name__
    return changed


class _TrackedList(list):
    """A list that moves the clock on when it changes."""

    __slots__ = ()
    __setitem__ = _ticking(list.__setitem__)
    __delitem__ = _ticking(list.__delitem__)
    __iadd__ = _ticking(list.__iadd__)
    __imul__ = _ticking(list.__imul__)
    append = _ticking(list.append)
    extend = _ticking(list.extend)
    insert = _ticking(list.insert)
    remove = _ticking(list.remove)
    pop = _ticking(list.pop)
    clear = _ticking(list.clear)
    sort = _ticking(list.sort)
    reverse = _ticking(list.reverse)


class WorkingNode:
    """One (future) kernel: an op with named inputs and outputs.

    `origin` is the model node whose record describes the kernel (None for nodes the runtime
    adds, such as layout reorders); `sources` names every model node the kernel computes.
    `inputs` and `outputs` are change-tracked lists (see WorkingGraph.consumers).
    """

    __slots__ = ("_inputs", "_outputs", "activation", "attributes", "input_layout", "layout", "op_type", "origin",
                 "removed", "sources", "summand")

    def __init__(self, op_type: str, inputs: list[str], outputs: list[str], attributes: dict[str, object] | None = None,
                 origin: NodeView | None = None, sources: list[str] | None = None) -> None:
        self.op_type = op_type
        self.inputs = inputs
        self.outputs = outputs
        self.attributes: dict[str, object] = {} if attributes is None else attributes
        self.origin = origin
        self.sources: list[str] = [] if sources is None else sources
        self.activation = ""
        self.summand = ""  # a tensor accumulated into the output (Conv + Add fused)
        self.layout = "nchw"  # layout of output 0: nchw, nchwc or nhwc
        self.input_layout = "nchw"
        self.removed = False  # set by WorkingGraph.remove (a cheap "still in the graph?" test)

    @property
    def inputs(self) -> list[str]:
        return self._inputs

    @inputs.setter
    def inputs(self, value: list[str]) -> None:
        self._inputs = _TrackedList(value)
        _tick()

    @property
    def outputs(self) -> list[str]:
        return self._outputs

    @outputs.setter
    def outputs(self, value: list[str]) -> None:
        self._outputs = _TrackedList(value)
        _tick()

    @property
    def name(self) -> str:
        return self.origin.name if self.origin is not None else f"{self.op_type}({self.inputs[0] if self.inputs else ''})"

    def absorb(self, other: WorkingNode) -> None:
        """Take over `other`'s outputs and sources (other is fused into this node)."""
        self.outputs = list(other.outputs)
        self.sources.extend(other.sources)


class WorkingGraph:
    """Nodes in topological order, with shapes, constants and graph outputs."""

    def __init__(self, ctx: GraphContext, graph_outputs: set[str]) -> None:
        self._maps: tuple[int, dict[str, list[WorkingNode]], dict[str, WorkingNode]] | None = None
        self.ctx = ctx
        self.shapes: dict[str, Shape | None] = dict(ctx.shapes)
        self.constants: set[str] = set(ctx.constants)
        self.graph_outputs = set(graph_outputs)
        self.free: list[NodeView] = []  # model nodes that cost nothing (folded, eliminated)
        self.nodes: list[WorkingNode] = []
        for view in ctx.nodes:
            if view.op_type == "Constant" and view.is_default_domain:
                self.free.append(view)
                continue
            attributes = {name: view.attribute(name) for name in view.attribute_names()}
            # ONNX Runtime's own ops (com.microsoft) are kernels under their plain names, as it writes them.
            self.nodes.append(WorkingNode(view.op_type if view.domain in ("", "ai.onnx", "com.microsoft") else
                                          f"{view.domain}:{view.op_type}",
                                          list(view.inputs), list(view.outputs), attributes,
                                          origin=view, sources=[view.name]))

    def __setattr__(self, name: str, value: object) -> None:
        if name == "nodes":
            value = _TrackedList(value)
            _tick()
        object.__setattr__(self, name, value)

    # -- queries ------------------------------------------------------------------------------

    def consumers(self) -> dict[str, list[WorkingNode]]:
        """Tensor -> the nodes reading it, as the graph is now (do not modify: it is shared until a change)."""
        return self._current_maps()[1]

    def producers(self) -> dict[str, WorkingNode]:
        """Tensor -> the node writing it, as the graph is now (do not modify: it is shared until a change)."""
        return self._current_maps()[2]

    def _current_maps(self) -> tuple[int, dict[str, list[WorkingNode]], dict[str, WorkingNode]]:
        if self._maps is None or self._maps[0] != _now():
            found: dict[str, list[WorkingNode]] = defaultdict(list)
            for node in self.nodes:
                for name in node.inputs:
                    if name:
                        found[name].append(node)
            producers = {name: node for node in self.nodes for name in node.outputs if name}
            self._maps = (_now(), found, producers)
        return self._maps

    def sole_consumer(self, consumers: dict[str, list[WorkingNode]], tensor: str) -> WorkingNode | None:
        """The only node reading `tensor`, when it is not also a graph output."""
        readers = consumers.get(tensor, [])
        if len(readers) != 1 or tensor in self.graph_outputs:
            return None
        return readers[0]

    def is_constant(self, name: str) -> bool:
        return name in self.constants

    def constant_values(self, name: str) -> np.ndarray | None:
        return self.ctx.constant_values(name)

    # -- edits --------------------------------------------------------------------------------

    def replace(self, old: WorkingNode, new: WorkingNode) -> None:
        """`new` takes `old`'s place in the walk; `old` is gone."""
        self.nodes[self.nodes.index(old)] = new
        old.removed = True

    def remove(self, node: WorkingNode) -> None:
        node.removed = True
        self.nodes.remove(node)
