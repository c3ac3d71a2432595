#!/usr/bin/env python3
"""Open the HTML reports in headless Chromium: check that no chart label is clipped and that the page
requests nothing, and save screenshots.

A copy of each page gets a small probe script, placed before the page's Content-Security-Policy (so
the policy, which forbids scripts, lets it run). After the load event the probe measures every SVG
text against its SVG's box and each row's label against its bar, lists every resource the document
fetched or tried to fetch (Resource Timing, policy violations, src/href attributes), and writes the
verdict into an attribute that `--dump-dom` prints. The browser's own background traffic (which
`--disable-background-networking` does not entirely stop) never reaches the page's verdict, and
host resolution is mapped to nowhere so that nothing leaves the machine either way.

Example:
  python scripts/check_html.py --out /tmp/html-check
  python scripts/check_html.py --one model.onnx --several a.onnx b.onnx --out /tmp/html-check
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from estimator.commands import run_command

ZOO = Path(__file__).resolve().parent.parent / "training_data" / "zoo"
DEFAULT_ONE = ZOO / "mobilenet_v3_small.onnx"
DEFAULT_SEVERAL = tuple(ZOO / f"{name}.onnx" for name in ("mobilenet_v3_small", "mobilenet_v2", "resnet18", "googlenet"))
WINDOW = (1280, 900)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND")

PROBE = """<script>(() => {
  const blocked = [];
  document.addEventListener('securitypolicyviolation', e => blocked.push(e.violatedDirective + ' ' + e.blockedURI));
  window.addEventListener('load', () => setTimeout(() => {
    const tol = 0.5, verdict = {title: document.title, svgs: 0, labels: 0, clipped: [], overlapping: [],
      too_wide: [], requests: [], blocked, links: []};
    for (const svg of document.querySelectorAll('svg')) {
      verdict.svgs++;
      const box = svg.getBoundingClientRect(), holder = svg.parentElement.getBoundingClientRect();
      if (box.width > holder.width + tol) verdict.too_wide.push(svg.getAttribute('aria-label'));
      for (const text of svg.querySelectorAll('text')) {
        verdict.labels++;
        const r = text.getBoundingClientRect();
        if (r.width === 0 || r.left < box.left - tol || r.right > box.right + tol || r.top < box.top - tol
            || r.bottom > box.bottom + tol) verdict.clipped.push(text.textContent);
      }
      for (const row of svg.querySelectorAll('g.row')) {
        const label = row.querySelector('text.label'), bar = row.querySelector('rect');
        if (label && bar && label.getBoundingClientRect().right > bar.getBoundingClientRect().left + tol)
          verdict.overlapping.push(label.textContent);
      }
    }
    if (document.documentElement.scrollWidth > window.innerWidth) {
      const over = el => el.getBoundingClientRect().right > window.innerWidth || el.scrollWidth > el.clientWidth + 1;
      const wide = [...document.body.querySelectorAll('*')].filter(el => over(el) && ![...el.children].some(over));
      verdict.too_wide.push('the page, at ' + wide.slice(0, 3).map(el => el.tagName.toLowerCase() + ' "'
        + el.textContent.slice(0, 40) + '"').join(', '));
    }
    verdict.requests = performance.getEntriesByType('resource').map(e => e.name);
    for (const el of document.querySelectorAll('[src],[href],[srcset],[*|href],[style*="url("]'))
      verdict.links.push(el.outerHTML.slice(0, 160));
    document.documentElement.setAttribute('data-check', JSON.stringify(verdict));
  }, 0));
})();</script>"""


def find_chromium() -> str | None:
    """The Chromium binary ($CHROMIUM, then `chromium` on PATH, then Debian's /usr/bin/chromium), or None."""
    for candidate in (os.environ.get("CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _chromium(chromium: str, profile: Path, window: tuple[int, int], *arguments: str) -> str:
    command = [chromium, *FLAGS, f"--user-data-dir={profile}", f"--window-size={window[0]},{window[1]}", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")
    return done.stdout


def with_probe(page: str) -> str:
    """The page with the probe inserted right after its charset declaration (before any policy)."""
    anchor = re.search(r"<meta charset=[^>]*>", page) or re.search(r"<head[^>]*>", page)
    if anchor is None:
        raise ValueError("the page has no <head>")
    return page[: anchor.end()] + PROBE + page[anchor.end():]


def check_page(page: str, chromium: str, window: tuple[int, int] = WINDOW) -> dict:
    """What the probe found when Chromium loaded `page` (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="check-html-") as folder:
        path = Path(folder) / "page.html"
        path.write_text(with_probe(page), encoding="utf-8")
        dom = _chromium(chromium, Path(folder) / "profile", window, "--virtual-time-budget=5000", "--dump-dom",
                        path.as_uri())
    found = re.search(r'data-check="([^"]*)"', dom)
    if found is None:
        raise RuntimeError("the probe wrote no verdict (did the page load?)")
    return json.loads(html.unescape(found.group(1)))


def problems(verdict: dict) -> list[str]:
    """The verdict's failures, one line each (empty: the page passed)."""
    lines = []
    if not verdict["svgs"] or not verdict["labels"]:
        lines.append("no chart or no label found")
    for key, what in (("clipped", "label clipped by its chart"), ("overlapping", "label overlaps its bar"),
                      ("too_wide", "wider than the window"), ("requests", "request made"),
                      ("blocked", "request or script blocked by the page's policy"), ("links", "element with a link")):
        lines += [f"{what}: {item}" for item in verdict[key]]
    return lines


def screenshot(page_path: Path, png: Path, chromium: str, window: tuple[int, int]) -> None:
    with tempfile.TemporaryDirectory(prefix="check-html-") as folder:
        _chromium(chromium, Path(folder) / "profile", window, "--virtual-time-budget=2000", f"--screenshot={png}",
                  page_path.resolve().as_uri())


def small_png(source: Path, target: Path, colors: int = 128) -> None:
    """A palette copy of a screenshot for the README (Pillow when installed, else a plain copy)."""
    try:
        from PIL import Image
    except ImportError:
        shutil.copyfile(source, target)
        return
    with Image.open(source) as image:
        image.convert("RGB").quantize(colors=colors, method=Image.Quantize.FASTOCTREE).save(target, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one", type=Path, default=DEFAULT_ONE, help="model of the one-model page")
    parser.add_argument("--several", type=Path, nargs="+", default=list(DEFAULT_SEVERAL),
                        help="models of the comparison page")
    parser.add_argument("--out", type=Path, required=True, help="folder for the pages and screenshots")
    parser.add_argument("--height", type=int, default=2400, help="screenshot height in pixels")
    parser.add_argument("--readme-png", type=Path, help="also save a small top-of-page screenshot here")
    args = parser.parse_args(argv)

    def check() -> int:
        from estimator import estimate
        from estimator.predict.comparison import compare

        chromium = find_chromium()
        if chromium is None:
            print("chromium not found: install Debian's chromium package or set $CHROMIUM")
            return 1
        args.out.mkdir(parents=True, exist_ok=True)
        pages = {"one": estimate(args.one).to_html(),
                 "several": compare(estimate(model) for model in args.several).to_html()}
        failed = False
        for name, page in pages.items():
            path = args.out / f"{name}.html"
            path.write_text(page, encoding="utf-8")
            verdict = check_page(page, chromium)
            found = problems(verdict)
            failed |= bool(found)
            screenshot(path, args.out / f"{name}.png", chromium, (WINDOW[0], args.height))
            print(f"{name}: {verdict['labels']} labels in {verdict['svgs']} chart(s), "
                  f"{len(verdict['requests'])} requests: {'ok' if not found else 'FAILED'}; title {verdict['title']!r}")
            for line in found:
                print(f"  {line}")
        if args.readme_png:
            with tempfile.TemporaryDirectory(prefix="check-html-") as folder:
                raw = Path(folder) / "top.png"
                screenshot(args.out / "one.html", raw, chromium, (1280, 1040))
                small_png(raw, args.readme_png)
        print(f"pages and screenshots in {args.out}")
        return 1 if failed else 0

    return run_command("check_html", check)


if __name__ == "__main__":
    raise SystemExit(main())
