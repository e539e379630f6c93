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


def test_two_pushes_at_once_push_each_record_once_and_neither_fails(tmp_path, monkeypatch):
    """The app's sync and a finishing job (two processes, one home) pushed the same outbox at once: the slower
    one's move to `sent/` found the file gone and reported the repo unreachable."""
    import threading
    import time

    from xlt.results import store as store_module

    remote = tmp_path / "remote"
    remote.mkdir()
    app, job = (store_for(tmp_path, repo=f"file://{remote}") for _ in range(2))
    job.add(make_record(), push=False)
    real = store_module.FolderBackend.push
    monkeypatch.setattr(store_module.FolderBackend, "push", lambda self, *a: (time.sleep(0.3), real(self, *a))[1])
    out = {}
    threads = [threading.Thread(target=lambda n=n, s=s: out.update({n: s.push_pending()}))
               for n, s in (("app", app), ("job", job))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(out.values()) == ["Nothing waiting to be pushed.", f"Pushed 1 record(s) to file://{remote}."], out
    assert len(list(remote.rglob("*.json"))) == 1 and app.pending() == []


def test_a_queued_record_moved_away_meanwhile_counts_as_sent(tmp_path, monkeypatch):
    """A pusher outside the lock (an older xlt sharing the home) moved the file first: it was pushed."""
    from xlt.results import store as store_module

    remote = tmp_path / "remote"
    remote.mkdir()
    store = store_for(tmp_path, repo=f"file://{remote}")
    store.add(make_record(), push=False)
    real = store_module.FolderBackend.push

    def push_and_moved_by_another(self, local, path_in_repo):
        real(self, local, path_in_repo)
        local.unlink()

    monkeypatch.setattr(store_module.FolderBackend, "push", push_and_moved_by_another)
    assert store.push_pending().startswith("Pushed 1") and store.pending() == []


def test_the_outbox_copy_is_written_atomically(tmp_path, monkeypatch):
    """A push listing the outbox while a record was being copied into it could upload half a file."""
    from xlt.results import store as store_module

    written = []
    real = store_module.write_atomic
    monkeypatch.setattr(store_module, "write_atomic", lambda path, text: (written.append(path), real(path, text))[1])
    store = store_for(tmp_path, repo=f"file://{tmp_path / 'remote'}")
    store.add(make_record(), push=False)
    assert store.pending() and store.pending()[0] in written
    assert json.loads(store.pending()[0].read_text())["run_id"] == make_record()["run_id"]


def test_the_background_sync_outlives_a_failed_sync(tmp_path, monkeypatch, capsys):
    """One sync that raised (a full disk while moving a pushed file) ended the schedule thread for good."""
    import threading

    store = store_for(tmp_path, repo=f"file://{tmp_path / 'remote'}", token="hf_SECRET_in_the_error")
    calls, again = [], threading.Event()

    def sync():
        calls.append(1)
        if len(calls) == 1:
            raise OSError("No space left on device (token hf_SECRET_in_the_error)")
        again.set()
        return "ok"

    monkeypatch.setattr(store, "sync", sync)
    monkeypatch.setenv("HF_TOKEN", "hf_SECRET_in_the_error")
    store.start_schedule(every_seconds=0.01)
    try:
        assert again.wait(10), "the schedule stopped after one failed sync"
    finally:
        store.stop()
    err = capsys.readouterr().err
    assert "No space left" in err and "hf_SECRET" not in err


def test_a_visitors_token_is_masked_before_a_pull_request_error_is_cut_short(tmp_path, monkeypatch):
    """The error was cut to 200 characters before the visitor's OAuth token was masked: a token straddling the
    cut no longer matched, and its first characters showed."""
    from xlt.results import store as store_module

    def refuse(self, local, path_in_repo, token, user):
        raise RuntimeError("x" * 190 + f" token={token} refused")

    monkeypatch.setattr(store_module.FolderBackend, "open_pr", refuse)
    store = store_for(tmp_path, repo=f"file://{tmp_path}")
    path = tmp_path / "upload.json"
    path.write_text(json.dumps(make_upload(run_id="pr-00001")))
    record = store.import_upload(path, user="alice", oauth_token="hf_oauth_of_alice_0123456789")
    assert record["pull_request_error"].startswith("RuntimeError: xxx") and "hf_" not in record["pull_request_error"]
