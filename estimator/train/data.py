"""Read a training-data folder: ours (training_data/<device-id>/) or one in the seed's layout."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from estimator.errors import TrainingDataError
from estimator.files import read_device_file
from estimator.predict.units import LAYERS, UNITS, Unit
from graph.frames import BROADCASTING, broadcast_spans, inner_elements, parse_shapes
from graph.schema import CSV_FILES, LAYER_TYPES, SEED_COLUMNS, TARGET_COLUMNS

__all__ = ["EVALUATION_ONLY", "GENERATED", "MODERN", "SWEEP", "UNSEEN", "ZOO_DIR", "TrainingData", "load_training_data",
           "rows_unit"]

SWEEP = "sweep"
GENERATED = "generated"  # generated networks (graph.generate), one folder for all of them
UNSEEN = "unseen"  # graphs kept for evaluation only: never loaded as training rows
MODERN = "modern"  # timm, transformers and ultralytics exports (training_data/modern): evaluation only, likewise
EVALUATION_ONLY = (UNSEEN, MODERN)
ZOO_DIR = "zoo"
_NOT_TRAINING = frozenset({ZOO_DIR, *EVALUATION_ONLY, "logs"})


@dataclass(frozen=True)
class TrainingData:
    """Per-layer-type frames with `model`, `source`, `runtime_ms` and `power_w` added."""

    root: Path
    frames: dict[str, pd.DataFrame]
    models: pd.DataFrame | None  # models.csv: end-to-end ground truth, when the folder has one
    device: dict[str, object] | None
    fingerprint: str

    @property
    def unit(self) -> Unit:
        """What the rows are (KERNELS: kernels timed in context; LAYERS: layers timed alone), by their columns."""
        return rows_unit(column for frame in self.frames.values() for column in frame.columns)

    @property
    def has_power(self) -> bool:
        return any(frame["power_w"].notna().any() for frame in self.frames.values() if not frame.empty)

    @property
    def call_overhead_ms(self) -> float | None:
        """The measured fixed cost of one runtime call, when device.json records it."""
        value = ((self.device or {}).get("method") or {}).get("call_overhead_ms")
        return None if value is None else float(value)

    def model_names(self) -> list[str]:
        names: set[str] = set()
        for frame in self.frames.values():
            names.update(frame.loc[frame["source"] == "zoo", "model"].unique())
        return sorted(names)


def load_training_data(root: str | Path) -> TrainingData:
    """Load every layer CSV below `root`; power µW -> W, runtime stays ms."""
    root = Path(root)
    if not root.is_dir():
        raise TrainingDataError(f"{root}: training-data folder not found")
    digest = hashlib.sha256()
    frames: dict[str, list[pd.DataFrame]] = {layer_type: [] for layer_type in LAYER_TYPES}
    folders = sorted(p for p in root.iterdir() if p.is_dir() and p.name not in _NOT_TRAINING and not p.name.startswith("."))
    for folder in folders:
        for layer_type in LAYER_TYPES:
            path = folder / CSV_FILES[layer_type]
            if not path.exists():
                continue
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
            frames[layer_type].append(_read_layer_csv(path, layer_type, folder.name))
    merged = {
        layer_type: pd.concat(parts, ignore_index=True) if parts else _empty(layer_type)
        for layer_type, parts in frames.items()
    }
    if all(frame.empty for frame in merged.values()):
        raise TrainingDataError(
            f"{root}: no layer CSVs found; expected <model>/convolutional.csv etc. (see training_data/README.md)"
        )
    models_path = root / "models.csv"
    models = pd.read_csv(models_path) if models_path.exists() else None
    return TrainingData(root, merged, models, read_device_file(root), digest.hexdigest()[:16])


def _read_layer_csv(path: Path, layer_type: str, folder: str) -> pd.DataFrame:
    try:
        # low_memory=False: types from the whole column, not per chunk (a column empty in its first rows and text after
        # them read as mixed types, with a warning)
        frame = pd.read_csv(path, low_memory=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise TrainingDataError(f"{path}: not a readable CSV ({str(error).splitlines()[0]})") from None
    missing = [c for c in SEED_COLUMNS[layer_type] if c not in frame.columns and c != "layer_name"]
    if missing:
        raise TrainingDataError(f"{path}: missing column(s) {', '.join(missing)}; see the schema in training_data/README.md")
    for target in TARGET_COLUMNS:
        frame[target] = pd.to_numeric(frame[target], errors="coerce")
    if "model" not in frame.columns or folder == SWEEP:
        frame["model"] = folder
    frame["source"] = folder if folder in (SWEEP, GENERATED) else "zoo"
    frame["runtime_ms"] = frame["runtime"]
    frame["power_w"] = frame["power"] / 1e6
    if layer_type == "other":
        _add_shape_features(frame)
    if rows_unit(frame.columns).in_graphs:
        # A kernel the profiler did not report keeps its row (no runtime): a whole graph's estimate needs
        # every kernel, only the regressors skip it.
        return frame[frame["runtime_ms"].isna() | (frame["runtime_ms"] > 0)].reset_index(drop=True)
    frame = frame[frame["runtime_ms"].notna() & (frame["runtime_ms"] > 0)]
    return frame.reset_index(drop=True)


def _add_shape_features(frame: pd.DataFrame) -> None:
    """broadcast_spans and inner_elements (graph.frames) of rows collected before they were columns (a file that has
    a column since later rows were added leaves it empty in the earlier ones), from the rows' shapes and attributes
    as text (inner_elements only where the rows have attributes); each row's shapes parsed once."""
    if not {"input_shapes", "output_shapes"} <= set(frame.columns):
        return
    spans = _values_or_nan(frame, "broadcast_spans")
    inner = _values_or_nan(frame, "inner_elements") if "attributes" in frame.columns else None
    attributes = frame["attributes"] if inner is not None else [None] * len(frame)
    for row, (op, text, inputs, outputs) in enumerate(zip(frame["op_type"], attributes, frame["input_shapes"],
                                                          frame["output_shapes"], strict=True)):
        spans_missing = op in BROADCASTING and np.isnan(spans[row])
        inner_missing = inner is not None and np.isnan(inner[row])
        if not (spans_missing or inner_missing):
            continue
        shapes, output_shapes = parse_shapes(inputs), parse_shapes(outputs)
        output = output_shapes[0] if output_shapes else None
        if spans_missing and output is not None:
            spans[row] = broadcast_spans(shapes, output)
        if inner_missing and shapes and shapes[0] is not None:
            parsed = json.loads(text) if isinstance(text, str) and text.startswith("{") else {}
            value = inner_elements(op, parsed, shapes[0], output)
            inner[row] = np.nan if value is None else value
    frame["broadcast_spans"] = spans
    if inner is not None:
        frame["inner_elements"] = inner


def _values_or_nan(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A copy of `column` as floats, all NaN where the frame has no such column."""
    return frame[column].to_numpy(float, copy=True) if column in frame.columns else np.full(len(frame), np.nan)


def rows_unit(columns: Iterable[str]) -> Unit:
    """The unit whose marker column (Unit.marker_column) is among `columns`; LAYERS, the seed's rows, if none is."""
    present = set(columns)
    return next((unit for unit in UNITS.values() if unit.marker_column in present), LAYERS)


def _empty(layer_type: str) -> pd.DataFrame:
    return pd.DataFrame(columns=[*SEED_COLUMNS[layer_type], "model", "source", "runtime_ms", "power_w"])
