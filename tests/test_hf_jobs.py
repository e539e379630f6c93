"""Sweeps on Hugging Face Jobs, offline: the job spec of a cell, and a Hub that is unreachable or forgetful."""

import json

import pytest

from xlt.config import ExperimentConfig, TrainConfig
from xlt.errors import XltError
from xlt.hf_jobs import LABEL, JobsQueue, JobsSettings, job_spec

SECRET = "hf_very_secret_token"
SETTINGS = dict(install="git+https://huggingface.co/spaces/org/xlt")


def cells():
    return [ExperimentConfig(task="sentiment", train=TrainConfig(seed=s, finetune="lora")) for s in (42, 43)]


def test_the_job_spec_of_a_cell_passes_the_token_and_the_install_spec_as_secrets_only():
    private = "git+https://user:hf_install_token@huggingface.co/spaces/org/xlt"
    spec = job_spec(cells()[0], "cpu-v1", "org/xlt-results", JobsSettings(flavor="a10g-small", install=private))
    assert spec["secrets"] == ["HF_TOKEN", "XLT_INSTALL_SPEC"] and spec["flavor"] == "a10g-small"
    assert spec["labels"][LABEL] == cells()[0].fingerprint()
    script = spec["command"][-1]
    assert "hf_install_token" not in json.dumps(spec)  # a private install URL carries a token
    assert 'pip install -q "$XLT_INSTALL_SPEC" && xlt train --task sentiment' in script
    assert "--protocol cpu-v1" in script and script.endswith(" && python -m xlt.hf_jobs push")
    assert "--premise-control" not in script
    control = job_spec(cells()[0], None, "org/r", JobsSettings(install="xlt==0.1"), premise_control=True)
    assert " --premise-control && " in control["command"][-1]  # a grid's premise_control reaches its Jobs
    assert spec["env"]["XLT_RESULTS_REPO"] == "org/xlt-results" and "HF_TOKEN" not in json.dumps(spec["env"])
    with pytest.raises(XltError, match="Hub dataset repo"):
        job_spec(cells()[0], None, "file:///tmp/x", JobsSettings(**SETTINGS))
    with pytest.raises(XltError, match="set XLT_INSTALL_SPEC"):  # `xlt` on PyPI is not this project
        job_spec(cells()[0], None, "org/r", JobsSettings(install=""))


class FakeApi:
    def __init__(self, reachable=True, existing=()):
        self.reachable, self.existing, self.runs = reachable, list(existing), []

    def list_jobs(self, namespace=None):
        if not self.reachable:
            raise ConnectionError(f"cannot reach the Hub with token {SECRET}")
        return self.existing

    def run_job(self, **kwargs):
        if not self.reachable:
            raise ConnectionError("down")
        self.runs.append(kwargs)
        return type("Info", (), {"id": f"job-{len(self.runs)}"})()

    def inspect_job(self, job_id, namespace=None):
        stage = {"job-1": "COMPLETED", "job-3": "ERROR"}.get(job_id, "RUNNING")
        return type("Info", (), {"status": type("Status", (), {"stage": stage})()})()

    def fetch_job_logs(self, job_id, namespace=None, tail=None):
        return [f"{job_id} step {i}" for i in range(10)] + [f"using token {SECRET}"]


def test_unreachable_hub_keeps_cells_queued_and_nothing_is_submitted_twice(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    down = JobsQueue("grid", home=tmp_path, api=FakeApi(reachable=False))
    message = down.submit(cells(), "cpu-v1", "org/r", JobsSettings(**SETTINGS), done=set())
    assert "stay queued" in message and SECRET not in message
    assert {e["state"] for e in down.state.values()} == {"queued"}
    api = FakeApi()
    up = JobsQueue("grid", home=tmp_path, api=api)  # a later run, state read from disk
    assert "Submitted 2" in up.submit(cells(), "cpu-v1", "org/r", JobsSettings(**SETTINGS), done=set())
    assert api.runs[0]["secrets"] == {"HF_TOKEN": SECRET, "XLT_INSTALL_SPEC": SETTINGS["install"]}
    assert SECRET not in json.dumps(api.runs[0]["command"])
    assert up.submit(cells(), "cpu-v1", "org/r", JobsSettings(**SETTINGS), done=set()) == "Nothing to submit."
    assert len(api.runs) == 2
    assert up.follow() == {cells()[0].fingerprint(): "COMPLETED", cells()[1].fingerprint(): "RUNNING"}
    assert up.state[cells()[0].fingerprint()]["state"] == "done"


def test_a_job_whose_answer_was_lost_is_adopted_not_resubmitted(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    lost = type("Info", (), {"id": "job-lost", "labels": {LABEL: cells()[0].fingerprint()}})()
    api = FakeApi(existing=[lost])
    queue = JobsQueue("grid", home=tmp_path, api=api)
    queue.submit(cells(), None, "org/r", JobsSettings(**SETTINGS), done=set())
    assert len(api.runs) == 1 and queue.state[cells()[0].fingerprint()]["job_id"] == "job-lost"
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(XltError, match="HF_TOKEN"):
        JobsQueue("other", home=tmp_path, api=api).submit(cells(), None, "org/r", JobsSettings(**SETTINGS), done=set())


def test_a_failed_job_is_submitted_again_and_logs_are_followed_without_the_token(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    failed = type("Info", (), {"id": "job-old", "labels": {LABEL: cells()[0].fingerprint()},
                               "status": type("Status", (), {"stage": "ERROR"})()})()
    api = FakeApi(existing=[failed])
    queue = JobsQueue("grid", home=tmp_path, api=api)
    assert "Submitted 2" in queue.submit(cells(), None, "org/r", JobsSettings(**SETTINGS), done=set())
    assert len(api.runs) == 2  # the failed Job was not adopted
    queue.state[cells()[1].fingerprint()]["job_id"] = "job-3"  # a Job the fake Hub reports as failed
    stages = queue.follow()
    assert stages[cells()[1].fingerprint()] == "ERROR" and queue.state[cells()[1].fingerprint()]["state"] == "failed"
    tail = queue.state[cells()[1].fingerprint()]["log_tail"]
    assert len(tail) == 5 and tail[-1] == "using token ***"
    assert SECRET not in (tmp_path / "hf-jobs" / "grid.json").read_text()
    assert "Submitted 1" in queue.submit(cells(), None, "org/r", JobsSettings(**SETTINGS), done=set())


def test_a_hanging_hub_costs_one_deadline_per_follow_not_two_per_job(tmp_path, monkeypatch):
    import threading
    import time

    release = threading.Event()

    class HangingApi(FakeApi):
        def inspect_job(self, job_id, namespace=None):
            release.wait(60)

        def fetch_job_logs(self, job_id, namespace=None, tail=None):
            release.wait(60)

    monkeypatch.setenv("XLT_HUB_TIMEOUT", "1")
    queue = JobsQueue("grid", home=tmp_path, api=HangingApi())
    queue.state = {f"fp{i}": {"state": "submitted", "job_id": f"job-{i}"} for i in range(10)}
    said = []
    start = time.monotonic()
    try:
        stages = queue.follow(log=said.append)
    finally:
        release.set()
    assert time.monotonic() - start < 5 and set(stages.values()) == {"unknown (Hub not answering)"}
    assert len(said) == 1 and "the stage of 10 Job(s) is unknown this time" in said[0]
    assert {e["state"] for e in queue.state.values()} == {"submitted"}  # asked again next time


def test_a_job_that_cannot_push_its_record_fails(tmp_path, monkeypatch, capsys):
    from tests.test_records import make_record
    from xlt import hf_jobs
    from xlt.results.store import ResultsStore

    monkeypatch.setenv("HF_TOKEN", SECRET)
    store = ResultsStore(home=tmp_path / "job", repo=f"file://{tmp_path / 'gone'}")  # the repo refuses every push
    store.add(make_record())
    with pytest.raises(XltError, match="1 record\\(s\\) could not be pushed to the results repo"):
        hf_jobs.push_or_fail(store)
    monkeypatch.setenv("XLT_HOME", str(tmp_path / "job"))
    monkeypatch.setenv("XLT_RESULTS_REPO", f"file://{tmp_path / 'gone'}")
    assert hf_jobs.main(["push"]) == 1 and "The Job fails" in capsys.readouterr().err
    (tmp_path / "gone").mkdir()
    assert hf_jobs.main(["push"]) == 0 and not store.pending()


def test_a_cell_is_done_when_its_record_is_pulled_not_when_its_job_completed(tmp_path, monkeypatch, capsys):
    """A Job that completed without its record reaching the repo has its cell submitted again, never adopted."""
    import yaml

    from tests.test_sweep import record_of
    from xlt import cli
    from xlt.results.records import write_record
    from xlt.sweep import prepare

    class CompletingApi(FakeApi):
        def inspect_job(self, job_id, namespace=None):
            return type("Info", (), {"status": type("Status", (), {"stage": "COMPLETED"})()})()

    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"base": {"task": "sentiment"}, "grid": {"seed": [1, 2]}}))
    filed, lost = prepare(grid, hub_data=True).cells
    write_record(record_of(filed, "20260101T000000"), tmp_path / "repo")  # only the first Job's record arrived
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setenv("XLT_INSTALL_SPEC", SETTINGS["install"])
    monkeypatch.setenv("XLT_RESULTS_REPO", f"file://{tmp_path / 'repo'}")
    label = type("Info", (), {"id": "job-2", "labels": {LABEL: lost.fingerprint()}})()
    api = CompletingApi(existing=[label])
    monkeypatch.setattr(JobsQueue, "_api", lambda self: api)
    queue = JobsQueue("grid")
    queue.state = {filed.fingerprint(): {"state": "submitted", "job_id": "job-1"},
                   lost.fingerprint(): {"state": "submitted", "job_id": "job-2"}}
    queue.save()
    assert cli.main(["sweep", str(grid), "--backend", "hf-jobs"]) == 0
    out = capsys.readouterr().out
    assert f"{lost.fingerprint()}: the Job completed but its record is not in" in out
    assert "1 of 2 cells done" in out
    again = JobsQueue("grid")  # the next run (a file:// repo takes no Jobs: submitted to a Hub name here)
    assert "Submitted 1" in again.submit([filed, lost], None, "org/r", JobsSettings(**SETTINGS),
                                         done={filed.fingerprint()})
    assert [run["labels"][LABEL] for run in api.runs] == [lost.fingerprint()]  # job-2 was not adopted again
    assert again.state[lost.fingerprint()]["lost_jobs"] == ["job-2"]


def test_xlt_sweep_on_hf_jobs_exits_non_zero_when_the_hub_takes_no_cell(tmp_path, monkeypatch, capsys):
    """Cells running on the Hub are the normal state (exit 0); cells left queued because the Hub did not answer
    exited 0 too, so a script could not tell a sweep that never started."""
    import yaml

    from xlt import cli

    grid = tmp_path / "grid.yaml"
    grid.write_text(yaml.safe_dump({"base": {"task": "sentiment"}, "grid": {"seed": [1, 2]}}))
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setenv("XLT_INSTALL_SPEC", SETTINGS["install"])
    monkeypatch.setenv("XLT_RESULTS_REPO", f"file://{tmp_path / 'repo'}")
    monkeypatch.setattr(JobsQueue, "_api", lambda self: FakeApi(reachable=False))
    assert cli.main(["sweep", str(grid), "--backend", "hf-jobs"]) == 1
    out = capsys.readouterr().out
    assert "2 cell(s) stay queued" in out and SECRET not in out
