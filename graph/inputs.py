"""Fix a loaded model's input shapes and infer every other shape (graph/shapes.py where ONNX stops).

Which axis of each input is the batch follows graph/batch.py; `--batch-size` sets that axis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx

from graph.batch import flow_batch_axis, symbolic_batch_axes
from graph.errors import ShapeError
from graph.loading import LoadedModel
from graph.shapes import resolve_shapes

__all__ = ["ShapedModel", "fix_input_shapes"]


@dataclass(frozen=True)
class ShapedModel:
    """A model with concrete input shapes and every shape that could be inferred.

    `batch_axes` names each input's batch axis (graph/batch.py); `values` are small tensors
    computed from shapes (constants once the inputs are fixed); `data_dependent` names tensors
    whose size depends on input values and was set to its upper bound (graph/shapes.py).
    """

    model: onnx.ModelProto
    input_shapes: dict[str, tuple[int, ...]]
    batch_size: int
    batch_size_assumed: bool
    batch_axes: dict[str, int]
    values: dict[str, np.ndarray] = field(default_factory=dict)
    data_dependent: frozenset[str] = frozenset()


def fix_input_shapes(
    loaded: LoadedModel,
    batch_size: int | None = None,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
) -> ShapedModel:
    """Give every graph input concrete dims and infer every other shape (graph/shapes.py where ONNX stops).

    A symbolic batch dimension takes `batch_size` (1 when not given, and then reported as
    assumed); which axis is the batch follows graph/batch.py.
    """
    model = onnx.ModelProto()
    model.CopyFrom(loaded.proto)
    label = loaded.label
    given = dict(input_shapes or {})
    initializer_names = {tensor.name for tensor in model.graph.initializer}
    real_inputs = [value for value in model.graph.input if value.name not in initializer_names]
    unknown = set(given) - {value.name for value in real_inputs}
    if unknown:
        names = ", ".join(value.name for value in real_inputs)
        raise ShapeError(f"{label}: no graph input named {sorted(unknown)[0]!r}; inputs are: {names}")
    declared = {value.name: _declared_dims(value) for value in real_inputs}
    symbolic_axes = symbolic_batch_axes({name: dims for name, dims in declared.items()
                                         if dims is not None and name not in given})

    fixed: dict[str, tuple[int, ...]] = {}
    assumed = False
    for value in real_inputs:
        shape, batch_assumed = _input_shape(label, value, given.get(value.name), batch_size,
                                            symbolic_axes.get(value.name))
        fixed[value.name] = shape
        assumed = assumed or batch_assumed
        _set_dims(value, shape)

    # Stale value_info (e.g. an exporter's symbolic or fixed batch) must not fight the new shapes.
    del model.graph.value_info[:]
    for output in model.graph.output:
        if output.type.HasField("tensor_type"):
            output.type.tensor_type.ClearField("shape")
    try:
        inferred = onnx.shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError, ValueError,
            TypeError) as error:
        raise ShapeError(f"{label}: shape inference failed: {_first_line(error)}") from None
    values: dict[str, np.ndarray] = {}
    data_dependent: frozenset[str] = frozenset()
    if _has_unknown_shapes(inferred):
        inferred, resolution = resolve_shapes(model, inferred)
        values, data_dependent = resolution.values, resolution.data_dependent
    axes = {name: symbolic_axes.get(name) if name in symbolic_axes else _given_axis(declared[name], given, name)
            for name in fixed}
    for name, axis in axes.items():
        if axis is None and fixed[name]:
            axes[name] = flow_batch_axis(inferred, name)
            _check_fixed_batch(label, name, fixed[name], axes[name], batch_size)
    batches = [fixed[name][axis] for name, axis in axes.items() if axis is not None and fixed[name]]
    resolved_batch = batches[0] if batches else (batch_size or 1)
    return ShapedModel(inferred, fixed, resolved_batch, assumed, {k: v for k, v in axes.items() if v is not None},
                       values, data_dependent)


def _given_axis(dims: list[int | str] | None, given: dict[str, tuple[int, ...]], name: str) -> int | None:
    """A shape given in full keeps the axis its declaration marks (its first symbolic dim), else the graph decides."""
    if name in given and dims:
        return next((axis for axis, dim in enumerate(dims) if isinstance(dim, str)), None)
    return None


def _check_fixed_batch(label: str, name: str, shape: tuple[int, ...], axis: int, batch_size: int | None) -> None:
    if batch_size is not None and shape[axis] != batch_size:
        raise ShapeError(
            f"{label}: input {name!r} has a fixed batch dimension of {shape[axis]} (axis {axis}), "
            f"not {batch_size}; export the model with a dynamic batch axis or drop --batch-size"
        )


def _has_unknown_shapes(model: onnx.ModelProto) -> bool:
    """Whether some node output still lacks a concrete shape after ONNX's shape inference."""
    known = {value.name for value in [*model.graph.value_info, *model.graph.output, *model.graph.input]
             if value.type.HasField("tensor_type") and value.type.tensor_type.HasField("shape")
             and all(dim.HasField("dim_value") for dim in value.type.tensor_type.shape.dim)}
    known.update(tensor.name for tensor in model.graph.initializer)
    return any(name and name not in known for node in model.graph.node for name in node.output)


def _input_shape(label: str, value: onnx.ValueInfoProto, given: tuple[int, ...] | None,
                 batch_size: int | None, batch_axis: int | None) -> tuple[tuple[int, ...], bool]:
    """One input's concrete shape, and whether its batch dimension was assumed."""
    dims = _declared_dims(value)
    if given is not None:
        shape = tuple(int(d) for d in given)
        _check_given_shape(label, value.name, dims, shape)
        axis = _given_axis(dims, {value.name: shape}, value.name) or 0
        if batch_size is not None and shape and shape[axis] != batch_size:
            raise ShapeError(
                f"{label}: input {value.name!r} is given shape {shape} but batch size {batch_size}; "
                "drop one or make them agree"
            )
        return shape, False
    if dims is None:
        raise ShapeError(
            f"{label}: input {value.name!r} has no declared shape; pass it, e.g. --input-shape {value.name}=1x3x224x224"
        )
    shape: list[int] = []
    for axis, dim in enumerate(dims):
        if isinstance(dim, int):
            shape.append(dim)
        elif axis == batch_axis:
            shape.append(batch_size if batch_size is not None else 1)
        else:
            example = "x".join(str(d) if isinstance(d, int) else "N" for d in dims)
            raise ShapeError(
                f"{label}: input {value.name!r} dimension {axis} is symbolic ({dim!r}); "
                f"pass the full shape, e.g. --input-shape {value.name}={example} "
                f"(input_shapes={{'{value.name}': (...)}} from Python)"
            )
    assumed = batch_axis is not None and batch_size is None
    return tuple(shape), assumed


def _declared_dims(value: onnx.ValueInfoProto) -> list[int | str] | None:
    tensor_type = value.type.tensor_type
    if not value.type.HasField("tensor_type") or not tensor_type.HasField("shape"):
        return None
    dims: list[int | str] = []
    for dim in tensor_type.shape.dim:
        if dim.HasField("dim_value") and dim.dim_value > 0:
            dims.append(int(dim.dim_value))
        else:
            dims.append(dim.dim_param or "?")
    return dims


def _check_given_shape(label: str, name: str, dims: list[int | str] | None, shape: tuple[int, ...]) -> None:
    if any(d <= 0 for d in shape):
        raise ShapeError(f"{label}: input {name!r} shape {shape} must have positive dims")
    if dims is None:
        return
    if len(dims) != len(shape):
        raise ShapeError(f"{label}: input {name!r} has rank {len(dims)}, but the given shape {shape} has rank {len(shape)}")
    for axis, (declared, wanted) in enumerate(zip(dims, shape, strict=True)):
        if isinstance(declared, int) and declared != wanted:
            raise ShapeError(
                f"{label}: input {name!r} dimension {axis} is fixed at {declared} in the model, "
                f"but {wanted} was given; pass a shape that keeps the fixed dims"
            )


def _set_dims(value: onnx.ValueInfoProto, shape: tuple[int, ...]) -> None:
    tensor_shape = value.type.tensor_type.shape
    tensor_shape.ClearField("dim")
    for dim in shape:
        tensor_shape.dim.add().dim_value = dim


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
