"""A seeded generator of realistic networks, built from the blocks real architectures use.

Each network belongs to one family (its block type), so accuracy can be judged on families a profile never saw: the
classic convolutional families and an MLP-only transformer (graph.generate.convnets), and the modern ones
(graph.generate.modern: attention, hybrid conv/attention, ghost, re-parameterisable branches, YOLO-style detection).
Nodes follow what the exporters write for the same modules; weights are shape-only (dims kept, no data), as in the
zoo: fill them before running.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

from graph.generate.builder import Builder
from graph.generate.convnets import BLOCKS, convnet, transformer_mlp
from graph.generate.modern import MODERN_FAMILIES, Io

__all__ = ["FAMILIES", "MODERN", "GeneratedNetwork", "generate"]

# A family's network: (builder, rng, resolution, classes, spec to fill) -> (graph inputs, graph outputs).
Network = Callable[[Builder, np.random.Generator, int, int, dict], Io]


def _classifier(build: Callable[[Builder, np.random.Generator, int, int, dict], str]) -> Network:
    """An image classifier's network: the input image (N, 3, R, R) and the logits (N, classes)."""
    def network(b: Builder, rng: np.random.Generator, resolution: int, classes: int, spec: dict) -> Io:
        logits = build(b, rng, resolution, classes, spec)
        return ([helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, resolution, resolution])],
                [helper.make_tensor_value_info(logits, TensorProto.FLOAT, ["batch", classes])])
    return network


def _convnet_of(family: str) -> Network:
    return _classifier(lambda b, rng, resolution, classes, spec: convnet(b, rng, BLOCKS[family], resolution, classes,
                                                                           spec))


# New families go at the end: a family's index seeds its networks, so the same (family, seed) stays the same graph.
_NETWORKS: dict[str, Network] = {
    **{family: _convnet_of(family) for family in BLOCKS},
    "transformer_mlp": _classifier(transformer_mlp),
    **MODERN_FAMILIES,
}
FAMILIES = tuple(_NETWORKS)
MODERN = tuple(MODERN_FAMILIES)
_MIN_RESOLUTION = {"transformer_mlp": 64}


@dataclass(frozen=True)
class GeneratedNetwork:
    """A generated model and what it was sampled from."""

    name: str
    family: str
    seed: int
    model: onnx.ModelProto
    spec: dict[str, object]


def generate(family: str, seed: int) -> GeneratedNetwork:
    """One network of `family`, the same for the same (family, seed) on every machine."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; families: {', '.join(FAMILIES)}")
    rng = np.random.default_rng([FAMILIES.index(family), seed])
    b = Builder(rng)
    resolution = max(int(rng.choice([32, 64, 96, 128, 160, 224])), _MIN_RESOLUTION.get(family, 0))
    classes = int(rng.choice([10, 100, 1000]))
    spec: dict[str, object] = {"family": family, "seed": seed, "resolution": resolution, "classes": classes}
    inputs, outputs = _NETWORKS[family](b, rng, resolution, classes, spec)
    name = f"{family}_{seed}"
    graph = helper.make_graph(b.nodes, name, inputs, outputs, b.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="onnx-cost-estimator generator")
    return GeneratedNetwork(name, family, seed, model, spec)
