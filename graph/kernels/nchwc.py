"""The blocked layout pass (ONNX Runtime's NchwcTransformer): which kernels run on NCHWc tensors.

NCHWc stores channels in blocks of 8 (AVX2) or 16 (AVX-512). Convolutions and pools that can use
it do, and the ops after them join when they can; where a blocked tensor meets an op that needs
plain NCHW, a ReorderOutput kernel converts it back, and a ReorderInput converts the other way.
One topological walk, as the runtime's own pass does.
"""

from __future__ import annotations

from dataclasses import dataclass

from graph.kernels.fusion import conv_nchwc_eligible
from graph.kernels.rules import EXPANSIONS, FusionRules
from graph.kernels.working import WorkingGraph, WorkingNode
from graph.views import present

__all__ = ["apply_nchwc"]

_BINARY = ("Add", "Sum", "Mul")
_FLOAT = 1  # onnx.TensorProto.FLOAT
_WINDOW_POOLS = ("MaxPool", "AveragePool")
_GLOBAL_POOLS = ("GlobalAveragePool", "GlobalMaxPool")


@dataclass
class _Blocked:
    """A tensor that exists in NCHWc form: who makes it, its logical channels, how many readers still want NCHW."""

    producer: WorkingNode
    channels: int
    uses_at_start: int
    uses_left: int


def apply_nchwc(graph: WorkingGraph, rules: FusionRules) -> None:
    if rules.nchwc_block:
        _Pass(graph, rules).run()


class _Pass:
    def __init__(self, graph: WorkingGraph, rules: FusionRules) -> None:
        self.graph = graph
        self.rules = rules
        self.block = rules.nchwc_block
        self.blocked: dict[str, _Blocked] = {}
        self.reordered_inputs: dict[str, WorkingNode] = {}
        self.consumers = graph.consumers()
        self.out: list[WorkingNode] = []

    def run(self) -> None:
        for node in self.graph.nodes:
            if not self._transform(node):
                self.out.append(node)
        for tensor, blocked in self.blocked.items():
            if blocked.uses_left > 0:  # readers that need plain NCHW: convert right after the producer
                reorder = WorkingNode("ReorderOutput", [tensor], [tensor], {"channels": blocked.channels})
                reorder.input_layout = "nchwc"
                self.out.insert(self.out.index(blocked.producer) + 1, reorder)
        self.graph.nodes = self.out

    # -- helpers ------------------------------------------------------------------------------

    def _uses(self, tensor: str) -> int:
        return len(self.consumers.get(tensor, [])) + (tensor in self.graph.graph_outputs)

    def _produce(self, node: WorkingNode, channels: int) -> None:
        node.layout = "nchwc"
        tensor = node.output(0)
        if not tensor:
            return  # an omitted output: nobody reads it, and '' must never be found among blocked tensors
        uses = self._uses(tensor)
        self.blocked[tensor] = _Blocked(node, channels, uses, uses)

    def _take(self, node: WorkingNode, tensor: str) -> None:
        """`node` reads the blocked form of `tensor` (one NCHW use fewer)."""
        self.blocked[tensor].uses_left -= 1
        node.input_layout = "nchwc"

    def _reorder_input(self, node: WorkingNode) -> None:
        tensor = node.inputs[0]
        if tensor not in self.reordered_inputs:
            transpose = self._channels_last_source(tensor)
            if transpose is not None:  # NHWC -> NCHW Transpose read by this Conv alone: one ReorderInput reading NHWC
                transpose.op_type = "ReorderInput"
                transpose.attributes = {"channels_last": 1}
                transpose.input_layout, transpose.layout = "nhwc", "nchwc"
                self.reordered_inputs[tensor] = transpose
            else:
                reorder = WorkingNode("ReorderInput", [tensor], [tensor])
                reorder.layout = "nchwc"
                self.reordered_inputs[tensor] = reorder
                self.out.append(reorder)
        node.input_layout = "nchwc"

    def _channels_last_source(self, tensor: str) -> WorkingNode | None:
        """The Transpose (0, 3, 1, 2) already emitted that writes `tensor`, when its one reader is a Conv; or the
        Transpose of tokens back to a map, (N, T, C) -> (N, C, T) -> Reshape (N, C, H, W), made into one."""
        producer = self.graph.producers().get(tensor)
        if producer is None or self._uses(tensor) != 1 or producer not in self.out:
            return None
        if producer.op_type == "Reshape":
            return self._tokens_to_map(producer)
        if producer.op_type != "Transpose" or tuple(producer.attributes.get("perm") or ()) != (0, 3, 1, 2):
            return None
        return producer

    def _tokens_to_map(self, reshape: WorkingNode) -> WorkingNode | None:
        """ONNX Runtime's transpose optimizer moves the Transpose (0, 2, 1) of (N, T, C) tokens past the Reshape to
        (N, C, H, W) (which then writes (N, H, W, C)) and folds it into the Conv's ReorderInput as channels last:
        here the Reshape reads the tokens and the Transpose becomes that ReorderInput."""
        tokens_t = reshape.input(0)
        transpose = self.graph.producers().get(tokens_t)
        map_shape = self.graph.shapes.get(reshape.output(0))
        if transpose is None or transpose.op_type != "Transpose" or transpose not in self.out \
                or tuple(transpose.attributes.get("perm") or ()) != (0, 2, 1) or self._uses(tokens_t) != 1 \
                or map_shape is None or len(map_shape) != 4:
            return None
        tokens = self.graph.shapes.get(transpose.input(0))
        batch, channels, height, width = map_shape
        if tokens is None or tuple(tokens) != (batch, height * width, channels):
            return None
        channels_last = f"{reshape.output(0)}/channels_last"
        self.graph.shapes[channels_last] = (batch, height, width, channels)
        reshape.inputs = [transpose.input(0), *reshape.inputs[1:]]
        transpose.inputs, transpose.outputs = [channels_last], list(reshape.outputs)
        reshape.outputs = [channels_last]
        self.out.remove(transpose)
        self.out.append(transpose)
        return transpose

    def _runs_blocked(self, op: str) -> bool:
        """An unfused unary op that works on NCHWc tensors as they are (an expanded one: all its body does)."""
        if op in self.rules.expanded_ops and op in EXPANSIONS:
            return all(part in self.rules.nchwc_elementwise for part in EXPANSIONS[op])
        return op in self.rules.nchwc_elementwise

    def _fusable_conv(self, blocked: _Blocked) -> bool:
        conv = blocked.producer
        return (conv.op_type in ("Conv", "FusedConv") and conv.layout == "nchwc" and blocked.uses_at_start == 1
                and not conv.activation)

    def _alias(self, tensor: str, blocked: _Blocked, node: WorkingNode) -> None:
        """`node` was fused into `blocked.producer`: its output is that kernel's output now."""
        producer = blocked.producer
        producer.sources.extend(node.sources)
        producer.outputs = list(node.outputs)
        if node.output(0):
            uses = self._uses(node.output(0))
            self.blocked[node.output(0)] = _Blocked(producer, blocked.channels, uses, uses)

    # -- one node -----------------------------------------------------------------------------

    def _transform(self, node: WorkingNode) -> bool:
        """Rewrite `node` for NCHWc; False when it stays as it is (appended by the caller)."""
        op = node.op_type
        if op in ("Conv", "FusedConv") and not node.summand:
            return self._conv(node)
        if op in _WINDOW_POOLS:
            return self._pool(node, needs_blocked_input=False)
        inputs = present(node.inputs)
        if op in (*_BINARY, "Concat"):
            # Every operand blocked, none omitted ('' is refused in these ops' schemas, but not in a custom domain).
            if not inputs or len(inputs) != len(node.inputs) or not all(name in self.blocked for name in inputs):
                return False
            return self._concat(node) if op == "Concat" else self._binary(node)
        if node.input(0) not in self.blocked:  # (an omitted data input is never blocked)
            return False
        if op in _GLOBAL_POOLS:
            return self._pool(node, needs_blocked_input=True)
        if op == "BatchNormalization":
            return self._batch_norm(node)
        if op == "Transpose" and tuple(node.attributes.get("perm") or ()) == (0, 2, 3, 1):
            return self._to_channels_last(node)
        if op in ("Resize", "Upsample") and self.rules.nchwc_upsample:
            return self._upsample(node)
        if op in self.rules.nchwc_conv_activations or self._runs_blocked(op):
            return self._activation(node)
        return False

    def _conv(self, node: WorkingNode) -> bool:
        eligible = conv_nchwc_eligible(self.graph, node, self.rules)
        if eligible is None or not node.input(0):
            return False
        if eligible:
            if node.inputs[0] in self.blocked:
                self._take(node, node.inputs[0])
            else:
                self._reorder_input(node)
        node.op_type = "Conv"
        self._produce(node, self.graph.shapes[node.inputs[1]][0])
        self.out.append(node)
        return True

    def _pool(self, node: WorkingNode, needs_blocked_input: bool) -> bool:
        shape = self.graph.shapes.get(node.input(0))
        if len(present(node.outputs)) > 1 or shape is None or len(shape) != 4 or shape[1] % self.block:
            return False
        if self.graph.ctx.elem_type(node.inputs[0]) not in (_FLOAT, 0):
            return False  # NCHWc holds float32 only
        if node.inputs[0] in self.blocked:
            self._take(node, node.inputs[0])
        elif needs_blocked_input:
            return False
        else:
            self._reorder_input(node)
        self._produce(node, shape[1])
        self.out.append(node)
        return True

    def _binary(self, node: WorkingNode) -> bool:
        blocked = [self.blocked[name] for name in node.inputs]
        channels = blocked[0].channels
        shape = self.graph.shapes.get(node.inputs[0])
        if any(b.channels != channels for b in blocked) or shape is None:
            return False
        if any(self.graph.shapes.get(name) != shape for name in node.inputs):
            return False
        for name in node.inputs:
            self._take(node, name)
        if node.op_type != "Mul" and len(blocked) == 2:
            for index in (0, 1):
                conv = blocked[index].producer
                if self._fusable_conv(blocked[index]) and not conv.summand:
                    conv.summand = node.inputs[1 - index]
                    self._alias(node.outputs[0], blocked[index], node)
                    return True
        self._produce(node, channels)
        self.out.append(node)
        return True

    def _concat(self, node: WorkingNode) -> bool:
        if int(node.attributes.get("axis", 0) or 0) != 1:
            return False
        blocked = [self.blocked[name] for name in node.inputs]
        if any(b.channels % self.block for b in blocked):
            return False
        for name in node.inputs:
            self._take(node, name)
        self._produce(node, sum(b.channels for b in blocked))
        self.out.append(node)
        return True

    def _activation(self, node: WorkingNode) -> bool:
        op = node.op_type
        if op == "Clip" and not all(self.graph.is_constant(n) for n in node.inputs[1:] if n):
            return False
        blocked = self.blocked[node.inputs[0]]
        fusable = op in self.rules.nchwc_conv_activations and self._fusable_conv(blocked)
        if not fusable and not self._runs_blocked(op):
            return False
        self._take(node, node.inputs[0])
        if fusable:
            blocked.producer.activation = op
            self._alias(node.outputs[0], blocked, node)
            return True
        self._produce(node, blocked.channels)
        self.out.append(node)
        return True

    def _batch_norm(self, node: WorkingNode) -> bool:
        if len(present(node.outputs)) > 1 or not all(self.graph.is_constant(n) for n in node.inputs[1:5]):
            return False
        blocked = self.blocked[node.inputs[0]]
        self._take(node, node.inputs[0])
        node.op_type = "Conv"  # a depthwise 1x1 convolution with the folded scale and shift
        node.attributes = {"group": blocked.channels, "kernel_shape": (1, 1)}
        self._produce(node, blocked.channels)
        self.out.append(node)
        return True

    def _upsample(self, node: WorkingNode) -> bool:
        """Resize of a blocked tensor by whole factors along H and W (nearest with asymmetric coordinates rounded
        down, or linear): NCHWc Upsample."""
        before, after = self.graph.shapes.get(node.input(0)), self.graph.shapes.get(node.output(0))
        mode = node.attributes.get("mode") or "nearest"
        coordinates = node.attributes.get("coordinate_transformation_mode") or "half_pixel"
        # ONNX Runtime's NCHWc transformer takes a nearest Resize only with nearest_mode "floor"; the default,
        # round_prefer_floor, picks the same pixels at whole factors but stays an NCHW Resize between reorders.
        if mode == "nearest" and (coordinates != "asymmetric" or node.attributes.get("nearest_mode") != "floor"):
            return False
        if mode == "linear" and coordinates not in ("half_pixel", "asymmetric", "align_corners"):
            return False
        if before is None or after is None or len(before) != 4 or len(after) != 4 or mode not in ("nearest", "linear"):
            return False
        if before[:2] != after[:2] or any(a % b or a < b for a, b in zip(after[2:], before[2:], strict=True)):
            return False
        self._take(node, node.inputs[0])
        node.op_type = "Upsample"
        self._produce(node, self.blocked[node.inputs[0]].channels)
        self.out.append(node)
        return True

    def _to_channels_last(self, node: WorkingNode) -> bool:
        """NCHW -> NHWC Transpose of a blocked tensor: one ReorderOutput writing channels last."""
        blocked = self.blocked[node.inputs[0]]
        self._take(node, node.inputs[0])
        node.op_type = "ReorderOutput"
        node.attributes = {"channels": blocked.channels, "channels_last": 1}
        node.layout = "nhwc"
        self.out.append(node)
        return True
