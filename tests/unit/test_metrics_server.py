"""The container's own metrics (web/container/metrics_server.py), from the start-up record."""

import json
from pathlib import Path

import pytest

from web.container import metrics_server


@pytest.mark.parametrize("ahead", [True, False])
def test_the_start_up_record_becomes_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ahead: bool
) -> None:
    record = tmp_path / "startup.json"
    facts = {"duration_seconds": 0.5, "lock_wait_seconds": 0.0, "revision": "b2", "ahead": ahead}
    record.write_text(json.dumps(facts))
    monkeypatch.setattr(metrics_server, "STARTUP_RECORD", record)
    collector = metrics_server.ContainerCollector("http://127.0.0.1:1/readyz")  # never answers
    samples = {sample.name: sample for family in collector.collect() for sample in family.samples}
    assert samples["web_ready"].value == 0
    assert samples["schema_revision_info"].labels == {"revision": "b2"}
    assert samples["schema_ahead"].value == int(ahead)
