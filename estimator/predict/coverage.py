"""How much of a model's compute an estimate covers, and when its total is only a lower bound.

MACs are counted for every layer and for every unmodeled node whose shapes are known. A layer's
MACs count as modeled when the profile was trained on its kind (graph.layer_kind; a profile's
manifest lists them under "layer_kinds", and profiles that predate the list cover the seed's
kinds: 2-D float convolutions, pools, Linear layers and other ops). The total is a lower bound
when less than LOWER_BOUND_SHARE of the MACs is modeled, when a compute node of unknown size is
left out, or when any node is unmodeled (its cost is missing from the sum).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from graph.records import Layer, UnmodeledNode, layer_kind

__all__ = ["DEFAULT_KINDS", "LOWER_BOUND_SHARE", "Coverage", "coverage"]

DEFAULT_KINDS = ("conv", "pool", "dense", "other")
LOWER_BOUND_SHARE = 0.99


@dataclass(frozen=True)
class Coverage:
    macs_total: int
    macs_modeled: int
    lower_bound: bool
    reasons: tuple[str, ...]
    data_dependent_layers: int

    @property
    def macs_modeled_share(self) -> float:
        return self.macs_modeled / self.macs_total if self.macs_total else 1.0


def coverage(costed: Sequence[Layer], unmodeled: Sequence[UnmodeledNode], data_dependent: int,
             trained_kinds: Iterable[str] | None) -> Coverage:
    """Share of MACs modeled and the lower-bound reasons for a model's costed records (layers or kernels'
    layers) and unmodeled nodes; `data_dependent` counts the records sized by an upper bound."""
    kinds = set(DEFAULT_KINDS if trained_kinds is None else trained_kinds)
    untrained: Counter[str] = Counter()
    modeled = total = 0
    for layer in costed:
        total += layer.macs
        if layer_kind(layer) in kinds:
            modeled += layer.macs
        elif layer.macs:
            untrained[layer_kind(layer)] += layer.macs
    unmodeled_macs: Counter[str] = Counter()
    unknown: Counter[str] = Counter()
    for node in unmodeled:
        if node.macs is None:
            unknown[node.op_type] += 1
        else:
            total += node.macs
            unmodeled_macs[node.op_type] += node.macs
    reasons = [f"{_percent(macs, total)} of MACs in {kind} layers the profile has no training data for"
               for kind, macs in untrained.most_common()]
    reasons += [f"{_percent(macs, total)} of MACs in unmodeled {op} nodes" for op, macs in unmodeled_macs.most_common()
                if macs]
    if unknown:
        reasons.append("unmodeled, cost unknown: " + ", ".join(f"{op} x{count}" for op, count in sorted(unknown.items())))
    share = modeled / total if total else 1.0
    lower_bound = share < LOWER_BOUND_SHARE or bool(unmodeled)
    return Coverage(total, modeled, lower_bound, tuple(reasons) if lower_bound else (), data_dependent)


def _percent(part: int, whole: int) -> str:
    share = 100 * part / whole if whole else 0.0
    return "<0.1%" if 0 < share < 0.1 else f"{share:.1f}%"
