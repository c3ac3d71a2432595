"""Fix a loaded model's input shapes and infer every other shape (graph/shapes.py where ONNX stops).

Which axis of each input is the batch follows graph/batch.py; `--batch-size` sets that axis.
Sizes are untrusted: a batch size or dim that is not positive, or larger than the arithmetic
represents (MAX_DIM per axis, MAX_INPUT_ELEMENTS per input), is an error that says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import onnx

from graph.batch import flow_batch_axis, model_shapes, symbolic_batch_axes
from graph.errors import BatchSizeError, ShapeError
from graph.heap import LARGE_GRAPH_NODES, release_freed_memory
from graph.inference import TensorTypes, infer_shapes, unknown_outputs
from graph.loading import LoadedModel
from graph.views import NodeView, text

__all__ = ["MAX_DIM", "MAX_INPUT_ELEMENTS", "MAX_RANK", "ShapedModel", "check_batch_size", "fix_input_shapes"]

# What the arithmetic represents exactly: features are float64 (exact integers up to 2**53), and
# no device holds a tensor of more than 2**40 elements along one axis.
MAX_DIM = 2**40
MAX_INPUT_ELEMENTS = 2**53
MAX_RANK = 64


@dataclass(frozen=True)
class ShapedModel:
    """A model with concrete input shapes, and every shape that could be inferred.

    `model` is the model as loaded (its inputs as declared) and `nodes` its node views (graph.loading.LoadedModel);
    `input_shapes` are the fixed input shapes, and `types` every shape (graph.inference.TensorTypes).
    `batch_axes` names each input's batch axis (graph/batch.py); `values` are small tensors
    computed from shapes (constants once the inputs are fixed); `data_dependent` names tensors
    whose size depends on input values and was set to its upper bound (graph/shapes.py).
    """

    model: onnx.ModelProto
    nodes: tuple[NodeView, ...]
    types: TensorTypes
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
    dimensions: dict[str, int] | None = None,
) -> ShapedModel:
    """Give every graph input concrete dims and infer every other shape (graph/shapes.py where ONNX stops).

    A symbolic batch dimension takes `batch_size` (1 when not given, and then reported as
    assumed); which axis is the batch follows graph/batch.py. `dimensions` sizes symbolic
    dimensions by name (e.g. {"sequence": 128}) in every input that declares them.
    """
    label = loaded.label
    batch_size = check_batch_size(label, batch_size)
    given = _checked_given_shapes(label, input_shapes)
    named = _checked_dimensions(label, dimensions)
    for_inference = onnx.ModelProto()  # (the loaded model with its inputs fixed, for ONNX's inference alone)
    for_inference.CopyFrom(loaded.proto)
    initializer_names = {text(tensor.name) for tensor in for_inference.graph.initializer}
    real_inputs = [value for value in for_inference.graph.input if text(value.name) not in initializer_names]
    unknown = set(given) - {text(value.name) for value in real_inputs}
    if unknown:
        names = ", ".join(text(value.name) for value in real_inputs)
        raise ShapeError(f"{label}: no graph input named {sorted(unknown)[0]!r}; inputs are: {names}")
    declared = {text(value.name): _declared_dims(value) for value in real_inputs}
    symbolic_axes = symbolic_batch_axes({name: dims for name, dims in declared.items()
                                         if dims is not None and name not in given})
    _check_dimensions_used(label, named, {name: dims for name, dims in declared.items() if name not in given})

    fixed: dict[str, tuple[int, ...]] = {}
    assumed = False
    for value in real_inputs:
        name = text(value.name)
        shape, batch_assumed = _input_shape(label, name, declared[name], given.get(name), batch_size,
                                            symbolic_axes.get(name), named)
        fixed[name] = shape
        assumed = assumed or batch_assumed
        _set_dims(value, shape)

    # Stale value_info (e.g. an exporter's symbolic or fixed batch) must not fight the new shapes.
    del for_inference.graph.value_info[:]
    for output in for_inference.graph.output:
        if output.type.HasField("tensor_type"):
            output.type.tensor_type.ClearField("shape")
    # ONNX reads the copy's bytes, and the copy is freed before ONNX's result is read in beside the loaded model.
    # From here on the loaded model and its node views are what is read.
    serialized = for_inference.SerializeToString()
    del for_inference
    model, nodes = loaded.proto, loaded.nodes
    types = infer_shapes(serialized, label)
    del serialized
    if len(nodes) >= LARGE_GRAPH_NODES:
        release_freed_memory()  # (ONNX's inferred model, read and freed: graph/heap.py)
    values: dict[str, np.ndarray] = {}
    data_dependent: frozenset[str] = frozenset()
    if unknown_outputs(model, nodes, types):
        from graph.shapes import resolve_shapes  # ONNX's reference ops load only for graphs that need them

        types, resolution = resolve_shapes(model, types, nodes)
        values, data_dependent = resolution.values, resolution.data_dependent
    axes = {name: symbolic_axes.get(name) if name in symbolic_axes else _given_axis(declared[name], given, name)
            for name in fixed}
    shapes = None
    for name, axis in axes.items():
        if axis is None and fixed[name]:
            shapes = model_shapes(model, types) if shapes is None else shapes
            axes[name] = flow_batch_axis(nodes, name, shapes)
            _check_fixed_batch(label, name, fixed[name], axes[name], batch_size)
    batches = [fixed[name][axis] for name, axis in axes.items() if axis is not None and fixed[name]]
    resolved_batch = batches[0] if batches else (batch_size or 1)
    return ShapedModel(model, nodes, types, fixed, resolved_batch, assumed,
                       {k: v for k, v in axes.items() if v is not None}, values, data_dependent)


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


def check_batch_size(label: str, batch_size: int | None) -> int | None:
    """`batch_size` when it is None or a positive int the arithmetic represents; else a BatchSizeError."""
    if batch_size is None:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise BatchSizeError(f"{label}: batch_size must be a positive int, got {type(batch_size).__name__}")
    if batch_size <= 0:
        raise BatchSizeError(f"{label}: batch_size must be positive, got {batch_size}")
    if batch_size > MAX_DIM:
        raise BatchSizeError(f"{label}: batch_size {batch_size} is larger than the estimator represents "
                             f"(at most 2**40); pass a realistic batch size")
    return batch_size


def _checked_dimensions(label: str, dimensions) -> dict[str, int]:
    """Named symbolic dimensions with sizes the arithmetic represents; anything else is a ShapeError."""
    named: dict[str, int] = {}
    try:
        items = dict(dimensions or {}).items()
    except (TypeError, ValueError):
        raise ShapeError(f"{label}: dimensions must map names to sizes, e.g. {{'sequence': 128}}") from None
    for name, size in items:
        if not isinstance(name, str) or not name or isinstance(size, bool) or not isinstance(size, int):
            raise ShapeError(f"{label}: dimension {name!r}: expected a name and an int size, got {size!r}")
        if not 0 < size <= MAX_DIM:
            raise ShapeError(f"{label}: dimension {name!r} = {size}: must be positive and at most 2**40")
        named[name] = size
    return named


def _check_dimensions_used(label: str, named: dict[str, int], declared: dict[str, list[int | str] | None]) -> None:
    """Every named dimension must size some input (a misspelt name would otherwise change nothing)."""
    symbolic = {dim for dims in declared.values() if dims for dim in dims if isinstance(dim, str)}
    for name in named:
        if name not in symbolic:
            known = ", ".join(repr(dim) for dim in sorted(symbolic)) or "none"
            raise ShapeError(f"{label}: no input has a symbolic dimension named {name!r} (its symbolic dimensions: "
                             f"{known}); name one of those")


def _checked_given_shapes(label: str, input_shapes) -> dict[str, tuple[int, ...]]:
    given: dict[str, tuple[int, ...]] = {}
    for name, dims in dict(input_shapes or {}).items():
        try:
            shape = tuple(dims)
        except TypeError:
            shape = None
        if not isinstance(name, str) or shape is None or \
                not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
            raise ShapeError(f"{label}: input shape {name!r}: expected a name and a tuple of ints")
        _check_dims(label, name, shape, "given shape")
        given[name] = shape
    return given


def _check_dims(label: str, name: str, shape: tuple[int, ...], what: str) -> None:
    """Positive dims, a rank and a size that the arithmetic represents."""
    if any(d <= 0 for d in shape):
        raise ShapeError(f"{label}: input {name!r} {what} {_short(shape)} must have positive dims")
    if len(shape) > MAX_RANK or any(d > MAX_DIM for d in shape) or math.prod(shape) > MAX_INPUT_ELEMENTS:
        raise ShapeError(f"{label}: input {name!r} {what} {_short(shape)} is larger than the estimator represents "
                         f"(rank <= {MAX_RANK}, dims <= 2**40, at most 2**53 elements)")


def _short(shape: tuple[int, ...]) -> str:
    shown = str(shape)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _input_shape(label: str, name: str, dims: list[int | str] | None, given: tuple[int, ...] | None,
                 batch_size: int | None, batch_axis: int | None,
                 named: dict[str, int]) -> tuple[tuple[int, ...], bool]:
    """One input's concrete shape, and whether its batch dimension was assumed.

    Declared dims are ints (positive: fixed; zero or negative: not a size) or strings (symbolic);
    a symbolic dim whose name is in `named` takes that size, the batch axis among them.
    """
    if given is not None:
        _check_given_shape(label, name, dims, given)
        axis = _given_axis(dims, {name: given}, name) or 0
        if batch_size is not None and given and given[axis] != batch_size:
            raise ShapeError(
                f"{label}: input {name!r} is given shape {_short(given)} but batch size {batch_size}; "
                "drop one or make them agree"
            )
        return given, False
    if dims is None:
        raise ShapeError(
            f"{label}: input {name!r} has no declared shape; pass it, e.g. --input-shape {name}=1x3x224x224"
        )
    shape: list[int] = []
    example = "x".join(str(d) if isinstance(d, int) and d > 0 else "N" for d in dims)
    for axis, dim in enumerate(dims):
        if isinstance(dim, int) and dim > 0:
            shape.append(dim)
        elif isinstance(dim, str) and dim in named:
            if axis == batch_axis and batch_size is not None and batch_size != named[dim]:
                raise ShapeError(f"{label}: input {name!r}: its batch dimension {dim!r} is given as {named[dim]} and "
                                 f"the batch size as {batch_size}; drop one or make them agree")
            shape.append(named[dim])
        elif axis == batch_axis or (isinstance(dim, int) and axis == 0 and batch_size is not None):
            shape.append(batch_size if batch_size is not None else 1)
        elif isinstance(dim, int):
            raise ShapeError(
                f"{label}: input {name!r} dimension {axis} is declared as {dim}, which is not a size; "
                f"pass the real one, e.g. --input-shape {name}={example}" + (" or --batch-size N" if axis == 0 else "")
            )
        elif dim == "?":  # unnamed: only a full shape can size it
            raise ShapeError(
                f"{label}: input {name!r} dimension {axis} is symbolic and unnamed; "
                f"pass the full shape, e.g. --input-shape {name}={example} "
                f"(input_shapes={{'{name}': (...)}} from Python)"
            )
        else:
            raise ShapeError(
                f"{label}: input {name!r} dimension {axis} is symbolic ({dim!r}); "
                f"pass its size, e.g. --dim {dim}=N, or the full shape, e.g. --input-shape {name}={example} "
                f"(dimensions={{{dim!r}: N}} or input_shapes={{'{name}': (...)}} from Python)"
            )
    _check_dims(label, name, tuple(shape), "declared shape")
    assumed = batch_axis is not None and batch_size is None and dims[batch_axis] not in named
    return tuple(shape), assumed


def _declared_dims(value: onnx.ValueInfoProto) -> list[int | str] | None:
    tensor_type = value.type.tensor_type
    if not value.type.HasField("tensor_type") or not tensor_type.HasField("shape"):
        return None
    dims: list[int | str] = []
    for dim in tensor_type.shape.dim:
        if dim.HasField("dim_value"):
            dims.append(int(dim.dim_value))
        else:
            dims.append(text(dim.dim_param) or "?")
    return dims


def _check_given_shape(label: str, name: str, dims: list[int | str] | None, shape: tuple[int, ...]) -> None:
    if dims is None:
        return
    if len(dims) != len(shape):
        raise ShapeError(f"{label}: input {name!r} has rank {len(dims)}, but the given shape {_short(shape)} "
                         f"has rank {len(shape)}")
    for axis, (declared, wanted) in enumerate(zip(dims, shape, strict=True)):
        if isinstance(declared, int) and declared > 0 and declared != wanted:
            raise ShapeError(
                f"{label}: input {name!r} dimension {axis} is fixed at {declared} in the model, "
                f"but {wanted} was given; pass a shape that keeps the fixed dims"
            )


def _set_dims(value: onnx.ValueInfoProto, shape: tuple[int, ...]) -> None:
    tensor_shape = value.type.tensor_type.shape
    tensor_shape.ClearField("dim")
    for dim in shape:
        tensor_shape.dim.add().dim_value = dim
