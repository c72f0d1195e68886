"""Telemetry records: one JSON line per accepted/dismissed completion."""

from __future__ import annotations

import json

from codefill.lsp.telemetry import FILE_NAME, ShownCompletion, Telemetry


def test_accepted_and_dismissed_records(tmp_path):
    telemetry = Telemetry(tmp_path / "data")
    telemetry.shown(ShownCompletion("id1", "ctx1", "return a + b", "python", 41.96))
    telemetry.shown(ShownCompletion("id2", "ctx2", "pass", None, 3.0))
    assert telemetry.report("id1", accepted=True) is not None
    assert telemetry.report("id2", accepted=False) is not None
    lines = (tmp_path / "data" / FILE_NAME).read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["id"], r["context_hash"], r["completion"], r["accepted"], r["language"], r["latency_ms"])
            for r in records] == [("id1", "ctx1", "return a + b", True, "python", 42.0),
                                  ("id2", "ctx2", "pass", False, None, 3.0)]
    assert all(r["time"].endswith("+00:00") for r in records)


def test_unknown_or_repeated_ids_write_nothing(tmp_path):
    telemetry = Telemetry(tmp_path)
    telemetry.shown(ShownCompletion("id1", "ctx", "x", "python", 1.0))
    assert telemetry.report("nope", accepted=True) is None
    assert telemetry.report("id1", accepted=True) is not None
    assert telemetry.report("id1", accepted=True) is None  # reported once
    assert len((tmp_path / FILE_NAME).read_text().splitlines()) == 1


def test_disabled_writes_nothing(tmp_path):
    telemetry = Telemetry(tmp_path, enabled=False)
    telemetry.shown(ShownCompletion("id1", "ctx", "x", "python", 1.0))
    assert telemetry.report("id1", accepted=True) is None
    assert not (tmp_path / FILE_NAME).exists()


def test_unwritable_folder_is_logged_not_raised(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    telemetry = Telemetry(blocker / "sub")
    telemetry.shown(ShownCompletion("id1", "ctx", "x", "python", 1.0))
    assert telemetry.report("id1", accepted=True) is None


def test_records_say_what_kind_of_suggestion_was_shown(tmp_path):
    telemetry = Telemetry(tmp_path)
    telemetry.shown(ShownCompletion("fim", "ctx", "x", "python", 1.0))
    telemetry.shown(ShownCompletion("edit", "req", "length", "python", 2.0, kind="next_edit"))
    assert telemetry.report("fim", accepted=True)["kind"] == "fim"
    assert telemetry.report("edit", accepted=False)["kind"] == "next_edit"
    kinds = [json.loads(line)["kind"] for line in (tmp_path / FILE_NAME).read_text().splitlines()]
    assert kinds == ["fim", "next_edit"]
