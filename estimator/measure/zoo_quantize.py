"""int8 versions of exported models: onnxruntime.quantization.quantize_static with a random calibration set.

QDQ keeps float ops between QuantizeLinear/DequantizeLinear pairs (ONNX Runtime fuses them into int8
kernels when it loads the model); QOperator writes the int8 ops themselves (QLinearConv, QLinearAdd, ...).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["quantize_int8"]

CALIBRATION_SAMPLES = 4


class _RandomReader:
    """A calibration data reader yielding a few random batches shaped like the example inputs."""

    def __init__(self, examples: dict[str, np.ndarray], samples: int = CALIBRATION_SAMPLES) -> None:
        rng = np.random.default_rng(0)
        self.batches = iter([{name: rng.standard_normal(array.shape).astype(array.dtype) for name, array in examples.items()}
                             for _ in range(samples)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def quantize_int8(source: Path, target: Path, form: str, examples: dict[str, np.ndarray]) -> None:
    """Quantize weights and activations to int8 (per-tensor, symmetric weights) in `form` ('qdq' or 'qoperator')."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = target.with_name(target.stem + ".prepared.onnx")
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=False)
    quantize_static(str(prepared), str(target), _RandomReader(examples),
                    quant_format=QuantFormat.QDQ if form == "qdq" else QuantFormat.QOperator,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
