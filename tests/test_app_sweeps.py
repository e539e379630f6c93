"""The Fine-tune tab's sweeps: a committed grid's cells queued as ordinary jobs, done cells skipped, the grid's
protocol carried into each job and its record; on a Space only those who may train can queue."""

import json

import pytest

from tests.test_access import OWNER, VISITOR, on_space  # noqa: F401  (a fixture)
from tests.test_jobs import wait_for
from tests.test_sweep import write_grid
from xlt.app import finetune, sweeps
from xlt.config import ExperimentConfig
from xlt.jobs import JobRunner, JobStore
from xlt.results.store import ResultsStore


@pytest.fixture
def grids(tmp_path, tiny_model_dir):
    folder = tmp_path / "sweeps"
    folder.mkdir()
    write_grid(folder / "tiny.yaml", tiny_model_dir, tmp_path / "committed")
    return folder


@pytest.fixture
def store(tmp_path):
    return ResultsStore(home=tmp_path / "home", committed_dir=tmp_path / "committed", repo="")


def test_the_committed_grids_are_the_choices():
    names = sweeps.grid_choices()
    assert "sentiment-cpu-v1" in names and "nli-matrix" in names


def test_preview_lists_the_cells_and_queueing_makes_one_job_per_cell(grids, store, tmp_path):
    jobs = JobStore(tmp_path / "jobs")
    preview = sweeps.preview_sweep(store, "tiny", folder=grids)
    assert "4 cells, 0 already done, protocol test-v0" in preview and preview.count(": to run") == 4
    message = sweeps.queue_sweep(jobs, store, "tiny", folder=grids)
    assert message.startswith("Queued 4 job(s) for tiny (protocol test-v0)")
    queued = jobs.list()
    assert {j.protocol for j in queued} == {"test-v0"} and {j.sweep for j in queued} == {"tiny"}
    assert set(finetune.jobs_frame(jobs)["sweep"]) == {"tiny (test-v0)"}
    assert sorted((j.config["method"], j.config["train"]["seed"]) for j in queued) == [
        ("few-shot", 1), ("few-shot", 2), ("zero-shot", 1), ("zero-shot", 2)]
    # queued again: every cell already has a job; a cancelled job is resumed (from its checkpoint), not duplicated
    assert sweeps.queue_sweep(jobs, store, "tiny", folder=grids).startswith("Nothing to queue")
    jobs.cancel(queued[0].id)
    message = sweeps.queue_sweep(jobs, store, "tiny", folder=grids)
    assert "Queued 0 job(s)" in message and "resumed 1 stopped job(s)" in message
    assert jobs.get(queued[0].id).state == "queued" and len(jobs.list()) == 4
    # `Only` keeps part of the grid
    other = JobStore(tmp_path / "other-jobs")
    assert sweeps.queue_sweep(other, store, "tiny", "method=few-shot seed=2", folder=grids).startswith(
        "Queued 1 job(s) for tiny.only")


def test_a_visitors_job_of_the_same_config_is_not_taken_for_a_cell_of_the_grid(grids, store, tmp_path):
    """A visitor's stopped run (unverified, time-limited) must neither be resumed as the owner's cell nor, past its
    limit, keep the cell from ever running."""
    from xlt.sweep import prepare

    jobs = JobStore(tmp_path / "jobs")
    cell = prepare(grids / "tiny.yaml").cells[0]
    visitors = jobs.submit(cell, launched_by="mallory", protocol="test-v0", unverified=True, time_limit_s=60)
    jobs.update(visitors.id, state="cancelled", started="2026-01-01T00:00:00+00:00",
                finished="2026-01-01T02:00:00+00:00")
    assert sweeps.queue_sweep(jobs, store, "tiny", folder=grids).startswith("Queued 4 job(s)")
    assert jobs.get(visitors.id).state == "cancelled"


def test_a_cell_with_a_verified_record_of_the_protocol_in_the_apps_store_is_done(grids, store, tmp_path):
    from tests.test_records import make_record

    sweep = sweeps._prepare(store, "tiny", "method=zero-shot seed=1", grids)
    (cell,) = sweep.cells
    same = {"config": cell.to_dict(), "config_fingerprint": cell.fingerprint()}
    # neither an anonymous upload of the cell's config nor a user's own run without the protocol counts
    _write_submitted(store, make_record(run_id="fake-1-x", protocol="test-v0", **same))
    store.add(make_record(run_id="mine-1-x", **same))
    assert {r["run_id"] for r in store.records()[0]} >= {"fake-1-x", "mine-1-x"}  # both read, neither counts
    assert "in this app's results" not in sweeps.preview_sweep(store, "tiny", folder=grids)
    store.add(make_record(run_id="cell-1-x", protocol="test-v0", **same))
    assert "in this app's results" in sweeps.preview_sweep(store, "tiny", folder=grids)
    jobs = JobStore(tmp_path / "jobs")
    assert sweeps.queue_sweep(jobs, store, "tiny", folder=grids).startswith("Queued 3 job(s)")
    assert cell.fingerprint() not in {ExperimentConfig.from_dict(j.config).fingerprint() for j in jobs.list()}


def test_float32_cells_are_queued_with_their_precision_and_done_by_a_cpu_record_in_the_store(grids, store, tmp_path,
                                                                                             monkeypatch):
    """The Sweep section's Precision choice: fp32 cells (a GPU Space extending a CPU protocol grid) carry fp32 into
    their jobs, and a CPU record of the cell's `auto` settings in the app's store does them; auto stays the default."""
    from tests.test_records import make_record

    monkeypatch.setattr("xlt.training.precision_flags", lambda precision: {"bf16": True})  # a GPU Space
    (cell,) = sweeps._prepare(store, "tiny", "method=zero-shot seed=1", grids).cells
    store.add(make_record(run_id="cpu-1-x", protocol="test-v0", config=cell.to_dict(),
                          config_fingerprint=cell.fingerprint(), hardware={"device": "cpu"},
                          training={"precision": "fp32"}))
    preview = sweeps.preview_sweep(store, "tiny", folder=grids, precision="fp32")
    assert "4 cells, 1 already done" in preview and "in this app's results" in preview
    jobs = JobStore(tmp_path / "jobs")
    assert sweeps.queue_sweep(jobs, store, "tiny", folder=grids, precision="fp32").startswith("Queued 3 job(s)")
    assert {j.config["train"]["precision"] for j in jobs.list()} == {"fp32"}
    assert "precision must be one of" in sweeps.preview_sweep(store, "tiny", folder=grids, precision="fp8")
    assert "precision must be one of auto, fp32" in sweeps.queue_sweep(jobs, store, "tiny", folder=grids,
                                                                       precision="fp8")


def _write_submitted(store, record):
    from xlt.results.records import write_record

    write_record(record, store.submitted_dir)


def test_premise_control_and_protocol_travel_with_the_job(grids, store, tmp_path):
    """An NLI grid's premise control reaches each job (and from there `run_and_file` and the record's command);
    a job of another protocol does not count as the cell's."""
    import yaml

    data = yaml.safe_load((grids / "tiny.yaml").read_text())
    data["premise_control"] = True
    (grids / "control.yaml").write_text(yaml.safe_dump(data))
    jobs = JobStore(tmp_path / "jobs")
    sweeps.queue_sweep(jobs, store, "tiny", "seed=1", folder=grids)
    message = sweeps.queue_sweep(jobs, store, "control", "seed=1", folder=grids)
    assert message.startswith("Queued 2 job(s)")  # the "tiny" jobs lack the control: not the same records
    control = [j for j in jobs.list() if j.sweep == "control.only"]
    assert len(control) == 2 and all(j.premise_control and j.protocol == "test-v0" for j in control)
    assert "--protocol test-v0 --premise-control" in sweeps_detail(jobs, control[0].id)


def test_a_job_file_from_before_sweeps_still_loads(tmp_path, tiny_model_dir):
    from tests.test_jobs import tiny_job_config

    jobs = JobStore(tmp_path / "jobs")
    job = jobs.submit(tiny_job_config(tiny_model_dir))
    path = jobs.folder(job.id) / "job.json"
    old = {k: v for k, v in json.loads(path.read_text()).items() if k not in ("protocol", "premise_control", "sweep")}
    path.write_text(json.dumps(old))
    again = jobs.get(job.id)
    assert again.protocol is None and again.premise_control is False and again.sweep is None


def test_cells_this_machine_cannot_run_are_shown_and_left_out(grids, store, tmp_path, monkeypatch):
    from xlt import sweep as sweep_module

    real = sweep_module.unrunnable
    monkeypatch.setattr(sweep_module, "unrunnable", lambda s: {
        c.fingerprint(): "few-shot needs the moon" for c in s.cells if c.method == "few-shot"} or real(s))
    assert "2 cell(s) cannot run on this machine" in sweeps.preview_sweep(store, "tiny", folder=grids)
    jobs = JobStore(tmp_path / "jobs")
    message = sweeps.queue_sweep(jobs, store, "tiny", folder=grids)
    assert message.startswith("Queued 2 job(s)") and "few-shot needs the moon" in message
    assert {j.config["method"] for j in jobs.list()} == {"zero-shot"}


def test_bad_choices_get_a_clear_message_and_queue_nothing(grids, store, tmp_path):
    jobs = JobStore(tmp_path / "jobs")
    for grid, only, expected in (("../tiny", "", "pick one of the committed grids"),
                                 ("/etc/passwd", "", "pick one of the committed grids"),
                                 (None, "", "pick one of the committed grids"),
                                 ("tiny", "colour=blue", "--only takes KEY=VALUE"),
                                 ("tiny", "method=pretrained", "no cell of tiny matches"),
                                 ("tiny", "seed=1 " * 30, "at most 20")):
        assert expected in sweeps.preview_sweep(store, grid, only, folder=grids)
        assert expected in sweeps.queue_sweep(jobs, store, grid, only, folder=grids)
    assert jobs.list() == []


def test_on_a_space_only_those_who_may_train_queue(on_space, grids, store, tmp_path):  # noqa: F811
    jobs = JobStore(tmp_path / "jobs")
    for profile in (None, VISITOR):
        assert sweeps.queue_sweep(jobs, store, "tiny", profile=profile, folder=grids).startswith("**Not queued:**")
    assert jobs.list() == []
    assert "4 cells" in sweeps.preview_sweep(store, "tiny", folder=grids)  # anyone may look
    assert sweeps.queue_sweep(jobs, store, "tiny", profile=OWNER, folder=grids).startswith("Queued 4")
    assert {j.launched_by for j in jobs.list()} == {"owner"}


def test_open_training_opens_single_runs_not_whole_grids(on_space, grids, store, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("XLT_OPEN_TRAINING", "1")
    jobs = JobStore(tmp_path / "jobs")
    assert "whole grid is for the Space's owner" in sweeps.queue_sweep(jobs, store, "tiny", profile=VISITOR,
                                                                        folder=grids)
    assert jobs.list() == []


@pytest.mark.slow
def test_a_queued_cell_runs_as_a_job_and_files_a_protocol_record(grids, store, tmp_path, monkeypatch):
    monkeypatch.setenv("XLT_HOME", str(tmp_path / "home"))
    jobs = JobStore(tmp_path / "home" / "jobs")
    sweeps.queue_sweep(jobs, store, "tiny", "method=zero-shot seed=1", folder=grids)
    (job,) = jobs.list()
    JobRunner(jobs).step()
    assert wait_for(lambda: jobs.get(job.id).state == "completed"), jobs.log_tail(job.id)
    record = json.loads(open(jobs.get(job.id).record_path).read())
    assert record["protocol"] == "test-v0" and record["command"].endswith("--protocol test-v0")
    assert "a cell of sweep tiny.only" in sweeps_detail(jobs, job.id)
    # the app's store has it now: the cell is done
    assert sweeps.queue_sweep(JobStore(tmp_path / "fresh"), store, "tiny", "method=zero-shot seed=1",
                              folder=grids).startswith("Nothing to queue")


def sweeps_detail(jobs, job_id):
    return finetune.job_detail(jobs, job_id)[0]
