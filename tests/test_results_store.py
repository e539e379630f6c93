"""Results store: local records, outbox, a folder stand-in for the repo, and an unreachable Hub."""

import json

import pytest

from tests.test_records import make_record
from tests.test_submissions import make_upload
from xlt.errors import XltError
from xlt.results.store import ResultsStore


def store_for(tmp_path, repo="", token=None):
    committed = tmp_path / "committed"
    committed.mkdir(parents=True, exist_ok=True)
    return ResultsStore(home=tmp_path / "home", committed_dir=committed, repo=repo, token=token)


def test_records_merge_sources_and_dedupe_run_ids(tmp_path):
    store = store_for(tmp_path)
    store.add(make_record())
    store.add(make_record(run_id="other-run-1"))
    from xlt.results.records import write_record

    write_record(make_record(), tmp_path / "committed")  # same run id also committed
    records, errors = store.records()
    assert sorted(r["run_id"] for r in records) == ["abc123-20260101T000000", "other-run-1"] and not errors


def test_folder_stand_in_push_and_pull_without_duplicates(tmp_path):
    remote = tmp_path / "remote"
    remote.mkdir()
    store = store_for(tmp_path, repo=f"file://{remote}")
    store.add(make_record())
    assert len(list(remote.rglob("*.json"))) == 1 and store.pending() == []
    assert store.push_pending() == "Nothing waiting to be pushed."
    other = store_for(tmp_path / "second", repo=f"file://{remote}")
    assert "Pulled" in other.pull()
    assert [r["run_id"] for r in other.records()[0]] == ["abc123-20260101T000000"]


def test_unreachable_hub_keeps_records_in_the_outbox(tmp_path, monkeypatch):
    # real huggingface_hub calls against a closed local port: refused at once
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    import importlib

    import huggingface_hub.constants as constants

    importlib.reload(constants)
    try:
        secret = "hf_SECRETTOKEN123"
        store = store_for(tmp_path, repo="someone/xlt-results", token=secret)
        store.add(make_record())
        assert len(store.pending()) == 1
        message = store.push_pending()
        assert "wait in the outbox" in message and secret not in message
        assert "not answering since" in store.pull()
        # nothing lost: the record is still local and still queued
        assert len(store.records()[0]) == 1 and len(store.pending()) == 1
    finally:
        monkeypatch.undo()
        importlib.reload(constants)


def test_push_disabled_without_token(tmp_path):
    store = store_for(tmp_path, repo="someone/xlt-results", token=None)
    assert not store.can_push and "HF_TOKEN" in store.push_disabled_reason()
    store.add(make_record())
    assert "HF_TOKEN" in store.push_pending() and len(store.pending()) == 1


def test_upload_validation(tmp_path):
    store = store_for(tmp_path)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(make_upload(run_id="uploaded-1")))
    assert store.import_upload(good)["run_id"] == "uploaded-1"
    with pytest.raises(XltError, match="already on the leaderboard"):
        store.import_upload(good)
    bad_json = tmp_path / "bad.json"
    bad_json.write_bytes(b"\xff\xfe not json")
    with pytest.raises(XltError, match="not UTF-8"):
        store.import_upload(bad_json)
    bad_schema = tmp_path / "schema.json"
    bad_schema.write_text(json.dumps({"run_id": "x"}))
    with pytest.raises(XltError, match="missing"):
        store.import_upload(bad_schema)
    huge = tmp_path / "huge.json"
    huge.write_text(" " * 2_100_000)
    with pytest.raises(XltError, match="larger than"):
        store.import_upload(huge)
    sneaky = tmp_path / "sneaky.json"
    sneaky.write_text(json.dumps(make_upload(run_id="../../escape")))
    with pytest.raises(XltError, match="run_id"):
        store.import_upload(sneaky)
