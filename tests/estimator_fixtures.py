"""Models and reports built in code for the estimator and CLI tests (the public tiny models: estimator.testing)."""

from __future__ import annotations

import onnx

from estimator.testing import NodeSpec, small_model

# Zoo models whose measured rows (training_data/cpu-epyc-1thread) the tests train small profiles on.
SUBSET = ("lenet", "resnet18", "mobilenet_v3_small")


def huge_conv() -> onnx.ModelProto:
    """One conv far outside any training range (4096 -> 4096 channels at 1x1)."""
    node = NodeSpec("Conv", ("x", "w"), ("y",), {"kernel_shape": [1, 1]}, name="wide")
    return small_model([node], {"x": (1, 4096, 1, 1)}, {"w": (4096, 4096, 1, 1)}, name="huge")


def hand_report(model: str = "/home/someone/models/net.onnx", power: bool = True, unmodeled: bool = True,
                runtime_scale: float = 1.0):
    """A Report built by hand (no profile): four layers whose sums are easy to check.

    conv1 2.0 ms [1.5, 2.5], relu1 0.5 [0.4, 0.6], conv2 1.0 [0.8, 1.2] (out of distribution),
    fc 0.5 [0.5, 0.5], all times `runtime_scale`; power 10, 8, 10, 12 W; one unmodeled ConvTranspose.
    """
    import pandas as pd

    from estimator.predict.report import LAYER_COLUMNS, Report, Totals
    from graph.records import UnmodeledNode

    s = runtime_scale
    runtime = [2.0 * s, 0.5 * s, 1.0 * s, 0.5 * s]
    power_w = [10.0, 8.0, 10.0, 12.0] if power else [float("nan")] * 4
    layers = pd.DataFrame({
        "name": ["/m/m.0/conv1/Conv", "/m/m.0/relu1/Relu", "/m/m.1/conv2/Conv", "/fc/Gemm"],
        "op_type": ["Conv", "Relu", "Conv", "Gemm"],
        "layer_type": ["convolutional", "other", "convolutional", "dense"],
        "shape": ["3x8x8->4x8x8 k3x3 s1", "1x4x8x8", "4x8x8->4x8x8 k3x3 s1", "1x256->10"],
        "runtime_ms": runtime,
        "runtime_low_ms": [1.5 * s, 0.4 * s, 0.8 * s, 0.5 * s],
        "runtime_high_ms": [2.5 * s, 0.6 * s, 1.2 * s, 0.5 * s],
        "power_w": power_w,
        "energy_mj": [p * r for p, r in zip(power_w, runtime, strict=True)],
        "runtime_share": [0.5, 0.125, 0.25, 0.125],
        "out_of_distribution": [False, False, True, False],
    })[list(LAYER_COLUMNS)]
    nodes = (UnmodeledNode("up", "ConvTranspose", 4, "transposed convolution is not modeled"),) if unmodeled else ()
    totals = Totals(
        runtime_ms=4.0 * s, runtime_low_ms=3.2 * s, runtime_high_ms=4.8 * s,
        power_w=10.0 if power else None, energy_mj=40.0 * s if power else None,
        nodes_total=6 + len(nodes), nodes_modeled=4, nodes_free=2, nodes_unmodeled=len(nodes),
        unmodeled_by_op={"ConvTranspose": 1} if unmodeled else {}, layers_out_of_distribution=1,
        batch_size=1, batch_size_assumed=False,
    )
    return Report(model=model, profile_id="hand", device="a hand-made device", power_measured=power, layers=layers,
                  totals=totals, unmodeled=nodes, input_shapes={"x": (1, 3, 8, 8)}, composition="plain sum")
