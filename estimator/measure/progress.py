"""Progress bars (tqdm) for long measuring loops; as log lines when standard error is not a terminal."""

from __future__ import annotations

import logging
import sys

from tqdm import tqdm

__all__ = ["progress_bar"]

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
