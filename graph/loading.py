"""Load an ONNX model without its weight payloads and check it against its opset (inputs.py fixes its shapes).

graph/ is the only package that touches protobuf (tests/test_import_rules.py): this module reads
it, build.py writes it. Large tensors are cut down to name, type and dims while the file is
scanned (graph/wire.py), wherever they live, so memory follows the graph's structure, not its
weights; external data files are never opened. Every failure is a GraphError naming the file.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from graph.errors import ModelLoadError
from graph.schemas import check_schemas
from graph.views import NodeView, node_views, text
from graph.wire import PROTOBUF_DEPTH_LIMIT, FileWindow, NestingError, WireError, nesting_depth, strip_payloads

__all__ = ["MIN_OPSET", "LoadedModel", "ModelSource", "default_opset", "load_model", "source_label"]

ModelSource = str | os.PathLike | bytes | onnx.ModelProto

MIN_OPSET = 7
# A file up to this size is read whole and scanned in memory (the scanner reads it byte by byte, and through a
# FileWindow each byte is a Python call); a larger one through a window, so that its payloads are never read.
READ_WHOLE_BYTES = 1 << 20


@dataclass(frozen=True)
class LoadedModel:
    """A model with its weight payloads removed, the label used in error messages, and its nodes' views (read once:
    every later pass reads these, not the protobuf)."""

    proto: onnx.ModelProto
    label: str
    nodes: tuple[NodeView, ...]


def source_label(source: ModelSource) -> str:
    """How messages and reports name a model: its path, its graph's name, or <bytes>."""
    if isinstance(source, onnx.ModelProto):
        return text(source.graph.name) or "<ModelProto>"
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    return str(Path(source))


def load_model(source: ModelSource) -> LoadedModel:
    """Read a model from a path, bytes or ModelProto, keeping weights' dims but not their data."""
    label = source_label(source)
    if isinstance(source, onnx.ModelProto):
        model = _strip_proto(source, label)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        model = _parse_stripped(memoryview(source), label)
    else:
        model = _read_file(Path(source), label)
    return LoadedModel(model, label, _checked_nodes(model, label))


def _read_file(path: Path, label: str) -> onnx.ModelProto:
    """Open without blocking (a FIFO or device must not hang), then accept only a non-empty regular file."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ModelLoadError(f"{label}: file not found; check the path") from None
    except PermissionError:
        raise ModelLoadError(f"{label}: permission denied; make the file readable") from None
    except (OSError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ModelLoadError(f"{label}: cannot open it ({reason}); check the path") from None
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
        os.close(descriptor)
        if info.st_size == 0 and stat.S_ISREG(info.st_mode):
            raise ModelLoadError(f"{label}: file is empty; re-export the model")
        raise ModelLoadError(f"{label}: is not a file; pass the path of an .onnx file")
    with os.fdopen(descriptor, "rb", buffering=0) as handle:
        try:
            if info.st_size <= READ_WHOLE_BYTES:
                return _parse_stripped(memoryview(_read_whole(handle, info.st_size, label)), label)
            return _parse_stripped(FileWindow(handle, info.st_size), label)
        except OSError as error:
            raise ModelLoadError(f"{label}: cannot read it ({error.strerror or error}); check the file") from None


def _read_whole(handle, size: int, label: str) -> bytes:
    chunks, left = [], size
    while left:
        chunk = handle.read(left)  # an unbuffered read may return less than asked
        if not chunk:
            raise ModelLoadError(f"{label}: the file got shorter while it was read; read it again")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _checked_nodes(model: onnx.ModelProto, label: str) -> tuple[NodeView, ...]:
    """The model's node views, once the model is found to be one ONNX Runtime would load."""
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
    nodes = tuple(node_views(model.graph))
    check_schemas(model, label, nodes)
    return nodes


def default_opset(model: onnx.ModelProto) -> int | None:
    """The version of the default ONNX domain that the model imports."""
    for entry in model.opset_import:
        if text(entry.domain) in ("", "ai.onnx"):
            return int(entry.version)
    return None


def _strip_proto(model: onnx.ModelProto, label: str) -> onnx.ModelProto:
    """A parsed model's copy without large payloads: through the same wire scanner as files and bytes."""
    try:
        data = model.SerializeToString()
    except (ValueError, RuntimeError, DecodeError):  # over protobuf's 2 GB: copy it field by field instead
        return _copy_without_initializer_data(model)
    return _parse_stripped(memoryview(data), label)


def _copy_without_initializer_data(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy whose large graph initializers keep only name, type and dims (for models too large to serialize)."""
    stripped = onnx.ModelProto()
    _copy_fields(model, stripped, skip="graph")
    _copy_fields(model.graph, stripped.graph, skip="initializer")
    for tensor in model.graph.initializer:
        if tensor.ByteSize() <= 1024:
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


def _parse_stripped(buffer: memoryview | FileWindow, label: str) -> onnx.ModelProto:
    try:
        return onnx.ModelProto.FromString(bytes(strip_payloads(buffer)))
    except NestingError:
        raise ModelLoadError(_too_deep(label)) from None
    except (WireError, DecodeError, IndexError, ValueError, RecursionError):
        pass
    try:
        deep = nesting_depth(buffer) > PROTOBUF_DEPTH_LIMIT
    except (WireError, IndexError, ValueError, RecursionError):
        deep = False
    if deep:
        raise ModelLoadError(_too_deep(label))
    raise ModelLoadError(
        f"{label}: not a valid ONNX model (protobuf cannot parse it: truncated, corrupted or another format); "
        "re-export or re-download it"
    )


def _too_deep(label: str) -> str:
    return (f"{label}: its messages (subgraphs or types) nest deeper than protobuf's limit of "
            f"{PROTOBUF_DEPTH_LIMIT} levels; flatten the nested control flow and re-export it")
