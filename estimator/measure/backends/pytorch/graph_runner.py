"""Whole models in torch: an ONNX graph (graph's typed records) run node by node through the op table.

Constants are folded when the program is built and values are freed after their last use, so a
run costs what the graph's compute nodes cost.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from estimator.errors import MeasureError
from estimator.measure.backends.pytorch.ops import Fn, Spec, build
from estimator.measure.backends.pytorch.tensors import TensorFactory
from graph.nodes import GraphRecord, NodeRecord, TensorRecord

__all__ = ["GraphProgram"]


class GraphProgram:
    """An ONNX graph as a list of torch calls: constants folded at build time, dead values freed."""

    def __init__(self, tensors: TensorFactory, graph: GraphRecord, input_shapes: Mapping[str, Sequence[int]]) -> None:
        self.tensors = tensors
        self.label = graph.name or "model"
        static: dict[str, Any] = {}
        for tensor in graph.initializers:
            static[tensor.name] = self._initializer(tensor)
        values: dict[str, Any] = dict(static)
        self.inputs: dict[str, Any] = {}
        for value in graph.inputs:
            shape = tuple(input_shapes.get(value.name) or value.shape)
            if any(d <= 0 for d in shape):
                raise MeasureError(f"{self.label}: input {value.name!r} needs a concrete shape, got {shape}")
            tensor = tensors.random(shape, value.dtype, low=-1.0, high=1.0)
            self.inputs[value.name] = tensor
            values[value.name] = tensor
        self.steps: list[tuple[Fn, list[str], list[str]]] = []
        for node in graph.nodes:
            if node.domain not in ("", "ai.onnx"):
                raise MeasureError(f"{self.label}: node {node.name!r} of domain {node.domain!r} cannot run in torch")
            self._add(node, values, static, graph.opset)
        self.outputs = list(graph.outputs)
        self.base = dict(static)
        self._plan_frees()

    def _initializer(self, tensor: TensorRecord) -> Any:
        if tensor.values is not None:
            return self.tensors.constant(tensor.values, tensor.shape, tensor.dtype)
        if np.dtype(tensor.dtype).kind == "f":
            return self.tensors.weight(tensor.shape) if len(tensor.shape) >= 2 else self.tensors.random(tensor.shape)
        return self.tensors.random(tensor.shape, tensor.dtype)

    def _add(self, node: NodeRecord, values: dict[str, Any], static: dict[str, Any], opset: int) -> None:
        attrs = dict(node.attributes)
        op = node.op_type
        outputs = list(node.outputs)
        if op == "Constant":
            tensor = self._constant_node(attrs)
            values[outputs[0]] = static[outputs[0]] = tensor
            return
        args = [values.get(name) if name else None for name in node.inputs]
        missing = [name for name, arg in zip(node.inputs, args, strict=True) if name and arg is None]
        if missing:
            raise MeasureError(f"{self.label}: node {node.name!r} reads undefined values {missing}")
        if op in ("Shape", "Size"):
            shape = tuple(args[0].shape)
            data = np.array(shape if op == "Shape" else math.prod(shape), dtype=np.int64)
            if op == "Shape":
                data = data[slice(attrs.get("start", 0), attrs.get("end"))]
            values[outputs[0]] = static[outputs[0]] = self.tensors.constant(data, data.shape, "int64")
            return
        if op == "ConstantOfShape":
            shape = [int(v) for v in args[0].cpu().numpy().reshape(-1)]
            fill = attrs.get("value")
            array = np.full(shape, 0.0 if fill is None else fill.reshape(-1)[0],
                            dtype=np.float32 if fill is None else fill.dtype)
            values[outputs[0]] = static[outputs[0]] = self.tensors.constant(array, array.shape, array.dtype.name)
            return
        if op in ("Identity", "Dropout"):
            values[outputs[0]] = args[0]
            if node.inputs[0] in static:
                static[outputs[0]] = args[0]
            return
        const = {i: arg.detach().cpu().numpy() for i, arg in enumerate(args)
                 if arg is not None and node.inputs[i] in static}
        spec = Spec(op, attrs, [None if arg is None else tuple(arg.shape) for arg in args], const, opset)
        fn = build(spec)
        result = fn(*args)
        results = list(result) if isinstance(result, (tuple, list)) else [result]
        folded = all(not name or name in static for name in node.inputs)
        for name, tensor in zip(outputs, results, strict=False):
            if not name:
                continue
            values[name] = tensor
            if folded:
                static[name] = tensor
        if not folded:
            self.steps.append((fn, list(node.inputs), outputs))

    def _constant_node(self, attrs: dict[str, Any]) -> Any:
        if "value" in attrs:
            array = attrs["value"]
        elif "value_float" in attrs:
            array = np.array(attrs["value_float"], dtype=np.float32)
        elif "value_floats" in attrs:
            array = np.array(attrs["value_floats"], dtype=np.float32)
        elif "value_int" in attrs:
            array = np.array(attrs["value_int"], dtype=np.int64)
        elif "value_ints" in attrs:
            array = np.array(attrs["value_ints"], dtype=np.int64)
        else:
            raise MeasureError(f"{self.label}: Constant node with attributes {sorted(attrs)} is not supported")
        return self.tensors.constant(array, array.shape, array.dtype.name)

    def _plan_frees(self) -> None:
        last_use: dict[str, int] = {}
        for index, (_, inputs, _) in enumerate(self.steps):
            for name in inputs:
                if name:
                    last_use[name] = index
        keep = set(self.outputs) | set(self.base) | set(self.inputs)
        self.frees: list[list[str]] = [[] for _ in self.steps]
        for name, index in last_use.items():
            if name not in keep:
                self.frees[index].append(name)

    def runner(self) -> Callable[[], object]:
        """A call that runs the graph once on the current inputs and returns its outputs."""
        steps = [(fn, inputs, outputs, frees)
                 for (fn, inputs, outputs), frees in zip(self.steps, self.frees, strict=True)]
        base = {**self.base, **self.inputs}
        result_names = self.outputs

        def run() -> object:
            env = dict(base)
            for fn, inputs, outputs, frees in steps:
                result = fn(*[env[name] if name else None for name in inputs])
                if isinstance(result, (tuple, list)):
                    for name, tensor in zip(outputs, result, strict=False):
                        if name:
                            env[name] = tensor
                else:
                    env[outputs[0]] = result
                for name in frees:
                    del env[name]
            return [env.get(name) for name in result_names]
        return run
