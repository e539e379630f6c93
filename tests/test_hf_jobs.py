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


def test_the_job_spec_of_a_cell_passes_the_token_as_a_secret_only():
    spec = job_spec(cells()[0], "cpu-v1", "org/xlt-results", JobsSettings(flavor="a10g-small", install="xlt==0.1"))
    assert spec["secrets"] == ["HF_TOKEN"] and spec["flavor"] == "a10g-small"
    assert spec["labels"][LABEL] == cells()[0].fingerprint()
    script = spec["command"][-1]
    assert "pip install -q xlt==0.1 && xlt train --task sentiment" in script and "--protocol cpu-v1" in script
    assert "--premise-control" not in script
    control = job_spec(cells()[0], None, "org/r", JobsSettings(install="xlt==0.1"), premise_control=True)
    assert control["command"][-1].endswith(" --premise-control")  # a grid's premise_control reaches its Jobs
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
    assert api.runs[0]["secrets"] == {"HF_TOKEN": SECRET} and SECRET not in json.dumps(api.runs[0]["command"])
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
