"""One place where the project's errors become exit codes, for `estimate` and every script.

Project errors (estimator.errors.PROJECT_ERRORS) exit 2 with a one-line message on standard
error; Ctrl-C exits 130 with a line saying what is kept. Anything else is a bug and keeps its
traceback. Library code never prints or exits; commands call run_command around their work.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

from estimator.errors import PROJECT_ERRORS, printable_line

__all__ = ["EXIT_BAD_INPUT", "EXIT_INCOMPLETE", "EXIT_INTERRUPTED", "EXIT_OK", "configure_logging", "report_error",
           "report_note", "run_command"]

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_INCOMPLETE = 3  # estimate --require-modeled: a model's share of MACs modeled is below the threshold
EXIT_INTERRUPTED = 130


def report_error(prog: str, error: BaseException) -> None:
    """The message of a project error on standard error, as one printable line (see printable_line)."""
    print(f"{prog}: error: {printable_line(error)}", file=sys.stderr)


def report_note(prog: str, text: str) -> None:
    """A line for the person at the terminal (what the command is doing for them), on standard error."""
    print(f"{prog}: {printable_line(text)}", file=sys.stderr)


def run_command(prog: str, body: Callable[[], int], interrupted: str = "") -> int:
    """Run a command's work; project errors give exit 2, Ctrl-C gives 130 (`interrupted` says what is kept)."""
    try:
        return body()
    except PROJECT_ERRORS as error:
        report_error(prog, error)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted" + (f": {interrupted}" if interrupted else ""), file=sys.stderr)
        return EXIT_INTERRUPTED


class _ElapsedFormatter(logging.Formatter):
    """`[  12.3s/480s] message`: seconds since the command started, out of its budget."""

    def __init__(self, budget_s: float) -> None:
        super().__init__("%(message)s")
        self.started = time.monotonic()
        self.budget_s = budget_s

    def format(self, record: logging.LogRecord) -> str:
        return f"[{time.monotonic() - self.started:6.1f}s/{self.budget_s:.0f}s] {super().format(record)}"


def configure_logging(budget_s: float | None = None, level: int = logging.INFO) -> None:
    """Send the library's log lines to standard error (with elapsed time when a budget is given)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ElapsedFormatter(budget_s) if budget_s is not None else logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
