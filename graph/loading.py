"""Load an ONNX model without its weight payloads and check it against its opset (inputs.py fixes its shapes).

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

from graph.errors import ModelLoadError
from graph.schemas import check_schemas

__all__ = ["MIN_OPSET", "LoadedModel", "ModelSource", "default_opset", "load_model"]

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
    check_schemas(model, label)
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
