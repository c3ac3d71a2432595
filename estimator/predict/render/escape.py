"""Neutralise what renderers print: names, op types, paths and profile text come from untrusted files.

Every renderer passes every such value through one of these (estimator.predict.render.cells
re-exports them), so a hostile model or profile cannot inject spreadsheet formulas (CSV), break a
table or smuggle HTML (Markdown, HTML), or send escape sequences, forged lines or reordered text
to a terminal. JSON needs nothing: json.dumps escapes every control character.
"""

from __future__ import annotations

import html
import re

import pandas as pd

from estimator.errors import CONTROLS

__all__ = ["csv_frame", "csv_text", "html_text", "markdown_code", "markdown_text", "terminal_text"]

# A spreadsheet reads a cell starting with one of these as a formula (OWASP's list).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# In HTML a newline is only white space (tooltips use newlines): every other control goes.
_HTML_CONTROLS = re.compile(CONTROLS.pattern.replace("\x00-\x1f", "\x00-\x09\x0b-\x1f"))
# Markdown punctuation that can start code, links, images or a table cell, or emphasis: escaped with a backslash.
# (An underscore inside a word is never emphasis, and names are full of them: it stays.)
_MARKDOWN_SPECIAL = str.maketrans({char: "\\" + char for char in "\\`*[]|"})


def _unsurrogate(value: str) -> str:
    """Lone surrogates (bytes that were not UTF-8, e.g. in a path from argv) as \\udcxx escapes."""
    return value if value.isascii() else value.encode("utf-8", "backslashreplace").decode("utf-8")


def terminal_text(text: object) -> str:
    """Text safe to print on a terminal: control characters (escape sequences, newlines, bidi overrides) become '?'."""
    return CONTROLS.sub("?", _unsurrogate(str(text)).replace("\t", " "))


def markdown_code(text: object) -> str:
    """Text as a Markdown code span that cannot break a table row or end early (its fence outruns any backticks)."""
    value = terminal_text(text).replace("|", "\\|")
    longest = max((len(run) for run in re.findall("`+", value)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {value} {fence}" if longest else f"`{value}`"


def markdown_text(text: object) -> str:
    """Text for Markdown prose or a table cell: one line, HTML escaped, Markdown punctuation escaped."""
    return html.escape(terminal_text(text), quote=False).translate(_MARKDOWN_SPECIAL)


def csv_text(text: object) -> str:
    """Text for a CSV cell: control characters become '?', and a leading =, +, -, @ gets a quote (no formula)."""
    value = terminal_text(text)
    return "'" + value if value[:1] in _FORMULA_STARTS else value


def csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every text cell passed through csv_text (numbers untouched)."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(lambda value: csv_text(value) if isinstance(value, str) else value)
    return out


def html_text(text: object) -> str:
    """Text escaped for HTML (attributes included); a tab becomes a space, other control characters U+FFFD."""
    return html.escape(_HTML_CONTROLS.sub("\ufffd", _unsurrogate(str(text)).replace("\t", " ")), quote=True)
