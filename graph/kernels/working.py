"""The mutable graph the fusion passes rewrite: nodes that remember which model nodes they compute."""

from __future__ import annotations

import bisect
import itertools
import weakref
from collections import defaultdict

import numpy as np

from graph.context import GraphContext
from graph.views import NodeView, input_at

__all__ = ["WorkingGraph", "WorkingNode"]

Shape = tuple[int, ...]

# WorkingGraph keeps its consumer and producer maps across edits: the passes ask for them once per candidate,
# and rebuilding them after every fusion made large graphs quadratic. Before a node's inputs or outputs first
# change, the node notes what they were and joins the journal of the graph that indexed it; a removal and a
# change of the node list are journal entries too. The next query patches the maps from the journal, keeping
# each tensor's readers in graph order (every indexed node has a place number that grows along the list; a node
# inserted gets one between its neighbours'); only a reordered node list makes the graph rebuild them.


def _tracking(method):
    """`method` of list, telling the list's owner before it runs."""
    def changing(self, *args, **kwargs):
        owner = self.owner()
        if owner is not None:
            owner._before_change()
        return method(self, *args, **kwargs)
    changing.__name__ = method.__name__
    return changing


class _TrackedList(list):
    """A list that tells its owner (a node, or the graph for its node list) before it changes.

    It holds its owner by a weak reference: a strong one made every node a reference cycle, so that a read graph
    was freed only by the cyclic collector, whose pass over tens of thousands of such nodes after each model
    cost more than a tenth of estimate_many."""

    __slots__ = ("owner",)

    __setitem__ = _tracking(list.__setitem__)
    __delitem__ = _tracking(list.__delitem__)
    __iadd__ = _tracking(list.__iadd__)
    __imul__ = _tracking(list.__imul__)
    append = _tracking(list.append)
    extend = _tracking(list.extend)
    insert = _tracking(list.insert)
    remove = _tracking(list.remove)
    pop = _tracking(list.pop)
    clear = _tracking(list.clear)
    sort = _tracking(list.sort)
    reverse = _tracking(list.reverse)


class _NodeList(_TrackedList):
    """The graph's node list: a replacement or an insertion tells the graph which nodes left and joined, so that its
    maps are patched around them; any other change makes the next query look at the whole list."""

    __slots__ = ()

    def __setitem__(self, index, value) -> None:
        if isinstance(index, slice) and index.step is None:
            old, new = self[index], list(value)
        elif isinstance(index, int):
            old, new = [self[index]], [value]
        else:
            self.owner()._before_change()
            list.__setitem__(self, index, value)
            return
        kept = [node for node in old if node in new]
        if kept != [node for node in new if node in old]:
            self.owner()._before_change()  # nodes that stayed changed order
        else:
            self.owner()._members_moved([node for node in old if node not in new], [node for node in new if node not in old])
        list.__setitem__(self, index, new if isinstance(index, slice) else value)

    def insert(self, index, value) -> None:
        self.owner()._members_moved([], [value])
        list.insert(self, index, value)


def _tracked(kind: type[_TrackedList], values, owner: WorkingNode | WorkingGraph) -> _TrackedList:
    """A tracked list of `values` (built without an __init__ of its own: a node is made for every model node)."""
    tracked = kind(values)
    tracked.owner = weakref.ref(owner)
    return tracked


class WorkingNode:
    """One (future) kernel: an op with named inputs and outputs.

    `origin` is the model node whose record describes the kernel (None for nodes the runtime
    adds, such as layout reorders); `sources` names every model node the kernel computes.
    `inputs` and `outputs` are change-tracked lists (see WorkingGraph.consumers).
    """

    __slots__ = ("__weakref__", "_before", "_inputs", "_journal", "_outputs", "activation", "attributes",
                 "input_layout", "layout", "op_type", "origin", "removed", "sources", "summand")

    def __init__(self, op_type: str, inputs: list[str], outputs: list[str], attributes: dict[str, object] | None = None,
                 origin: NodeView | None = None, sources: list[str] | None = None) -> None:
        self._journal: list | None = None  # the journal of the graph whose maps index this node
        self._before: tuple[tuple[str, ...], tuple[str, ...]] | None = None  # inputs, outputs as the maps have them
        self.op_type = op_type
        # (_tracked, written out: a node is made for every model node; no map indexes it yet: nothing to note)
        self._inputs, self._outputs = _TrackedList(inputs), _TrackedList(outputs)
        self._inputs.owner = self._outputs.owner = weakref.ref(self)
        self.attributes: dict[str, object] = {} if attributes is None else attributes
        self.origin = origin
        self.sources: list[str] = [] if sources is None else sources
        self.activation = ""
        self.summand = ""  # a tensor accumulated into the output (Conv + Add fused)
        self.layout = "nchw"  # layout of output 0: nchw, nchwc or nhwc
        self.input_layout = "nchw"
        self.removed = False  # set by WorkingGraph.remove (a cheap "still in the graph?" test)

    def _before_change(self) -> None:
        if self._journal is not None and self._before is None:
            self._before = (tuple(self._inputs), tuple(self._outputs))
            self._journal.append(self)

    @property
    def inputs(self) -> list[str]:
        return self._inputs

    @inputs.setter
    def inputs(self, value: list[str]) -> None:
        self._before_change()
        self._inputs = _tracked(_TrackedList, value, self)

    @property
    def outputs(self) -> list[str]:
        return self._outputs

    @outputs.setter
    def outputs(self, value: list[str]) -> None:
        self._before_change()
        self._outputs = _tracked(_TrackedList, value, self)

    def input(self, position: int) -> str:
        """The input at `position`, '' when it is omitted (graph.views.input_at): read inputs by position so."""
        return input_at(self._inputs, position)

    def output(self, position: int) -> str:
        """The output at `position`, '' when it is omitted."""
        return input_at(self._outputs, position)

    @property
    def name(self) -> str:
        return self.origin.name if self.origin is not None else f"{self.op_type}({self.input(0)})"

    def absorb(self, other: WorkingNode) -> None:
        """Take over `other`'s outputs and sources (other is fused into this node)."""
        self.outputs = list(other.outputs)
        self.sources.extend(other.sources)

    def _indexed(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The inputs and outputs that the maps of its graph hold for this node."""
        return self._before if self._before is not None else (tuple(self._inputs), tuple(self._outputs))


def _reads(names: tuple[str, ...]) -> dict[str, int]:
    """How often each tensor is read among `names` ('' is no tensor)."""
    counts: dict[str, int] = {}
    for name in names:
        if name:
            counts[name] = counts.get(name, 0) + 1
    return counts


def _more(counts: dict[str, int], than: dict[str, int]) -> list[tuple[str, int]]:
    """The names `counts` has more often than `than`, and how many more (collections.Counter's construction and
    subtraction were about half of patching the maps)."""
    return [(name, count - than.get(name, 0)) for name, count in counts.items() if count > than.get(name, 0)]


_REMOVED = object()  # a journal entry: the node that follows it left the graph
_JOINED = object()  # a journal entry: the node that follows it joined the node list (inserted, or put in another's place)
_MEMBERS = object()  # a journal entry: the node list changed otherwise (replaced as a whole, reordered)


class WorkingGraph:
    """Nodes in topological order, with shapes, constants and graph outputs."""

    def __init__(self, ctx: GraphContext, graph_outputs: set[str]) -> None:
        # (consumers, producers, the place of each indexed node: a number that grows along the node list)
        self._maps: tuple[dict[str, list[WorkingNode]], dict[str, WorkingNode], dict[WorkingNode, float]] | None = None
        self._journal: list = []
        self.ctx = ctx
        self.shapes: dict[str, Shape | None] = dict(ctx.shapes)  # never holds '' (see graph.views.present)
        self.constants: set[str] = set(ctx.constants)
        self.graph_outputs = set(graph_outputs)
        self.free: list[NodeView] = []  # model nodes that cost nothing (folded, eliminated)
        nodes: list[WorkingNode] = []  # (tracked once it is whole: see __setattr__)
        for view in ctx.nodes:
            if view.op_type == "Constant" and view.is_default_domain:
                self.free.append(view)
                continue
            attributes = dict(view.attributes)
            inputs = list(view.inputs)
            while inputs and not inputs[-1]:
                inputs.pop()  # a trailing '' is no input (ONNX lets an exporter write it or leave it off): the passes
                # read a binary op's operands as its first two inputs
            # ONNX Runtime's own ops (com.microsoft) are kernels under their plain names, as it writes them.
            nodes.append(WorkingNode(view.op_type if view.domain in ("", "ai.onnx", "com.microsoft") else
                                     f"{view.domain}:{view.op_type}",
                                     inputs, list(view.outputs), attributes, view, [view.name]))
        self.nodes = nodes

    def __setattr__(self, name: str, value: object) -> None:
        if name == "nodes":
            self._before_change()
            value = _tracked(_NodeList, value, self)
        object.__setattr__(self, name, value)

    def _before_change(self) -> None:
        if getattr(self, "_maps", None) is not None and (not self._journal or self._journal[-1] is not _MEMBERS):
            self._journal.append(_MEMBERS)

    def _members_moved(self, left: list[WorkingNode], joined: list[WorkingNode]) -> None:
        if self._maps is not None:
            for node in left:
                self._journal += [_REMOVED, node]
            for node in joined:
                self._journal += [_JOINED, node]

    # -- queries ------------------------------------------------------------------------------

    def consumers(self) -> dict[str, list[WorkingNode]]:
        """Tensor -> the nodes reading it in graph order, as the graph is now (do not modify: it is shared; after
        changing the graph, ask again: the map handed out earlier is brought up to date only then)."""
        return self._current_maps()[0]

    def producers(self) -> dict[str, WorkingNode]:
        """Tensor -> the node writing it, as the graph is now (shared and kept up to date as `consumers`)."""
        return self._current_maps()[1]

    def _current_maps(self):
        if self._maps is not None and self._journal:
            self._maps = self._patched(*self._maps)
        if self._maps is None:
            self._maps = self._built()
        self._journal.clear()
        return self._maps

    def _built(self):
        consumers: dict[str, list[WorkingNode]] = defaultdict(list)
        producers: dict[str, WorkingNode] = {}
        places: dict[WorkingNode, float] = {}
        for place, node in enumerate(self.nodes):
            for name in node.inputs:
                if name:
                    consumers[name].append(node)
            for name in node.outputs:
                if name:
                    producers[name] = node
            places[node] = float(place)
            node._journal, node._before = self._journal, None
        return consumers, producers, places

    def _patched(self, consumers, producers, places):
        """The maps after the journal's changes, or None when only a rebuild gives them (the node list was
        reordered). The dicts are patched in place (not copied for each change); the
        changed lists are new ones, so a list handed out earlier stays as it was."""

        def reindex(node: WorkingNode, old: tuple[tuple[str, ...], ...], new: tuple[tuple[str, ...], ...]) -> None:
            """Move `node`'s entries from its `old` (inputs, outputs) to its `new` ones (both empty: it left)."""
            (old_inputs, old_outputs), (new_inputs, new_outputs) = old, new
            old_reads, new_reads = _reads(old_inputs), _reads(new_inputs)
            for name, count in _more(new_reads, old_reads):
                readers = consumers.get(name, [])
                at = bisect.bisect_right([places[reader] for reader in readers], places[node])
                consumers[name] = [*readers[:at], *[node] * count, *readers[at:]]
            for name, count in _more(old_reads, new_reads):
                readers = list(consumers[name])
                for _ in range(count):
                    readers.remove(node)
                if readers:
                    consumers[name] = readers
                else:
                    del consumers[name]
            for name in old_outputs:
                if name and name not in new_outputs and producers.get(name) is node:
                    del producers[name]
            for name in new_outputs:
                if name:
                    producers[name] = node

        def leave(node: WorkingNode) -> None:
            reindex(node, node._indexed(), ((), ()))
            del places[node]
            node._journal, node._before = None, None

        removing = joining = members_changed = False
        joined: list[WorkingNode] = []
        for entry in self._journal:
            if entry is _REMOVED or entry is _JOINED or entry is _MEMBERS:
                removing, joining = entry is _REMOVED, entry is _JOINED
                members_changed = members_changed or entry is _MEMBERS
                continue
            if joining:
                joining = False
                if entry in places:
                    members_changed = True  # already in the list: moved, or there twice
                else:
                    joined.append(entry)
                continue
            if entry in places:
                if removing:
                    leave(entry)
                elif entry._before is not None:
                    reindex(entry, entry._before, (tuple(entry.inputs), tuple(entry.outputs)))
                    entry._before = None
            else:
                entry._before = None
            removing = False
        if members_changed and not self._patch_members(places, reindex, leave):
            return None
        if not members_changed and not self._place_joined(joined, places, reindex):
            return None
        return consumers, producers, places

    def _place_joined(self, joined: list[WorkingNode], places, reindex) -> bool:
        """Index each node that joined (and is still in the list) with the run of new nodes around it, placed between
        the indexed neighbours of the run; False when that runs out of float precision."""
        nodes = self.nodes
        for node in joined:
            if node in places:
                continue  # placed with an earlier one's run
            try:
                index = nodes.index(node)
            except ValueError:
                continue  # it left again
            start, end = index, index + 1
            while start > 0 and nodes[start - 1] not in places:
                start -= 1
            while end < len(nodes) and nodes[end] not in places:
                end += 1
            if not self._place_run(places, start, end, reindex):
                return False
        return True

    def _place_run(self, places, start: int, end: int, reindex) -> bool:
        """Index the nodes at [start, end) (none indexed) with places between their indexed neighbours'."""
        nodes = self.nodes
        low = places[nodes[start - 1]] if start > 0 else (places[nodes[end]] - (end - start) - 1 if end < len(nodes)
                                                           else 0.0)
        high = places[nodes[end]] if end < len(nodes) else low + (end - start) + 1
        step = (high - low) / (end - start + 1)
        for offset, node in enumerate(nodes[start:end], 1):
            place = low + step * offset
            if not low < place < high:
                return False  # out of float precision between the neighbours
            places[node] = place
            node._journal, node._before = self._journal, None
            reindex(node, ((), ()), (tuple(node.inputs), tuple(node.outputs)))
        return True

    def _patch_members(self, places, reindex, leave) -> bool:
        """Index the nodes that joined the list (placed between their neighbours) and drop those that left;
        False when the nodes that stayed changed order."""
        current = set(self.nodes)
        for node in [node for node in places if node not in current]:
            leave(node)
        numbers = [places.get(node) for node in self.nodes]
        known = [number for number in numbers if number is not None]
        if any(later <= earlier for earlier, later in itertools.pairwise(known)):
            return False
        start = 0
        while start < len(numbers):
            if numbers[start] is not None:
                start += 1
                continue
            end = start
            while end < len(numbers) and numbers[end] is None:
                end += 1
            if not self._place_run(places, start, end, reindex):
                return False
            start = end
        return True

    def close(self) -> None:
        """Forget the maps and the journal once the graph has been read: a node noted in the journal refers to it,
        a cycle that only the cyclic collector would free (with the model's protobuf that the node's view holds)."""
        for node in self.nodes:
            node._journal, node._before = None, None
        self._journal.clear()
        self._maps = None

    def sole_consumer(self, consumers: dict[str, list[WorkingNode]], tensor: str) -> WorkingNode | None:
        """The only node reading `tensor`, when it is not also a graph output (None for '': no tensor)."""
        readers = consumers.get(tensor, []) if tensor else []
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
        list.remove(self.nodes, node)  # untracked: the journal says which node left, so the maps can be patched
        if self._maps is not None:
            self._journal += [_REMOVED, node]
