"""Read the optimized graph a runtime writes (e.g. ONNX Runtime's optimized_model_filepath).

Used to detect a device's fusion rules and to test `extract_kernels` against the runtime itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx

from graph.views import attribute_value

__all__ = ["RuntimeNode", "read_runtime_graph"]

_NCHWC_DOMAIN = "com.microsoft.nchwc"


@dataclass(frozen=True)
class RuntimeNode:
    """One node of an optimized graph, reduced to what tells kernels apart."""

    op_type: str
    domain: str
    activation: str
    has_summand: bool

    @property
    def blocked(self) -> bool:
        return self.domain == _NCHWC_DOMAIN


def read_runtime_graph(path: str | Path) -> list[RuntimeNode]:
    """The nodes of an optimized model file, in its order."""
    model = onnx.load(str(path), load_external_data=False)
    nodes = []
    for node in model.graph.node:
        activation = ""
        for attribute in node.attribute:
            if attribute.name == "activation":
                activation = str(attribute_value(attribute))
        summand = len(node.input) > 3 and bool(node.input[3]) and node.op_type in ("Conv", "FusedConv")
        nodes.append(RuntimeNode(node.op_type, node.domain, activation, summand))
    return nodes
