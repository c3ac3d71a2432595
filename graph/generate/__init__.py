"""A seeded generator of realistic networks, built from the blocks real architectures use.

Each network belongs to one family (its block type), so accuracy can be judged on families a profile never saw: the
classic convolutional families and an MLP-only transformer (graph.generate.convnets), and the modern ones
(graph.generate.modern: attention, hybrid conv/attention, ghost, re-parameterisable branches, YOLO-style detection).
Nodes follow what the exporters write for the same modules; weights are shape-only (dims kept, no data), as in the
zoo: fill them before running.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from graph.generate.builder import Builder, Network, classifier
from graph.generate.convnets import BLOCKS, convnet_network, transformer_mlp
from graph.generate.modern import MODERN_FAMILIES
from graph.generate.primitives import primitive_block, primitive_stem

__all__ = ["COVERAGE", "FAMILIES", "MODERN", "GeneratedNetwork", "generate"]

# New families go at the end: a family's index seeds its networks, so the same (family, seed) stays the same graph.
_NETWORKS: dict[str, Network] = {
    **{family: convnet_network(block) for family, block in BLOCKS.items()},
    "transformer_mlp": classifier(transformer_mlp),
    **MODERN_FAMILIES,
    "primitives": convnet_network(primitive_block, primitive_stem),
}
FAMILIES = tuple(_NETWORKS)
MODERN = tuple(MODERN_FAMILIES)
# Families of op coverage, not architectures (graph.generate.primitives): always training data, never held out.
COVERAGE = ("primitives",)
_MIN_RESOLUTION = {"transformer_mlp": 64, "hybrid_attention": 64}


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
