"""Seeded mutations of ONNX models: attributes, operands (omitted ones too: '' and trailing ones left off), dims,
op types and domains, initializers, subgraphs, names and raw bytes. Each mutant is one seed with one to three
mutations applied.
"""

from __future__ import annotations

import random

import numpy as np
import onnx
from onnx import defs, helper

__all__ = ["INVALID_UTF8", "MUTATIONS", "deeply_nested", "hostile_names", "mutate_model"]

A = onnx.AttributeProto
FLOAT, INT64 = onnx.TensorProto.FLOAT, onnx.TensorProto.INT64
INVALID_UTF8 = b"\xff\xfe\xc3("
_MARKER = "INVALIDUTF8MARKER"  # replaced by INVALID_UTF8 in the serialized bytes
OP_TYPES = ("Conv", "Gemm", "MatMul", "ReduceMean", "ReduceMax", "MaxPool", "AveragePool", "GlobalAveragePool",
            "GlobalMaxPool", "Relu", "Add", "Mul", "Loop", "If", "Scan", "Constant", "ConstantOfShape", "Reshape",
            "Resize", "Concat", "Split", "Flatten", "BatchNormalization", "ConvTranspose", "QLinearConv", "Foo", "",
            "Softmax", "LayerNormalization", "Expand", "Tile", "Range", "Slice", "Gather", "Shape", "Identity")
DOMAINS = ("", "ai.onnx", "com.microsoft", "ai.onnx.ml", "custom.domain", _MARKER, "\n\x1b[31m")
ATTRIBUTE_NAMES = ("group", "kernel_shape", "strides", "pads", "dilations", "auto_pad", "transA", "transB", "axes",
                   "keepdims", "ceil_mode", "count_include_pad", "axis", "value", "alpha", "to", "mode")
EXTREME_INTS = (0, -1, 1, 2, 3, 7, 2**31 - 1, 2**31, 2**62, -(2**63), 2**63 - 1, 10**18)


def hostile_names() -> tuple[str, ...]:
    """Names that try to break rendering: formulas, Markdown, HTML, escape sequences, invalid UTF-8, length."""
    return ("=cmd|' /C calc'!A0", "+SUM(A1:A9)", "-2+3", "@import", "a|b|c", "`code` **bold** [x](javascript:1)",
            "<script>alert(1)</script>", "line\nbreak", "\x1b[2J\x1b[31mred", "tab\there\r", "\u202eevil", "",
            "x" * 5000, _MARKER, "名前", "\x00nul")


def mutate_model(data: bytes, rng: random.Random, applied: list[str] | None = None) -> bytes:
    """One mutant of the serialized model `data` (the names of the mutations that applied are added to `applied`)."""
    model = onnx.ModelProto.FromString(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        name = rng.choice(list(MUTATIONS))
        try:
            MUTATIONS[name](model, rng)
        except Exception:  # the seed has nothing to mutate this way
            continue
        if applied is not None:
            applied.append(name)
    try:
        out = model.SerializeToString()
    except Exception:  # protobuf refused the mutant; keep the seed
        out = data
    out = out.replace(_MARKER.encode(), INVALID_UTF8)
    if rng.random() < 0.03:
        out += deeply_nested(rng.choice((20, 31, 34, 60, 300)))
    if rng.random() < 0.12:
        out = _mutate_bytes(out, rng)
    return out


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def deeply_nested(depth: int) -> bytes:
    """A ModelProto holding one If whose branch holds an If ... `depth` deep, written byte by byte.

    (protobuf itself refuses to build what it cannot parse; appended to a model, protobuf merges it in.)
    """
    graph = _field(2, b"leaf")
    for level in range(depth):
        attribute = _field(1, b"then_branch") + _field(6, graph) + _varint(20 << 3) + _varint(A.GRAPH)
        node = _field(1, b"cond") + _field(2, f"o{level}".encode()) + _field(4, b"If") + _field(5, attribute)
        graph = _field(1, node) + _field(2, f"g{level}".encode())
    return _field(7, graph)


def _node(model, rng) -> onnx.NodeProto:
    return rng.choice(model.graph.node)


def _attribute_value(rng: random.Random, name: str) -> onnx.AttributeProto:
    kind = rng.choice(("int", "ints", "float", "floats", "string", "strings", "tensor", "graph", "empty", "nan"))
    if kind == "int":
        return helper.make_attribute(name, rng.choice(EXTREME_INTS))
    if kind == "ints":
        return helper.make_attribute(name, [rng.choice(EXTREME_INTS) for _ in range(rng.choice((0, 1, 2, 4, 5, 64)))])
    if kind == "float":
        return helper.make_attribute(name, rng.choice((0.5, -1.0, 1e308, float("inf"))))
    if kind == "nan":
        return helper.make_attribute(name, float("nan"))
    if kind == "floats":
        return helper.make_attribute(name, [float("nan"), 1.5])
    if kind == "string":
        return helper.make_attribute(name, rng.choice(("SAME_UPPER", "VALID", "BOGUS", "", _MARKER, "x" * 3000)))
    if kind == "strings":
        return helper.make_attribute(name, ["a", _MARKER])
    if kind == "tensor":
        return helper.make_attribute(name, helper.make_tensor("t", INT64, [2], [2, 3]))
    if kind == "graph":
        return helper.make_attribute(name, helper.make_graph([], "g", [], []))
    attribute = onnx.AttributeProto(name=name)  # no type, no value
    attribute.type = rng.choice((A.UNDEFINED, A.INT, A.TENSOR))
    return attribute


def attribute_type(model, rng) -> None:
    node = _node(model, rng)
    if not node.attribute:
        raise IndexError
    index = rng.randrange(len(node.attribute))
    node.attribute[index].CopyFrom(_attribute_value(rng, node.attribute[index].name))


def attribute_add(model, rng) -> None:
    _node(model, rng).attribute.append(_attribute_value(rng, rng.choice(ATTRIBUTE_NAMES)))


def attribute_drop(model, rng) -> None:
    node = _node(model, rng)
    del node.attribute[rng.randrange(len(node.attribute))]


def operand_drop(model, rng) -> None:
    node = _node(model, rng)
    if rng.random() < 0.3:
        del node.input[:]
    else:
        del node.input[rng.randrange(len(node.input))]


def operand_add(model, rng) -> None:
    node = _node(model, rng)
    names = [n for other in model.graph.node for n in other.output] + [i.name for i in model.graph.initializer]
    node.input.append(rng.choice([*names, "", "nowhere", _MARKER]))


def operand_rename(model, rng) -> None:
    node = _node(model, rng)
    names = [n for other in model.graph.node for n in other.output] + [i.name for i in model.graph.initializer]
    target = node.input if node.input and rng.random() < 0.7 else node.output
    target[rng.randrange(len(target))] = rng.choice([*names, "", "nowhere", node.output[0] if node.output else "y"])


# -- omitted inputs and outputs: ONNX writes '' for an absent optional one, and may leave trailing ones off


def operand_omit(model, rng) -> None:
    """An input written as '', at any position: an optional one (absent) or a required one (an error)."""
    node = rng.choice([node for node in model.graph.node if node.input])
    node.input[rng.randrange(len(node.input))] = ""


def operand_omit_trailing(model, rng) -> None:
    """A node's last inputs left off, or written as '' (both mean omitted)."""
    node = rng.choice([node for node in model.graph.node if len(node.input) > 1])
    keep = rng.randrange(1, len(node.input))
    if rng.random() < 0.5:
        del node.input[keep:]
    else:
        node.input[keep:] = [""] * (len(node.input) - keep)


def optional_omit(model, rng) -> None:
    """An optional input of a node's schema written as '', padding the inputs before it with '' when they are
    left off (Conv's bias, Clip's min, Resize's roi and scales, Pad's constant_value, LSTM's B ...)."""
    opset = next((entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")), 17)
    candidates = []
    for node in model.graph.node:
        try:
            schema = defs.get_schema(node.op_type, int(opset), node.domain)
        except Exception:  # no schema (custom op, odd opset): not a candidate
            continue
        optional = [position for position, formal in enumerate(schema.inputs)
                    if formal.option == defs.OpSchema.FormalParameterOption.Optional]
        if optional:
            candidates.append((node, optional))
    node, optional = rng.choice(candidates)
    position = rng.choice(optional)
    while len(node.input) <= position:
        node.input.append("")
    node.input[position] = ""
    if rng.random() < 0.3 and len(node.input) > position + 1:
        del node.input[position + 1:]  # and the optional ones after it left off


def output_omit(model, rng) -> None:
    """An output written as '' (MaxPool's Indices, LSTM's Y, Dropout's mask are optional), or an extra '' output."""
    node = rng.choice([node for node in model.graph.node if node.output])
    if rng.random() < 0.4:
        node.output.append("")
    else:
        node.output[rng.randrange(len(node.output))] = ""


_OMITTED_OPS = {"Add": 2, "Mul": 2, "Sum": 3, "Max": 2, "Concat": 3, "Clip": 3, "Resize": 4, "Pad": 3,
                "BatchNormalization": 5, "Relu": 1, "Gemm": 3, "MatMul": 2, "Transpose": 1, "MaxPool": 1}


def omitted_operand_node(model, rng) -> None:
    """A new node on a tensor (a Conv's output when there is one: inside an NCHWc region) with some operands
    written as '' or left off, in the default domain (checked against the schema) or com.microsoft's (not):
    the case of issue 18, an Add with an input '' after a Conv."""
    producers = [node for node in model.graph.node if node.output and node.output[0]]
    convs = [node for node in producers if node.op_type == "Conv"]
    producer = rng.choice(convs if convs and rng.random() < 0.7 else producers)
    tensor = producer.output[0]
    op = rng.choice(list(_OMITTED_OPS))
    inputs = [tensor] * _OMITTED_OPS[op]
    for position in rng.sample(range(len(inputs)), rng.randint(1, len(inputs))):
        inputs[position] = ""
    if rng.random() < 0.3:
        while inputs and not inputs[-1]:
            inputs.pop()  # trailing ones left off rather than written as ''
    domain = rng.choice(("", "", "com.microsoft"))
    if domain and not any(entry.domain == domain for entry in model.opset_import):
        model.opset_import.append(helper.make_opsetid(domain, 1))
    output = f"{tensor}/omitted_{op}"
    attributes = {"axis": 1} if op == "Concat" else {}
    node = helper.make_node(op, inputs, [output], name=f"omitted_{op}", domain=domain, **attributes)
    nodes = list(model.graph.node)
    at = nodes.index(producer) + 1
    readers = [other for other in nodes[at:] if tensor in other.input]
    if readers and rng.random() < 0.7:
        reader = rng.choice(readers)  # the new node sits in the middle of the graph
        reader.input[:] = [output if name == tensor else name for name in reader.input]
    else:
        model.graph.output.append(helper.make_tensor_value_info(output, onnx.TensorProto.UNDEFINED, None))
    model.graph.node.insert(at, node)


def dims(model, rng) -> None:
    value = rng.choice(list(model.graph.input))
    shape = value.type.tensor_type.shape
    choice = rng.random()
    if choice < 0.15:
        value.type.tensor_type.ClearField("shape")
    elif choice < 0.3 or not shape.dim:
        shape.dim.add().dim_value = rng.choice((1, 0, 3))
    elif choice < 0.4:
        del shape.dim[rng.randrange(len(shape.dim))]
    else:
        dim = shape.dim[rng.randrange(len(shape.dim))]
        if rng.random() < 0.3:
            dim.dim_param = rng.choice(("N", "height", _MARKER, ""))
        else:
            dim.dim_value = rng.choice((0, -1, -7, 1, 5, 2**20, 2**40, 2**52, 2**62, 10**18, 2**63 - 1))


def initializer(model, rng) -> None:
    tensor = rng.choice(list(model.graph.initializer))
    choice = rng.random()
    if choice < 0.25:
        tensor.dims[:] = [rng.choice((0, -1, 2**40, 2**62, 10**18, 3)) for _ in range(rng.choice((0, 1, 2, 4)))]
    elif choice < 0.45:
        tensor.data_type = rng.choice((0, 7, 8, 16, 95, 2**30))
    elif choice < 0.6:
        tensor.raw_data = bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 7, 64))))
    elif choice < 0.75:
        tensor.data_location = onnx.TensorProto.EXTERNAL
        tensor.ClearField("raw_data")
        del tensor.external_data[:]
        entry = tensor.external_data.add()
        entry.key, entry.value = "location", rng.choice(("/etc/passwd", "../../../../etc/shadow", "/dev/zero", "w.bin"))
    else:
        tensor.name = rng.choice(("", "x", tensor.name + "_renamed", _MARKER))


def op_type(model, rng) -> None:
    _node(model, rng).op_type = rng.choice(OP_TYPES)


def domain(model, rng) -> None:
    _node(model, rng).domain = rng.choice(DOMAINS)


def opset(model, rng) -> None:
    if rng.random() < 0.3:
        model.ir_version = rng.choice((0, 1, 3, 7, 10, 99, 2**40))
        return
    entry = model.opset_import[0] if model.opset_import else model.opset_import.add()
    if rng.random() < 0.2:
        entry.domain = rng.choice(DOMAINS)
    else:
        entry.version = rng.choice((0, 1, 6, 7, 11, 13, 17, 18, 21, 99, 2**40))


def names(model, rng) -> None:
    target = rng.choice(("node", "op", "graph", "tensor"))
    name = rng.choice(hostile_names())
    if target == "node":
        _node(model, rng).name = name
    elif target == "op":
        _node(model, rng).op_type = name
    elif target == "graph":
        model.graph.name = name
    else:
        node = _node(model, rng)
        old = node.output[0]
        for other in model.graph.node:
            other.input[:] = [name if n == old else n for n in other.input]
        node.output[0] = name
        for output in model.graph.output:
            if output.name == old:
                output.name = name


def subgraph(model, rng) -> None:
    """Wrap in control flow, nest it deep (sometimes deeper than protobuf parses), with initializers inside."""
    depth = rng.choice((1, 2, 5))
    body = helper.make_graph([helper.make_node("Identity", ["c"], ["o"])], "leaf", [],
                             [helper.make_tensor_value_info("o", FLOAT, [2])],
                             [helper.make_tensor("c", FLOAT, [2], [1.0, 2.0])])
    for level in range(depth):
        inner = helper.make_node("If", ["cond"], [f"o{level}"], then_branch=body, else_branch=body)
        body = helper.make_graph([inner], f"level{level}", [], [helper.make_tensor_value_info(f"o{level}", FLOAT, [2])],
                                 [helper.make_tensor("payload", FLOAT, [300], np.zeros(300, np.float32).tobytes(),
                                                     raw=True)])
    model.graph.initializer.append(helper.make_tensor("cond", onnx.TensorProto.BOOL, [], [True]))
    model.graph.node.append(helper.make_node("If", ["cond"], ["if_out"], name="if", then_branch=body, else_branch=body))


def constant(model, rng) -> None:
    """Constants that claim huge sizes: dense, sparse, ConstantOfShape of a huge shape, a 1-D reshape bomb."""
    kind = rng.choice(("dense", "sparse", "of_shape", "reshape_vector"))
    if kind == "dense":
        count = rng.choice((1, 16, 5000))
        tensor = helper.make_tensor("v", FLOAT, [count], np.zeros(count, np.float32).tobytes(), raw=True)
        model.graph.node.insert(0, helper.make_node("Constant", [], ["const_out"], value=tensor))
    elif kind == "sparse":
        values = helper.make_tensor("v", FLOAT, [2], [1.0, 2.0])
        indices = helper.make_tensor("i", INT64, [2], [0, 5])
        sparse = helper.make_sparse_tensor(values, indices, [rng.choice((10, 2**40, 2**62))])
        model.graph.node.insert(0, helper.make_node("Constant", [], ["const_out"], sparse_value=sparse))
    elif kind == "of_shape":
        shape = helper.make_tensor("s", INT64, [2], [rng.choice((4, 10**5, 2**31)), 10**5])
        fill = helper.make_tensor("f", INT64, [1], [1])
        model.graph.node.extend([helper.make_node("Constant", [], ["big_shape"], value=shape),
                                 helper.make_node("ConstantOfShape", ["big_shape"], ["big"], value=fill),
                                 helper.make_node("Shape", ["big"], ["big_dims"]),
                                 helper.make_node("Add", ["big", "big"], ["big2"])])
    else:
        first = model.graph.input[0].name
        target = helper.make_tensor("flat_shape", INT64, [1], [-1])
        model.graph.node.extend([helper.make_node("Constant", [], ["flat_shape"], value=target),
                                 helper.make_node("Reshape", [first, "flat_shape"], ["flat"]),
                                 helper.make_node("Add", ["flat", "flat"], ["flat2"]),
                                 helper.make_node("Shape", ["flat2"], ["flat_dims"]),
                                 helper.make_node("ConstantOfShape", ["flat_dims"], ["bomb"])])


def value_bomb(model, rng) -> None:
    """An op whose output would be huge from tiny inputs, and a custom op that leaves shapes unknown (so the
    shape pass of graph/shapes.py walks the graph with values)."""
    huge = rng.choice((3 * 10**9, 10**12, 60000))
    kind = rng.choice(("Range", "Expand", "Tile", "Pad", "OneHot", "Resize", "ConstantOfShape"))
    constants = {
        "Range": [("b_start", INT64, [], [0]), ("b_limit", INT64, [], [huge]), ("b_delta", INT64, [], [1])],
        "Expand": [("b_value", FLOAT, [1], [1.0]), ("b_shape", INT64, [2], [huge, huge])],
        "Tile": [("b_value", FLOAT, [2], [1.0, 2.0]), ("b_repeats", INT64, [1], [huge])],
        "Pad": [("b_value", FLOAT, [2], [1.0, 2.0]), ("b_pads", INT64, [2], [0, huge])],
        "OneHot": [("b_indices", INT64, [2], [1, 2]), ("b_depth", INT64, [], [huge]), ("b_values", FLOAT, [2], [0.0, 1.0])],
        "Resize": [("b_value", FLOAT, [1, 1, 2, 2], [1.0] * 4), ("", 0, [], []), ("b_scales", FLOAT, [4], [1, 1, huge, huge])],
        "ConstantOfShape": [("b_shape", INT64, [2], [huge, huge])],
    }[kind]
    inputs = []
    for name, elem_type, dims, values in constants:
        inputs.append(name)
        if name:
            model.graph.node.insert(0, helper.make_node("Constant", [], [name], value=helper.make_tensor(name, elem_type,
                                                                                                          dims, values)))
    model.graph.node.append(helper.make_node(kind, inputs, ["bomb_out"]))
    model.graph.node.append(helper.make_node("Unknown", [model.graph.input[0].name], ["unknown_out"], domain="custom"))
    model.opset_import.append(helper.make_opsetid("custom", 1))


def sparse_initializer(model, rng) -> None:
    values = helper.make_tensor("sv", FLOAT, [2], [1.0, 2.0])
    indices = helper.make_tensor("si", INT64, [2], [0, 1])
    model.graph.sparse_initializer.append(helper.make_sparse_tensor(values, indices, [rng.choice((4, 2**40))]))


def value_info(model, rng) -> None:
    node = _node(model, rng)
    if node.output:
        model.graph.value_info.append(helper.make_tensor_value_info(node.output[0], rng.choice((FLOAT, INT64, 0)),
                                                                    [rng.choice((0, -3, 7, 2**50))] * rng.choice((0, 1, 4))))


def structure(model, rng) -> None:
    choice = rng.random()
    if choice < 0.25:
        del model.graph.output[:]
    elif choice < 0.4:
        del model.graph.input[rng.randrange(len(model.graph.input))]
    elif choice < 0.6:
        nodes = list(model.graph.node)
        rng.shuffle(nodes)
        del model.graph.node[:]
        model.graph.node.extend(nodes)
    elif choice < 0.8:
        model.graph.node.append(onnx.NodeProto.FromString(_node(model, rng).SerializeToString()))
    else:
        del model.graph.node[rng.randrange(len(model.graph.node)):]


def _mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    choice = rng.random()
    if choice < 0.35 and out:
        for _ in range(rng.choice((1, 2, 8, 64))):
            out[rng.randrange(len(out))] = rng.randrange(256)
    elif choice < 0.55:
        out = out[: rng.randrange(len(out) + 1)]
    elif choice < 0.75 and out:
        start = rng.randrange(len(out))
        out[start:start] = out[start: start + rng.choice((1, 16, 1000))]
    elif choice < 0.9:
        position = rng.randrange(len(out) + 1)
        out[position:position] = bytes(rng.randrange(256) for _ in range(rng.choice((1, 5, 40))))
    else:
        out = bytearray(b"\x0a\xff\xff\xff\xff\x0f" + bytes(out))  # a field claiming 4 GB
    return bytes(out)


MUTATIONS = {
    "attribute_type": attribute_type, "attribute_add": attribute_add, "attribute_drop": attribute_drop,
    "operand_drop": operand_drop, "operand_add": operand_add, "operand_rename": operand_rename,
    "operand_omit": operand_omit, "operand_omit_trailing": operand_omit_trailing, "optional_omit": optional_omit,
    "output_omit": output_omit, "omitted_operand_node": omitted_operand_node, "dims": dims,
    "initializer": initializer, "op_type": op_type, "domain": domain, "opset": opset, "names": names,
    "subgraph": subgraph, "constant": constant, "value_bomb": value_bomb, "sparse_initializer": sparse_initializer,
    "value_info": value_info,
    "structure": structure,
}
