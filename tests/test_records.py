import json

import pytest

from xlt.errors import XltError
from xlt.results.records import check_protocol, find_records, read_records, validate_record, write_record


def make_record(**overrides):
    record = {
        "schema_version": 2, "run_id": "abc123-20260101T000000", "created": "2026-01-01T00:00:00+00:00",
        "task": "nli", "method": "zero-shot", "model": "multilingual-e5-small", "model_fingerprint": "sha256:x",
        "source_languages": ["en"], "seen_languages": ["en"], "target_languages": ["en", "fr"], "seed": 1,
        "config": {}, "collapsed": False,
        "config_fingerprint": "abc123",
        "metrics": {"en": {"accuracy": 0.7, "macro_f1": 0.69, "n": 10, "ci95": [0.6, 0.8]},
                    "fr": {"accuracy": 0.6, "macro_f1": 0.58, "n": 10, "ci95": [0.5, 0.7]}},
        "summary": {"metric": "accuracy", "target_average": 0.6}, "train_seconds": 1.0,
        "train_examples_per_second": 2.0, "hardware": {}, "packages": {}, "xlt_commit": "deadbeef",
        "command": "xlt train --task nli",
    }
    record.update(overrides)
    return record


def test_valid_record_round_trips(tmp_path):
    path = write_record(make_record(), tmp_path)
    assert path.parent.name == "nli" and path.name.endswith("abc123-20260101T000000.json")
    records, errors = read_records(tmp_path)
    assert records == [make_record()] and errors == []
    assert find_records(tmp_path, "abc123") and not find_records(tmp_path, "other")


@pytest.mark.parametrize("overrides, message", [
    ({"schema_version": 99}, "schema_version 99"),
    ({"run_id": "../../etc/passwd"}, "run_id"),
    ({"metrics": {"en": {"accuracy": 1.5, "macro_f1": 0.5, "n": 3, "ci95": [0, 1]}}}, "accuracy must be"),
    ({"metrics": {"en": {"accuracy": 0.5, "macro_f1": 0.5, "n": 0, "ci95": [0, 1]}}}, "n must be"),
    ({"source_languages": []}, "source_languages"),
    ({"seed": True}, "'seed' has the wrong type"),
    ({"created": "yesterday"}, "ISO timestamp"),
])
def test_invalid_records_are_rejected_with_reason(overrides, message):
    with pytest.raises(XltError, match=message):
        validate_record(make_record(**overrides))


def test_missing_keys_are_all_listed():
    record = make_record()
    del record["command"], record["metrics"]
    with pytest.raises(XltError, match="missing 'metrics'.*missing 'command'"):
        validate_record(record)


def test_malformed_files_are_skipped_with_a_message(tmp_path):
    write_record(make_record(), tmp_path)
    (tmp_path / "nli" / "broken.json").write_text("{not json")
    (tmp_path / "nli" / "list.json").write_text(json.dumps([1, 2]))
    records, errors = read_records(tmp_path)
    assert len(records) == 1 and len(errors) == 2
    assert any("not valid JSON" in e for e in errors) and any("JSON object" in e for e in errors)


def test_version_1_records_are_read_as_version_2(tmp_path):
    from xlt.config import ExperimentConfig

    config = ExperimentConfig(task="nli")
    old = make_record(schema_version=1, config=config.to_dict(), config_fingerprint="written-by-v1")
    del old["seen_languages"], old["collapsed"]
    write_record(old, tmp_path)
    (record,), _ = read_records(tmp_path)
    assert record["schema_version"] == 2 and record["seen_languages"] == ["en"] and record["collapsed"] is False
    assert record["config_fingerprint"] == config.fingerprint() and record["recipe"] == ""


def test_commit_comes_from_the_environment_where_the_code_travelled_without_git(monkeypatch):
    import subprocess

    from xlt.results import records

    def no_git(*args, **kwargs):
        raise OSError("git: not found")

    monkeypatch.setattr(subprocess, "run", no_git)
    monkeypatch.delenv("XLT_COMMIT", raising=False)
    assert records.xlt_commit() == "unknown"
    monkeypatch.setenv("XLT_COMMIT", "0e1f5ed")
    assert records.xlt_commit() == "0e1f5ed"


def test_a_command_written_without_the_protocol_or_control_is_read_as_the_line_that_reruns_the_record(tmp_path):
    from xlt.config import ExperimentConfig

    config = ExperimentConfig(task="nli", method="zero-shot")
    metrics = {lang: {"accuracy": 0.6, "macro_f1": 0.6, "n": 10, "ci95": [0.5, 0.7],
                      "premise_shuffled_accuracy": 0.5} for lang in ("en", "fr")}
    old = make_record(config=config.to_dict(), protocol="cpu-v1", metrics=metrics, command=config.to_command())
    plain = make_record(run_id="plain-20260101T000000", config=config.to_dict(), command="xlt train --task nli")
    write_record(old, tmp_path), write_record(plain, tmp_path)
    records, _ = read_records(tmp_path)
    by_id = {r["run_id"]: r for r in records}
    assert by_id[old["run_id"]]["command"] == config.to_command(protocol="cpu-v1", premise_control=True)
    assert by_id[old["run_id"]]["command"].endswith("--protocol cpu-v1 --premise-control")
    assert by_id["plain-20260101T000000"]["command"] == "xlt train --task nli"  # nothing to add: left as written


def test_an_empty_protocol_written_by_older_versions_still_reads_as_none(tmp_path):
    write_record(make_record(protocol=""), tmp_path)
    (record,), errors = read_records(tmp_path)
    assert errors == [] and record["protocol"] == "" and check_protocol(record["protocol"]) is None
    from xlt.leaderboard.table import NO_PROTOCOL, filter_runs, protocol_choices, runs_frame

    runs = runs_frame([record])
    assert protocol_choices(runs) == [NO_PROTOCOL]  # listed as a run without a protocol
    assert list(filter_runs(runs, protocol=NO_PROTOCOL)["run_id"]) == [record["run_id"]]
    assert filter_runs(runs, protocol="cpu-v1").empty
    with pytest.raises(XltError, match="'protocol' must be a name"):
        validate_record(make_record(protocol="a b"))
