"""The extracted layers of a model and their features, without an estimate (`estimate --layers`)."""

from __future__ import annotations

import json

import pandas as pd

from estimator.predict.render.cells import pipe_table
from estimator.predict.render.escape import csv_frame, html_text, markdown_code, markdown_text, terminal_text
from graph import LAYER_TYPES, extract_layers, is_costed, layer_row
from graph.loading import ModelSource

__all__ = ["render_layers"]


def render_layers(model: ModelSource, batch_size: int | None, shapes: dict[str, tuple[int, ...]], fmt: str,
                  dimensions: dict[str, int] | None = None) -> str:
    """The extracted layers and their features (`estimate --layers`): a table, CSV, JSON, Markdown or HTML."""
    extracted = extract_layers(model, batch_size=batch_size, input_shapes=shapes or None, dimensions=dimensions)
    rows = [{"name": layer.name, "op_type": layer.op_type, "layer_type": layer.layer_type,
             **{k: v for k, v in layer_row(layer).items() if k not in ("layer_name", "op_type")}}
            for layer in extracted.layers]
    rows += [{"name": node.name, "op_type": node.op_type, "layer_type": "unmodeled", "reason": node.reason}
             for node in extracted.unmodeled]
    if fmt == "json":
        return json.dumps({"model": extracted.source, "batch_size": extracted.batch_size,
                           "batch_size_assumed": extracted.batch_size_assumed, "layers": rows}, indent=2,
                          default=str) + "\n"
    frame = pd.DataFrame(rows)
    if fmt == "csv":
        return csv_frame(frame).to_csv(index=False, lineterminator="\n")
    costed = [layer for layer in extracted.layers if is_costed(layer)]
    counts = ", ".join(f"{t} {sum(1 for layer in costed if layer.layer_type == t)}" for t in LAYER_TYPES)
    header = (f"{terminal_text(extracted.source)}: {len(costed)} layers ({counts}), {len(extracted.layers) - len(costed)} free, "
              f"{len(extracted.unmodeled)} unmodeled, "
              f"batch {extracted.batch_size}{' (assumed)' if extracted.batch_size_assumed else ''}\n")
    columns = [c for c in ("name", "op_type", "layer_type", "batch_size", "input_size_0", "input_size_1",
                           "input_size_2", "output_size_0", "output_size_1", "output_size_2", "kernel_0", "kernel_1",
                           "stride_0", "groups", "input_size", "output_size", "input_elements", "output_elements",
                           "reason") if c in frame.columns]
    shown = frame[columns].copy()
    if fmt == "markdown":
        cells = shown.astype(object).where(shown.notna(), "")
        lines = pipe_table(columns, ([markdown_code(v) if c in _TEXT else v for c, v in zip(columns, row, strict=True)]
                                     for row in cells.itertuples(index=False)), len(columns))
        return markdown_text(header.rstrip("\n")) + "\n\n" + "\n".join(lines) + "\n"
    for column in _TEXT:
        if column in shown.columns:
            shown[column] = shown[column].map(terminal_text, na_action="ignore")
    text = header + shown.to_string(index=False, na_rep="") + "\n"
    if fmt == "html":  # the text table on a page of its own, every character escaped
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Layers: '
                f"{html_text(extracted.source)}</title></head><body><pre>{html_text(text)}</pre></body></html>\n")
    return text


_TEXT = ("name", "op_type", "reason")
