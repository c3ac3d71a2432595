"""Where the repository's data lives, for tests at any depth."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAINING_DATA = ROOT / "training_data"
ZOO = TRAINING_DATA / "zoo"
FAMILIES = TRAINING_DATA / "families"
UNSEEN = TRAINING_DATA / "unseen"
TEST_DATA = ROOT / "tests" / "data"
MODERN = TRAINING_DATA / "modern"
