"""The HTML pages in a real browser (headless Chromium, where installed): no chart label is clipped, the
page requests nothing, and screenshots are saved. Skipped where Chromium is absent (e.g. CI)."""

from __future__ import annotations

import dataclasses
import importlib.util

import pytest

from estimator import compare, estimate
from estimator.testing import small_cnn
from tests.estimator_fixtures import hand_report
from tests.paths import ROOT, ZOO

_spec = importlib.util.spec_from_file_location("check_html", ROOT / "scripts" / "check_html.py")
check_html = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_html)

CHROMIUM = check_html.find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium)")


def _hostile_report():
    """Long, wide-character and markup names, a lower bound and an out-of-distribution layer."""
    report = hand_report("/home/someone/<b>models</b>/" + "very_long_model_file_name_" * 4 + ".onnx")
    layers = report.layers.copy()
    layers.loc[0, "name"] = "/encoder/encoder.layers.11/" + "attention_block_" * 6 + "/MatMul"
    layers.loc[1, "name"] = '<img src="http://example.invalid/x.png">'
    layers.loc[2, "name"] = "/主干网络/卷积层十二/深度可分离卷积/逐点卷积/Conv"
    return dataclasses.replace(report, layers=layers)


def _check(page: str, screenshot_path) -> dict:
    verdict = check_html.check_page(page, CHROMIUM)
    assert check_html.problems(verdict) == []
    page_path = screenshot_path.with_suffix(".html")
    page_path.write_text(page, encoding="utf-8")
    check_html.screenshot(page_path, screenshot_path, CHROMIUM, (1280, 1200))
    assert screenshot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return verdict


def test_one_model_page_in_chromium(tmp_path):
    report = estimate(ZOO / "mobilenet_v3_small.onnx")
    verdict = _check(report.to_html(), tmp_path / "one.png")
    assert verdict["title"] == "Estimate: mobilenet_v3_small.onnx"
    assert verdict["labels"] >= 2 * len(report.layers)  # a label and a value per layer, plus the axis


def test_hostile_names_in_chromium(tmp_path):
    verdict = _check(_hostile_report().to_html(), tmp_path / "hostile.png")
    assert verdict["title"].startswith("Estimate: very_long_model_file_name_")


def test_several_model_page_in_chromium(tmp_path):
    reports = [estimate(ZOO / "resnet18.onnx"), estimate(small_cnn(with_unmodeled=True)),
               estimate(ZOO / "mobilenet_v3_small.onnx"), _hostile_report()]
    verdict = _check(compare(reports).to_html(), tmp_path / "several.png")
    assert verdict["title"] == "Comparison of 4 models"
