"""The fuzz worker: runs `estimate` (estimator.cli.main) on one case after another and judges each run.

Started by tests/fuzz/runner.py as `python -m tests.fuzz.worker RESULT_FD`; reads one JSON case
per line on stdin, writes one JSON result per line to RESULT_FD. A crash or hang kills only this
process; the runner sees it and starts another.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import sys
import time
import traceback
from html.parser import HTMLParser
from pathlib import Path

_opened: list[str] | None = None
_CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _audit(event: str, args: tuple) -> None:
    if _opened is not None and event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        path = args[0]
        _opened.append(os.fsdecode(path) if not isinstance(path, os.PathLike) else os.fspath(path))


def run_case(case: dict) -> dict:
    """Run one case; the outcome is ok, error (exit 2, one line) or a named failure."""
    global _opened
    from estimator.cli import main

    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    _opened = []
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(case["argv"]))
        outcome, detail = judge(code, out.getvalue(), err.getvalue(), case)
    except BaseException as error:
        frame = traceback.extract_tb(error.__traceback__)[-1]
        code, outcome = None, "exception"
        detail = f"{type(error).__name__}: {str(error)[:200]} at {Path(frame.filename).name}:{frame.lineno}"
    finally:
        opened, _opened = _opened, None
    stray = [path for path in opened if not _allowed(path, case["allowed"])]
    if outcome in ("ok", "error") and case.get("kernels"):
        outcome, detail = _kernels(case["kernels"], outcome, detail)
    if outcome in ("ok", "error") and stray:
        outcome, detail = "opened", ", ".join(sorted(set(stray))[:3])
    return {"id": case["id"], "code": code, "outcome": outcome, "detail": detail,
            "seconds": round(time.perf_counter() - started, 3)}


def _kernels(model: str, outcome: str, detail: str) -> tuple[str, str]:
    """The same model through the kernel extractor (a kernel profile's path): records or a GraphError, nothing else."""
    from graph import GraphError
    from graph.kernels import ORT_CPU_AVX2, extract_kernels

    try:
        extract_kernels(model, ORT_CPU_AVX2)
    except GraphError:
        pass
    except Exception as error:  # the point is to see anything that escapes
        frame = traceback.extract_tb(error.__traceback__)[-1]
        return "exception", f"kernels: {type(error).__name__}: {str(error)[:200]} at {Path(frame.filename).name}:{frame.lineno}"
    return outcome, detail


def judge(code: int, stdout: str, stderr: str, case: dict) -> tuple[str, str]:
    """ok / error when the run kept every promise, else the first broken one."""
    lines = stderr.splitlines()
    several = len(case.get("models", [])) > 1
    if code == 2:
        if not lines or not all(line.startswith("estimate: error: ") for line in lines) \
                or (len(lines) != 1 and not several) or stderr.count("\n") != len(lines):
            return "error_not_one_line", repr(stderr[:300])
        if _CONTROLS.search(stderr.replace("\n", "")):
            return "error_control_chars", repr(stderr[:200])
    elif code == 0:
        if stderr:
            return "stderr_on_success", repr(stderr[:300])
    else:
        return "bad_exit_code", f"{code}: {stderr[:200]!r}"
    text = stdout
    output = case.get("output")
    if output and code == 0 and Path(output).is_file():
        text = Path(output).read_text(encoding="utf-8")
    problem = check_text(text, case.get("format", "table"), several or case.get("layers", False))
    if problem:
        return "bad_output", problem
    return ("ok", "") if code == 0 else ("error", lines[-1][len("estimate: error: "):][:300])


def check_text(text: str, fmt: str, loose: bool) -> str:
    """What is wrong with a rendered output, or ''."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "output cannot be written as UTF-8 (lone surrogates)"
    if _CONTROLS.search(text):
        return f"control character in output: {_CONTROLS.search(text).group()!r}"
    if not text:
        return ""
    if fmt == "json" and not loose:
        try:
            json.loads(text)
        except ValueError as error:
            return f"invalid JSON: {error}"
    if fmt == "csv":
        for row in csv.reader(io.StringIO(text)):
            for cell in row:
                if cell.startswith(_FORMULA) and not _is_number(cell):
                    return f"CSV cell starts a formula: {cell[:40]!r}"
    if fmt == "markdown":
        if any("<" in _without_code_spans(line) for line in text.splitlines()):
            return "raw '<' in Markdown (outside code spans)"
        widths = {len(re.findall(r"(?<!\\)\|", line)) for line in text.splitlines() if line.startswith("|")}
        tables = [line for line in text.splitlines() if line.startswith("|---")]
        if len(widths) > max(1, len(tables)) + 1:
            return f"Markdown rows with different cell counts: {sorted(widths)}"
    if fmt == "html":
        parser = _Tags()
        parser.feed(text)
        if parser.bad:
            return f"unexpected HTML: {parser.bad}"
    return ""


def _without_code_spans(text: str) -> str:
    """A Markdown line with its code spans (literal, never rendered as HTML) removed (CommonMark's rule)."""
    out, position = [], 0
    for match in re.finditer("`+", text):
        if match.start() < position:
            continue
        fence = match.group()
        closing = re.compile(f"(?<!`){fence}(?!`)").search(text, match.end())
        if closing is None:
            continue
        out.append(text[position:match.start()])
        position = closing.end()
    out.append(text[position:])
    return "".join(out)


class _Tags(HTMLParser):
    """Flags markup a name could have smuggled in: active tags, event handlers, script URLs."""

    DANGEROUS = frozenset({"script", "iframe", "object", "embed", "img", "link", "a", "form", "input", "base",
                           "frame", "video", "audio", "image", "use", "foreignobject"})

    def __init__(self) -> None:
        super().__init__()
        self.bad = ""

    def handle_starttag(self, tag, attrs):
        unsafe = tag in self.DANGEROUS or any(name.startswith("on") or "javascript:" in (value or "").lower()
                                              for name, value in attrs)
        if unsafe and not self.bad:
            self.bad = f"<{tag} {attrs}>"[:80]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


MACHINE_FILES = ("/proc/cpuinfo", "/proc/meminfo")  # this machine's description, compared with a profile's


def _allowed(path: str, roots: list[str]) -> bool:
    """A file the case may open: inside its own folder(s), this machine's description, or Python code being imported."""
    if path in MACHINE_FILES:
        return True
    if path.endswith((".py", ".pyc", ".so", ".pth", ".json")) and (path.startswith(sys.prefix)
                                                                   or path.startswith(sys.base_prefix)):
        return True
    try:
        resolved = Path(path).resolve()
    except (OSError, RuntimeError):
        return False
    return any(resolved.is_relative_to(Path(root).resolve()) for root in roots)


def main() -> None:
    results = os.fdopen(int(sys.argv[1]), "w", buffering=1)
    warmup = json.loads(sys.stdin.readline())
    for argv in warmup["argv"]:  # lazy imports happen here, before any opened file is judged
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            from estimator.cli import main as estimate

            estimate(argv)
    import graph.shapes  # noqa: F401  imported only by graphs that ONNX cannot size alone, which a warm-up may lack
    sys.addaudithook(_audit)
    results.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        results.write(json.dumps(run_case(json.loads(line))) + "\n")


if __name__ == "__main__":
    main()
