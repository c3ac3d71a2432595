"""Load an ONNX model without its weight payloads, fix its input shapes and infer the rest.

graph/ is the only package that touches protobuf (tests/test_import_rules.py): this module reads
it, build.py writes it. Large tensors are cut down to name, type and dims while the file is
scanned, so a 240 MB model costs little more than its node list, and external data files are
never opened.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from graph.errors import ModelLoadError, ShapeError

__all__ = ["MIN_OPSET", "LoadedModel", "ModelSource", "fix_input_shapes", "load_model"]

ModelSource = str | os.PathLike | bytes | onnx.ModelProto

MIN_OPSET = 7
# A tensor whose serialized form is larger than this keeps only its name, type and dims.
# Shapes, axes and scalars that shape inference reads are far smaller.
_KEEP_TENSOR_BYTES = 1024

# Protobuf field numbers (onnx.proto): ModelProto.graph, GraphProto.initializer, and the
# TensorProto fields that hold data or point to external data.
_MODEL_GRAPH = 7
_GRAPH_INITIALIZER = 5
_TENSOR_DATA_FIELDS = frozenset({4, 5, 6, 7, 9, 10, 11, 13, 14})


@dataclass(frozen=True)
class LoadedModel:
    """A model with its weight payloads removed, and the label used in error messages."""

    proto: onnx.ModelProto
    label: str


def load_model(source: ModelSource) -> LoadedModel:
    """Read a model from a path, bytes or ModelProto, keeping weights' dims but not their data."""
    if isinstance(source, onnx.ModelProto):
        label = source.graph.name or "<ModelProto>"
        return LoadedModel(_check_model(_strip_proto(source), label), label)
    if isinstance(source, (bytes, bytearray, memoryview)):
        label = "<bytes>"
        return LoadedModel(_check_model(_parse_stripped(memoryview(source), label), label), label)
    path = Path(source)
    label = str(path)
    if not path.exists():
        raise ModelLoadError(f"{label}: file not found; check the path")
    if not path.is_file():
        raise ModelLoadError(f"{label}: is not a file; pass the path of an .onnx file")
    if path.stat().st_size == 0:
        raise ModelLoadError(f"{label}: file is empty; re-export the model")
    with path.open("rb", buffering=0) as handle:
        proto = _parse_stripped(_FileWindow(handle, path.stat().st_size), label)
    return LoadedModel(_check_model(proto, label), label)


def fix_input_shapes(
    loaded: LoadedModel,
    batch_size: int | None = None,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
) -> tuple[onnx.ModelProto, dict[str, tuple[int, ...]], int, bool]:
    """Give every graph input concrete dims and run shape inference with data propagation.

    Returns the inferred model, the fixed input shapes, the batch size and whether it was
    assumed (a symbolic batch dimension that the caller did not set).
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

    fixed: dict[str, tuple[int, ...]] = {}
    assumed = False
    for value in real_inputs:
        shape, batch_assumed = _input_shape(label, value, given.get(value.name), batch_size)
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
    if _has_unknown_shapes(inferred):
        inferred = _symbolic_shapes(inferred)
    batches = [shape[0] for shape in fixed.values() if shape]
    resolved_batch = batches[0] if batches else (batch_size or 1)
    return inferred, fixed, resolved_batch, assumed


def _has_unknown_shapes(model: onnx.ModelProto) -> bool:
    """Whether some node output still lacks a concrete shape after ONNX's shape inference."""
    known = {value.name for value in [*model.graph.value_info, *model.graph.output, *model.graph.input]
             if value.type.HasField("tensor_type") and value.type.tensor_type.HasField("shape")
             and all(dim.HasField("dim_value") for dim in value.type.tensor_type.shape.dim)}
    known.update(tensor.name for tensor in model.graph.initializer)
    return any(name and name not in known for node in model.graph.node for name in node.output)


def _symbolic_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """ONNX Runtime's symbolic shape inference, which follows shapes through Shape/Gather/Concat
    arithmetic, Resize and Pad where ONNX's own inference gives up; ONNX's result when it fails."""
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    try:
        resolved = SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    except Exception:  # a best-effort refinement: any failure keeps ONNX's own shapes
        return model
    return resolved if resolved is not None else model


def _input_shape(label: str, value: onnx.ValueInfoProto, given: tuple[int, ...] | None,
                 batch_size: int | None) -> tuple[tuple[int, ...], bool]:
    """One input's concrete shape, and whether its batch dimension was assumed."""
    dims = _declared_dims(value)
    if given is not None:
        shape = tuple(int(d) for d in given)
        _check_given_shape(label, value.name, dims, shape)
        if batch_size is not None and shape and shape[0] != batch_size:
            raise ShapeError(
                f"{label}: input {value.name!r} is given shape {shape} but batch size {batch_size}; "
                "drop one or make them agree"
            )
        return shape, False
    if dims is None:
        raise ShapeError(
            f"{label}: input {value.name!r} has no declared shape; pass it, e.g. --input-shape {value.name}=1x3x224x224"
        )
    if batch_size is not None and dims and isinstance(dims[0], int) and dims[0] != batch_size:
        raise ShapeError(
            f"{label}: input {value.name!r} has a fixed batch dimension of {dims[0]}, "
            f"not {batch_size}; export the model with a dynamic batch axis or drop --batch-size"
        )
    shape: list[int] = []
    for axis, dim in enumerate(dims):
        if isinstance(dim, int):
            shape.append(dim)
        elif axis == 0:
            shape.append(batch_size if batch_size is not None else 1)
        else:
            example = "x".join(str(d) if isinstance(d, int) else "N" for d in dims)
            raise ShapeError(
                f"{label}: input {value.name!r} dimension {axis} is symbolic ({dim!r}); "
                f"pass the full shape, e.g. --input-shape {value.name}={example} "
                f"(input_shapes={{'{value.name}': (...)}} from Python)"
            )
    assumed = bool(dims) and not isinstance(dims[0], int) and batch_size is None
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


def _check_model(model: onnx.ModelProto, label: str) -> onnx.ModelProto:
    if not model.HasField("graph") or len(model.graph.node) == 0:
        raise ModelLoadError(f"{label}: the model's graph has no nodes; is this an ONNX model?")
    opset = default_opset(model)
    newest = onnx.defs.onnx_opset_version()
    if opset is None:
        raise ModelLoadError(f"{label}: the model imports no default-domain opset; re-export it")
    if opset < MIN_OPSET:
        raise ModelLoadError(
            f"{label}: opset {opset} is older than {MIN_OPSET}; convert it with onnx.version_converter"
        )
    if opset > newest:
        raise ModelLoadError(f"{label}: opset {opset} is newer than onnx {onnx.__version__} knows ({newest}); upgrade onnx")
    return model


def default_opset(model: onnx.ModelProto) -> int | None:
    """The version of the default ONNX domain that the model imports."""
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return None


def _strip_proto(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of a parsed model whose large tensors keep only name, type and dims."""
    stripped = onnx.ModelProto()
    _copy_fields(model, stripped, skip="graph")
    _copy_fields(model.graph, stripped.graph, skip="initializer")
    for tensor in model.graph.initializer:
        if tensor.ByteSize() <= _KEEP_TENSOR_BYTES:
            stripped.graph.initializer.append(tensor)
        else:
            kept = stripped.graph.initializer.add()
            kept.name = tensor.name
            kept.data_type = tensor.data_type
            kept.dims.extend(tensor.dims)
    return stripped


def _copy_fields(source, target, skip: str) -> None:
    for descriptor, value in source.ListFields():
        if descriptor.name == skip:
            continue
        field = getattr(target, descriptor.name)
        if descriptor.is_repeated:
            field.extend(value)
        elif descriptor.type == descriptor.TYPE_MESSAGE:
            field.CopyFrom(value)
        else:
            setattr(target, descriptor.name, value)


def _parse_stripped(buffer: memoryview | _FileWindow, label: str) -> onnx.ModelProto:
    try:
        data = _strip_fields(buffer, 0, len(buffer), _strip_model_field)
        return onnx.ModelProto.FromString(bytes(data))
    except (_WireError, DecodeError, IndexError, ValueError):
        raise ModelLoadError(
            f"{label}: not a valid ONNX model (truncated or not protobuf); re-export or re-download it"
        ) from None


class _WireError(Exception):
    pass


class _FileWindow:
    """Byte access to a file through a small moving window, so skipped payloads are never read.

    (A memory map would do, but page-cache folios are mapped whole on first touch, which drags
    most of a large model into resident memory even though only the headers are looked at.)
    """

    WINDOW = 1 << 14

    def __init__(self, handle, size: int) -> None:
        self.handle = handle
        self.size = size
        self.start = 0
        self.data = b""

    def __len__(self) -> int:
        return self.size

    def _read(self, start: int, length: int) -> bytes:
        self.handle.seek(start)
        data = self.handle.read(length)
        if len(data) != length:
            raise _WireError("file changed while reading")
        return data

    def __getitem__(self, key):
        if isinstance(key, slice):
            start, stop = key.start, min(key.stop, self.size)
            if self.start <= start and stop <= self.start + len(self.data):
                return self.data[start - self.start: stop - self.start]
            return self._read(start, stop - start)
        if not self.start <= key < self.start + len(self.data):
            if not 0 <= key < self.size:
                raise IndexError(key)
            self.start = key
            self.data = self._read(key, min(self.WINDOW, self.size - key))
        return self.data[key - self.start]


def _varint(buffer: memoryview, position: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        byte = buffer[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, position
        shift += 7
        if shift > 63:
            raise _WireError("varint too long")


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(buffer: memoryview, start: int, end: int):
    """Yield (field number, wire type, field start, value start, value end) of one message."""
    position = start
    while position < end:
        field_start = position
        key, position = _varint(buffer, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, position = _varint(buffer, position)
            value_start = field_start
        elif wire_type == 1:
            value_start, position = position, position + 8
        elif wire_type == 2:
            length, value_start = _varint(buffer, position)
            position = value_start + length
        elif wire_type == 5:
            value_start, position = position, position + 4
        else:
            raise _WireError(f"unsupported wire type {wire_type}")
        if position > end or number == 0:
            raise _WireError("truncated message")
        yield number, wire_type, field_start, value_start, position


def _strip_fields(buffer: memoryview, start: int, end: int, rewrite) -> bytearray:
    out = bytearray()
    for number, wire_type, field_start, value_start, value_end in _fields(buffer, start, end):
        replacement = rewrite(buffer, number, wire_type, value_start, value_end)
        if replacement is None:
            out += buffer[field_start:value_end]
        elif replacement:
            out += _encode_varint((number << 3) | 2) + _encode_varint(len(replacement)) + replacement
    return out


def _strip_model_field(buffer: memoryview, number: int, wire_type: int, start: int, end: int):
    if number == _MODEL_GRAPH and wire_type == 2:
        return _strip_fields(buffer, start, end, _strip_graph_field)
    return None


def _strip_graph_field(buffer: memoryview, number: int, wire_type: int, start: int, end: int):
    if number == _GRAPH_INITIALIZER and wire_type == 2 and end - start > _KEEP_TENSOR_BYTES:
        return _strip_fields(buffer, start, end, _drop_tensor_data)
    return None


def _drop_tensor_data(buffer: memoryview, number: int, wire_type: int, start: int, end: int):
    return b"" if number in _TENSOR_DATA_FIELDS else None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
