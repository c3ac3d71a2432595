"""estimator.measure: run layer records and whole models on a device and write training data.

backends/ (ONNX Runtime, PyTorch), sensors/ (power), timing, sweep, the collector and its
folder layout, and the budgeted GPU run. Imports graph (and may use predict); never train.
"""
