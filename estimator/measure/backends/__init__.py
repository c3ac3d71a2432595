"""Measuring backends: ONNX Runtime (ort.py) and PyTorch (pytorch/), behind one interface (base.py)."""
