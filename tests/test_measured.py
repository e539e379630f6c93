"""Measured per-language scores come from the model's own record, found by run_id, never invented."""

import json

from xlt.results import measured
from xlt.settings import repo_root


def test_measured_scores_from_the_users_store(tmp_path, monkeypatch):
    monkeypatch.setenv("XLT_HOME", str(tmp_path))
    measured.measured_scores.cache_clear()
    folder = tmp_path / "results" / "sentiment"
    folder.mkdir(parents=True)
    committed = sorted((repo_root() / "leaderboard" / "results" / "sentiment").glob("*.json"))[-1]
    record = json.loads(committed.read_text())  # a real record, with its own run and scores changed
    record["run_id"] = "abc123-20261125T000000"
    record["metrics"]["fr"] = {"macro_f1": 0.61, "accuracy": 0.7, "n": 870, "ci95": [0.58, 0.64]}
    (folder / "zero-shot__m__en__seed42__abc123-20261125T000000.json").write_text(json.dumps(record))
    scores = measured.measured_scores("sentiment", "abc123-20261125T000000")
    assert scores["fr"] == {"metric": "macro_f1", "value": 0.61, "ci95": [0.58, 0.64], "n": 870}
    note = measured.measured_note(scores, "fr", "French (fr)")
    assert note == "Measured macro-F1 of this model in French (fr): 0.61, 95% CI 0.58–0.64 on 870 test examples."
    assert measured.measured_note(scores, "xx", "Unknown") is None
    # no record, or a run id that would widen the file pattern: nothing measured
    assert measured.measured_scores("sentiment", "zzz") == {}
    assert measured.measured_scores("sentiment", "*") == {}
    assert measured.measured_scores("../x", "abc") == {}
    measured.measured_scores.cache_clear()


def test_a_record_filed_later_is_found_without_a_restart(tmp_path, monkeypatch):
    monkeypatch.setenv("XLT_HOME", str(tmp_path))
    measured.measured_scores.cache_clear()
    assert measured.measured_scores("sentiment", "late01-20261126T000000") == {}  # the job has not filed it yet
    folder = tmp_path / "results" / "sentiment"
    folder.mkdir(parents=True)
    committed = sorted((repo_root() / "leaderboard" / "results" / "sentiment").glob("*.json"))[-1]
    record = json.loads(committed.read_text())
    record["run_id"] = "late01-20261126T000000"
    (folder / "zero-shot__m__en__seed42__late01-20261126T000000.json").write_text(json.dumps(record))
    scores = measured.measured_scores("sentiment", "late01-20261126T000000")  # now it is there
    metric = record["summary"]["metric"]
    assert scores.keys() == record["metrics"].keys()
    for lang, got in scores.items():
        want = record["metrics"][lang]
        assert got == {"metric": metric, "value": want[metric], "ci95": want["ci95"], "n": want["n"]}
    measured.measured_scores.cache_clear()


def test_many_visitors_at_once_share_the_bounded_cache(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(measured, "_read_scores", lambda task, run_id: {"de": {"value": 0.5, "run": run_id}})
    measured.measured_scores.cache_clear()

    def ask(i):
        return measured.measured_scores("nli", f"run{i % 200}")["de"]["run"] == f"run{i % 200}"

    with ThreadPoolExecutor(16) as pool:
        assert all(pool.map(ask, range(4000)))
    assert len(measured._FOUND) <= 64
    measured.measured_scores.cache_clear()
