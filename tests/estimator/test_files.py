"""device.json: read, written and merged in one place (estimator.files)."""

from __future__ import annotations

import json

from estimator.files import merge_device_file, read_device_file, write_device_file


def test_a_folder_without_device_json_reads_as_none(tmp_path):
    assert read_device_file(tmp_path) is None


def test_merging_overwrites_this_runs_keys_and_keeps_the_others_in_place(tmp_path):
    write_device_file(tmp_path, {"device_id": "old", "gpu_collection_runs": [1], "runs": [0]})
    merge_device_file(tmp_path, {"device_id": "dev", "runs": [0, 1], "machine": {"cpu_model": "x"}})
    text = (tmp_path / "device.json").read_text()
    assert list(json.loads(text)) == ["device_id", "gpu_collection_runs", "runs", "machine"]
    assert read_device_file(tmp_path) == {"device_id": "dev", "gpu_collection_runs": [1], "runs": [0, 1],
                                          "machine": {"cpu_model": "x"}}
    assert text.endswith("}\n") and not list(tmp_path.glob(".*.tmp"))  # written whole, no temporary left
