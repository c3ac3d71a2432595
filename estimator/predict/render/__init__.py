"""Renderers: a Report -> terminal table, CSV, JSON, Markdown or a self-contained HTML page (one module each);
several Reports -> their comparison in the same formats (summary, compare_html); a Curve -> its points (curve).

Importing this package registers one function per report view in estimator.predict.formats (the table below),
where Report.to_json() and the like find them: the Report imports no renderer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from estimator.predict.formats import FORMATS, register, renderer
from estimator.predict.render.compare_html import render_comparison_html
from estimator.predict.render.csv import render_csv
from estimator.predict.render.curve import render_curve
from estimator.predict.render.html import render_html, render_html_fragment
from estimator.predict.render.json import render_json, report_dict
from estimator.predict.render.markdown import render_markdown
from estimator.predict.render.summary import render_summary
from estimator.predict.render.table import render_table

if TYPE_CHECKING:
    from estimator.predict.report import Report

__all__ = [
    "FORMATS",
    "render",
    "render_comparison_html",
    "render_csv",
    "render_curve",
    "render_html",
    "render_html_fragment",
    "render_json",
    "render_markdown",
    "render_summary",
    "render_table",
    "report_dict",
]

_RENDERERS = {  # every view of estimator.predict.formats.VIEWS: (report, top layers or None) -> the rendering
    "table": lambda report, top: render_table(report, top),
    "csv": lambda report, top: render_csv(report),
    "json": lambda report, top: render_json(report),
    "markdown": lambda report, top: render_markdown(report, top),
    "html": lambda report, top: render_html(report, top),
    "dict": lambda report, top: report_dict(report),
    "html_fragment": lambda report, top: render_html_fragment(report, top),
}
for _view, _function in _RENDERERS.items():
    register(_view, _function)


def render(report: Report, fmt: str, top: int | None = None) -> str:
    """The report in one of FORMATS (`top`: layers shown by the table, Markdown and HTML formats)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    return renderer(fmt)(report, top)
