"""An ONNX model's protobuf wire format, read without decoding it: payloads cut out, nesting measured.

A tensor larger than KEEP_TENSOR_BYTES keeps its name, type and dims but loses its data, wherever
it lives: graph initializers, Constant and ConstantOfShape values, subgraphs (If, Loop, Scan),
sparse tensors, functions and training graphs. Which fields of which message hold messages is
kept as data (SUBMESSAGES), so a new place is one line. Only messages larger than
KEEP_TENSOR_BYTES are opened (a smaller one cannot hold a larger tensor), so a graph of a million
small nodes costs one pass over its bytes.
"""

from __future__ import annotations

__all__ = ["KEEP_TENSOR_BYTES", "PROTOBUF_DEPTH_LIMIT", "FileWindow", "NestingError", "WireError", "nesting_depth",
           "strip_payloads"]

# Shapes, axes and scalars that shape inference reads are far smaller than this.
KEEP_TENSOR_BYTES = 1024
PROTOBUF_DEPTH_LIMIT = 100  # protobuf refuses messages nested deeper than this

# message kind -> {field number: kind of the message it holds} (onnx.proto field numbers).
SUBMESSAGES: dict[str, dict[int, str]] = {
    "model": {7: "graph", 20: "training", 25: "function"},
    "graph": {1: "node", 5: "tensor", 15: "sparse", 11: "value", 12: "value", 13: "value"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse", 14: "type",
                  15: "type"},
    "sparse": {1: "tensor", 2: "tensor"},
    "training": {1: "graph", 2: "graph"},
    "function": {7: "node", 11: "attribute", 12: "value"},
    "value": {2: "type"},
    "type": {1: "tensor_type", 8: "tensor_type", 4: "element", 5: "map", 9: "element"},
    "tensor_type": {2: "shape"},
    "shape": {1: "dim"},
    "dim": {},
    "element": {1: "type"},  # sequence_type and optional_type: elem_type
    "map": {2: "type"},
    "tensor": {},
}
# doc_string of each kind: free text, dropped when large.
DOC_STRING = {"model": 6, "graph": 10, "node": 6, "attribute": 13, "function": 8, "value": 3, "tensor": 12}
# TensorProto fields that hold data or say where it lives: float, int32, string, int64, raw, double,
# uint64 data and external_data.
TENSOR_DATA_FIELDS = frozenset({4, 5, 6, 7, 9, 10, 11, 13})


class WireError(Exception):
    """The bytes are not a well-formed protobuf message."""


class NestingError(WireError):
    """Messages nest deeper than protobuf parses."""


class FileWindow:
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
            raise WireError("file changed while reading")
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


def strip_payloads(buffer) -> bytearray:
    """A serialized ModelProto (bytes or FileWindow) rewritten without its large tensors' data."""
    return _rewrite(buffer, 0, len(buffer), "model", 1)


def nesting_depth(buffer) -> int:
    """How deep the model's messages nest (1: the model alone), following every known message field."""
    return _depth(buffer, 0, len(buffer), "model", 1)


def _rewrite(buffer, start: int, end: int, kind: str, depth: int) -> bytearray:
    if depth > PROTOBUF_DEPTH_LIMIT:
        raise NestingError(f"messages nest deeper than {PROTOBUF_DEPTH_LIMIT} levels")
    children = SUBMESSAGES[kind]
    doc_string = DOC_STRING.get(kind)
    strip_data = kind == "tensor" and end - start > KEEP_TENSOR_BYTES
    out = bytearray()
    for number, wire_type, field_start, value_start, value_end in _fields(buffer, start, end):
        large = value_end - value_start > KEEP_TENSOR_BYTES
        if strip_data and number in TENSOR_DATA_FIELDS:
            continue
        if number == doc_string and wire_type == 2 and (large or strip_data):
            continue
        child = children.get(number) if wire_type == 2 else None
        if child is not None and (large or kind == "model"):
            inner = _rewrite(buffer, value_start, value_end, child, depth + 1)
            out += _encode_varint((number << 3) | 2) + _encode_varint(len(inner)) + inner
        else:
            out += buffer[field_start:value_end]
    return out


def _depth(buffer, start: int, end: int, kind: str, depth: int) -> int:
    deepest = depth
    if depth > PROTOBUF_DEPTH_LIMIT:
        return deepest
    children = SUBMESSAGES[kind]
    for number, wire_type, _, value_start, value_end in _fields(buffer, start, end):
        child = children.get(number) if wire_type == 2 else None
        if child is not None:
            deepest = max(deepest, _depth(buffer, value_start, value_end, child, depth + 1))
    return deepest


def _varint(buffer, position: int) -> tuple[int, int]:
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
            raise WireError("varint too long")


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


def _fields(buffer, start: int, end: int):
    """Yield (field number, wire type, field start, value start, value end) of one message."""
    position = start
    while position < end:
        field_start = position
        key = buffer[position]
        if key < 0x80:  # (a one-byte key and length: nearly every field of a graph, read without a call)
            position += 1
        else:
            key, position = _varint(buffer, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, position = _varint(buffer, position)
            value_start = field_start
        elif wire_type == 1:
            value_start, position = position, position + 8
        elif wire_type == 2:
            length = buffer[position]
            if length < 0x80:
                value_start = position + 1
            else:
                length, value_start = _varint(buffer, position)
            position = value_start + length
        elif wire_type == 5:
            value_start, position = position, position + 4
        else:
            raise WireError(f"unsupported wire type {wire_type}")
        if position > end or number == 0:
            raise WireError("truncated message")
        yield number, wire_type, field_start, value_start, position
