"""Property tests: graph/'s output sizes for random Conv and pooling configurations match onnxruntime."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from onnx import helper

from graph import NodeError, extract_layers

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def _session(model):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 4
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _run(model, shape):
    """The actual output shape from onnxruntime, or None when onnxruntime rejects the model."""
    try:
        session = _session(model)
        feed = {"x": np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
        return tuple(session.run(None, feed)[0].shape)
    except Exception:  # onnxruntime raises several unrelated exception types for an invalid node
        return None


def _fits(size, kernel, stride, dilation, begin, end, auto_pad):
    effective = (kernel - 1) * dilation + 1
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        return True
    if auto_pad == "VALID":
        return effective <= size
    return effective <= size + begin + end


@st.composite
def conv_configs(draw):
    groups_and_channels = draw(
        st.sampled_from([(g, c) for c in range(1, 9) for g in range(1, c + 1) if c % g == 0])
    )
    groups, channels = groups_and_channels
    out_per_group = draw(st.integers(1, 3))
    return {
        "batch": draw(st.integers(1, 2)),
        "channels": channels,
        "groups": groups,
        "out_channels": groups * out_per_group,
        "hw": (draw(st.integers(1, 20)), draw(st.integers(1, 20))),
        "kernel": (draw(st.integers(1, 5)), draw(st.integers(1, 5))),
        "stride": (draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        "dilation": (draw(st.integers(1, 2)), draw(st.integers(1, 2))),
        "pads": tuple(draw(st.integers(0, 2)) for _ in range(4)),
        "auto_pad": draw(st.sampled_from(AUTO_PADS)),
        "bias": draw(st.booleans()),
    }


@st.composite
def pool_configs(draw):
    op_type = draw(st.sampled_from(["MaxPool", "AveragePool"]))
    return {
        "op_type": op_type,
        "batch": draw(st.integers(1, 2)),
        "channels": draw(st.integers(1, 8)),
        "hw": (draw(st.integers(1, 20)), draw(st.integers(1, 20))),
        "kernel": (draw(st.integers(1, 5)), draw(st.integers(1, 5))),
        "stride": (draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        "dilation": (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if op_type == "MaxPool" else (1, 1),
        "pads": tuple(draw(st.integers(0, 2)) for _ in range(4)),
        "auto_pad": draw(st.sampled_from(AUTO_PADS)),
        "ceil_mode": draw(st.booleans()),
        "count_include_pad": draw(st.booleans()) if op_type == "AveragePool" else False,
    }


def _window_attributes(config):
    attributes = {"kernel_shape": list(config["kernel"]), "strides": list(config["stride"])}
    if config["dilation"] != (1, 1):
        attributes["dilations"] = list(config["dilation"])
    if config["auto_pad"] == "NOTSET":
        attributes["pads"] = list(config["pads"])
    else:
        attributes["auto_pad"] = config["auto_pad"]
    return attributes


def _ort_same_pool_quirk(config):
    """SAME_* pooling cases where onnxruntime deviates from the ONNX spec (and ONNX shape inference).

    onnxruntime computes the SAME padding from the undilated kernel, so a dilated MaxPool gets a
    smaller output than ceil(size / stride), and it fails with "padding values must be
    non-negative" instead of clamping the padding at 0 when the stride exceeds the kernel.
    test_graph_pool checks these cases by hand against the spec.
    """
    if not config["auto_pad"].startswith("SAME"):
        return False
    if config["dilation"] != (1, 1):
        return True
    for size, kernel, stride in zip(config["hw"], config["kernel"], config["stride"], strict=True):
        if (-(-size // stride) - 1) * stride + kernel - size < 0:
            return True
    return False


def _kernel_fits(config):
    return all(
        _fits(config["hw"][axis], config["kernel"][axis], config["stride"][axis], config["dilation"][axis],
              config["pads"][axis], config["pads"][axis + 2], config["auto_pad"])
        for axis in range(2)
    )


def _rejects_kernel_that_does_not_fit(model, config):
    """True (after checking that graph/ raises NodeError) when the dilated kernel exceeds the padded input."""
    if _kernel_fits(config):
        return False
    with pytest.raises(NodeError, match="larger than the padded input"):
        extract_layers(model)
    return True


def _check_against_onnxruntime(model, input_shape, config):
    try:
        record = extract_layers(model).layers[0]
    except NodeError:
        # graph/ may reject only what onnxruntime rejects too.
        assert _run(model, input_shape) is None, f"graph/ rejected a configuration onnxruntime runs: {config}"
        return
    actual = _run(model, input_shape)
    assert actual is not None, f"onnxruntime rejected a configuration graph/ accepted: {config}"
    assert record.batch_size == actual[0]
    assert record.output_chw == actual[1:], config


@pytest.mark.filterwarnings("ignore")
@PROPERTY_SETTINGS
@given(config=conv_configs())
def test_conv_output_size_matches_onnxruntime(make_model, weights, config):
    batch, channels, (height, width) = config["batch"], config["channels"], config["hw"]
    initializers = {"w": weights((config["out_channels"], channels // config["groups"], *config["kernel"]))}
    names = ["x", "w"]
    if config["bias"]:
        initializers["b"] = weights((config["out_channels"],))
        names.append("b")
    node = helper.make_node("Conv", names, ["y"], name="conv", group=config["groups"], **_window_attributes(config))
    input_shape = (batch, channels, height, width)
    model = make_model([node], {"x": input_shape}, initializers, outputs={"y": None})
    if _rejects_kernel_that_does_not_fit(model, config):
        return
    # onnxruntime's Conv refuses dilations with SAME_* auto_pad ("Dilation not supported"); the
    # spec allows it, and test_graph_conv checks that case by hand.
    assume(not (config["auto_pad"].startswith("SAME") and config["dilation"] != (1, 1)))
    _check_against_onnxruntime(model, input_shape, config)


@pytest.mark.filterwarnings("ignore")
@PROPERTY_SETTINGS
@given(config=pool_configs())
def test_pool_output_size_matches_onnxruntime(make_model, config):
    batch, channels, (height, width) = config["batch"], config["channels"], config["hw"]
    attributes = _window_attributes(config)
    attributes["ceil_mode"] = int(config["ceil_mode"])
    if config["op_type"] == "AveragePool":
        attributes["count_include_pad"] = int(config["count_include_pad"])
    node = helper.make_node(config["op_type"], ["x"], ["y"], name="pool", **attributes)
    input_shape = (batch, channels, height, width)
    model = make_model([node], {"x": input_shape}, opset=19, outputs={"y": None})
    if _rejects_kernel_that_does_not_fit(model, config):
        return
    # onnxruntime's pooling refuses pads >= kernel ("Pad should be smaller than kernel"), which
    # the ONNX spec does not require; PyTorch never exports such pads.
    if config["auto_pad"] == "NOTSET":
        assume(all(config["pads"][i] < config["kernel"][i % 2] for i in range(4)))
    else:
        assume(not _ort_same_pool_quirk(config))
    _check_against_onnxruntime(model, input_shape, config)
