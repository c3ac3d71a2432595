"""Progress bars (tqdm) for long measuring loops; as log lines when standard error is not a terminal."""

from __future__ import annotations

import logging
import sys
import time

from tqdm import tqdm

__all__ = ["budget_progress", "progress_bar", "progress_callback"]

logger = logging.getLogger("estimator.measure.progress")


class _LogLines:
    """A file for tqdm that turns each redraw into one log line (captured logs stay readable)."""

    encoding = "utf-8"

    def write(self, text: str) -> None:
        line = text.strip("\r\n ")
        if line:
            logger.info(line)

    def flush(self) -> None:
        pass


def progress_bar(total: int, description: str, every_s: float = 0.5) -> tqdm:
    """A bar on a terminal, else a log line at most every `every_s` seconds."""
    if sys.stderr.isatty():
        return tqdm(total=total, desc=description, mininterval=every_s, dynamic_ncols=True)
    return tqdm(total=total, desc=description, mininterval=every_s, file=_LogLines(), ascii=True, ncols=100)


def progress_callback(description: str):
    """A collector's progress(done, total, label) drawn as a progress_bar (made at the first call)."""
    state: dict[str, tqdm] = {}

    def report(done: int, total: int, label: str) -> None:
        bar = state.get("bar")
        if bar is None or bar.total != total:
            if bar is not None:
                bar.close()
            bar = state["bar"] = progress_bar(total, description)
        bar.set_postfix_str(label[-60:], refresh=False)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return report


def budget_progress(deadline: float, description: str = "measuring"):
    """A collector's progress(done, total, label) drawn against a time budget ending at `deadline`
    (time.monotonic()): the bar counts seconds, so its ETA is the budget's end."""
    started = time.monotonic()
    bar = progress_bar(max(1, round(deadline - started)), description)
    graphs = {"count": 0}

    def report(done: int, total: int, label: str) -> None:
        if done:
            graphs["count"] += 1
        bar.set_postfix_str(f"{graphs['count']} graphs, {label[-40:]}", refresh=False)
        bar.update(min(bar.total, round(time.monotonic() - started)) - bar.n)

    return report
