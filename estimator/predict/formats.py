"""Report formats: their names (the one list) and the functions registered to render a Report in each.

A Report is data and imports no renderer (tests/test_import_rules.py holds it to that). The renderers
(estimator.predict.render) register themselves here when that package is imported, and Report.to_json()
and the like look theirs up. Every module that returns Reports (estimation, curve, comparison) imports the
render package, so the renderers are there whenever a Report is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["DEFAULT_TOP", "FORMATS", "VIEWS", "Renderer", "register", "renderer"]

# What `estimate --format`, render() and Report.to_<format>() offer.
FORMATS = ("table", "csv", "json", "markdown", "html")
# Besides those, a Report gives its JSON document as a dict and its HTML page's body (what Jupyter shows).
VIEWS = (*FORMATS, "dict", "html_fragment")
DEFAULT_TOP = 10  # layers an HTML page lists unless told otherwise

Renderer = Callable[[Any, "int | None"], Any]  # (report, top layers or None for all) -> the rendered report
_RENDERERS: dict[str, Renderer] = {}


def register(view: str, function: Renderer) -> None:
    """Make `function` the renderer of one of VIEWS (estimator.predict.render calls this for each)."""
    if view not in VIEWS:
        raise ValueError(f"unknown report view {view!r}; the views are {', '.join(VIEWS)}")
    _RENDERERS[view] = function


def renderer(view: str) -> Renderer:
    """The function that renders a Report as `view`: one of FORMATS, 'dict' or 'html_fragment'."""
    if view not in VIEWS:
        raise ValueError(f"unknown format {view!r}; choose from {', '.join(FORMATS)}")
    function = _RENDERERS.get(view)
    if function is None:
        raise LookupError(f"no renderer is registered for {view!r}: import estimator.predict.render "
                          "(estimator.estimate and the other functions that return Reports do)")
    return function
