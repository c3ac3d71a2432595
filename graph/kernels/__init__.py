"""Kernels: a model as the kernels a runtime executes (fusions and blocked layout applied by rules)."""

from __future__ import annotations

from graph.kernels.extract import extract_kernels
from graph.kernels.records import Kernel, ModelKernels
from graph.kernels.rules import NO_FUSION, ORT_CPU_AVX2, FusionRules

__all__ = ["NO_FUSION", "ORT_CPU_AVX2", "FusionRules", "Kernel", "ModelKernels", "extract_kernels"]
