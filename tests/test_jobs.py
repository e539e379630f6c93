"""Background jobs: queue, run to completion in their own process, cancel, survive a kill, resume."""

import os
import signal
import time

import pytest

from xlt.config import TrainConfig
from xlt.experiment import ExperimentConfig
from xlt.jobs import JobRunner, JobStore


def tiny_job_config(model_dir, n=24, save_steps=50):
    return ExperimentConfig(task="sentiment", model=str(model_dir), source_languages=["en"],
                            target_languages=["en", "es"],
                            train=TrainConfig(finetune="lora", lora_targets="query,value", max_train_samples=n,
                                              max_eval_samples=8, epochs=1, batch_size=4, max_length=32,
                                              learning_rate=1e-3, save_steps=save_steps))


def wait_for(predicate, timeout=240, every=0.5):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(every)
    return False


def test_queue_cancel_resume_bookkeeping(tmp_path, tiny_model_dir):
    store = JobStore(tmp_path / "jobs")
    first = store.submit(tiny_job_config(tiny_model_dir))
    second = store.submit(tiny_job_config(tiny_model_dir, n=16))
    assert [j.state for j in store.list()] == ["queued", "queued"]
    assert store.next_queued().id == first.id
    assert store.cancel(second.id).state == "cancelled"
    assert store.resume(second.id).state == "queued"
    with pytest.raises(Exception, match="only queued or running"):
        store.cancel(store.cancel(second.id).id)
    with pytest.raises(Exception, match="invalid job id"):
        store.get("../../etc")


def test_concurrent_writers_of_one_job_never_lose_the_file(tmp_path, tiny_model_dir):
    """The runner thread, a request thread and the job process write job.json at once (a CI failure:
    a shared temporary name let one writer's rename take the file from under another)."""
    import threading

    store = JobStore(tmp_path / "jobs")
    job = store.submit(tiny_job_config(tiny_model_dir))
    errors = []

    def writer(n):
        other = JobStore(tmp_path / "jobs")  # a second store stands for the job's own process
        try:
            for i in range(200):
                (store if n % 2 else other).update(job.id, attempts=i)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.get(job.id).state == "queued"
    assert sorted(p.name for p in store.folder(job.id).iterdir()) == ["config.json", "job.json"]  # no temp files


@pytest.mark.slow
def test_job_runs_to_completion_one_at_a_time(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("XLT_HOME", str(tmp_path))
    store = JobStore(tmp_path / "jobs")
    a = store.submit(tiny_job_config(tiny_model_dir))
    b = store.submit(tiny_job_config(tiny_model_dir, n=16))
    runner = JobRunner(store)
    assert runner.step().id == a.id
    assert runner.step() is None  # one job at a time: b waits
    assert store.get(b.id).state == "queued"
    assert wait_for(lambda: store.get(a.id).state == "completed"), store.log_tail(a.id)
    job = store.get(a.id)
    assert job.record_path and os.path.isfile(job.record_path)
    assert os.path.isfile(os.path.join(job.model_dir, "xlt_classifier.json"))
    assert store.progress(a.id)["step"] == 6 and "loss_curve" in store.progress(a.id)
    assert runner.step().id == b.id
    assert wait_for(lambda: store.get(b.id).state == "completed"), store.log_tail(b.id)


@pytest.mark.slow
def test_killed_job_is_interrupted_then_resumes_from_checkpoint(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("XLT_HOME", str(tmp_path))
    store = JobStore(tmp_path / "jobs")
    job = store.submit(tiny_job_config(tiny_model_dir, n=400, save_steps=5))
    runner = JobRunner(store)
    runner.step()
    checkpoints = tmp_path / "jobs" / job.id / "run" / "checkpoints"
    # a complete checkpoint (the Trainer writes its state last); a kill while the first one is
    # still being written rightly restarts from scratch (test_training_plumbing covers that case)
    assert wait_for(lambda: any(checkpoints.glob("checkpoint-*/trainer_state.json"))), store.log_tail(job.id)
    os.killpg(store.get(job.id).pid, signal.SIGKILL)  # the app (or machine) dies mid-job
    assert wait_for(lambda: runner.step() is None and store.get(job.id).state == "interrupted", timeout=30)
    assert store.resume(job.id).state == "queued"
    runner.step()
    assert wait_for(lambda: store.get(job.id).state == "completed"), store.log_tail(job.id)
    assert "resumed_from_checkpoint" in open(store.get(job.id).record_path).read()
    import json

    record = json.loads(open(store.get(job.id).record_path).read())
    assert record["training"]["resumed_from_checkpoint"].startswith("checkpoint-")


def test_cancel_running_job(tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("XLT_HOME", str(tmp_path))
    store = JobStore(tmp_path / "jobs")
    job = store.submit(tiny_job_config(tiny_model_dir, n=2000))
    runner = JobRunner(store)
    runner.step()
    assert wait_for(lambda: store.progress(job.id).get("step", 0) > 0), store.log_tail(job.id)
    assert store.cancel(job.id).state == "cancelling"  # asked to stop; cancelled once its process exits
    assert wait_for(lambda: "cancelled" in store.log_tail(job.id), timeout=60)
    assert wait_for(lambda: store.get(job.id).state == "cancelled", timeout=30)


def test_a_job_still_stopping_holds_its_slot_and_cannot_be_resumed_into_a_second_process(tmp_path, tiny_model_dir):
    """Cancel then Resume at once used to start a second training beside the first, which still wrote
    "cancelled" over the new one's state as it died: a job nobody could cancel, and more with each Resume."""
    import subprocess
    import sys

    from xlt.errors import XltError

    store = JobStore(tmp_path / "jobs")
    job = store.submit(tiny_job_config(tiny_model_dir))
    waiting = store.submit(tiny_job_config(tiny_model_dir, n=16))
    slow = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
                             "signal.SIG_IGN); print('up', flush=True); time.sleep(60)"],
                            start_new_session=True, stdout=subprocess.PIPE)
    assert slow.stdout.readline().strip() == b"up"  # its SIGTERM handler is in place: it takes its time to stop
    store.update(job.id, state="running", pid=slow.pid)
    assert store.cancel(job.id).state == "cancelling" and store.get(job.id).state == "cancelling"
    with pytest.raises(XltError, match="only interrupted, failed or cancelled"):
        store.resume(job.id)
    assert JobRunner(store, gpus=0).step() is None  # the CPU is still taken: nothing else starts
    assert store.running().id == job.id and store.get(waiting.id).state == "queued"
    store.update(job.id, state="failed")  # as if it wrote "failed" and is still unwinding
    with pytest.raises(XltError, match="still stopping"):
        store.resume(job.id)
    assert store.finish(job.id, state="completed") is None  # another process's word is not written
    assert store.get(job.id).state == "failed"
    store.update(job.id, state="cancelling")
    store.cancel(job.id)  # a second Cancel kills it
    slow.wait(timeout=30)
    assert store.get(job.id).state == "cancelled"
    assert store.resume(job.id).state == "queued"


@pytest.mark.slow
def test_a_visitors_job_files_its_record_as_an_unverified_submission_and_pushes_nothing(tmp_path, tiny_model_dir,
                                                                                       monkeypatch):
    """Open training: a visitor's run is listed as "submitted, unverified" until the owner accepts it, and
    nothing of it is pushed with the Space's token."""
    from xlt.jobs import run_job
    from xlt.results.store import UNVERIFIED, ResultsStore

    monkeypatch.setenv("XLT_HOME", str(tmp_path))
    store = JobStore(tmp_path / "jobs")
    job = store.submit(tiny_job_config(tiny_model_dir, n=8), launched_by="mallory", unverified=True)
    assert run_job(store.folder(job.id)) == 0, store.log_tail(job.id)
    done = store.get(job.id)
    assert done.state == "completed" and "submitted" in done.record_path
    results = ResultsStore(home=tmp_path, committed_dir=tmp_path / "no-committed-records")
    (record,), _ = results.records()
    assert record["status"] == UNVERIFIED and results.pending() == []


def test_a_job_whose_pid_now_belongs_to_another_process_is_not_held_as_running(tmp_path, tiny_model_dir):
    """After a restart a stored pid can name an unrelated process: the job's own process group is what counts,
    so the job reads as interrupted (or cancelled) and never blocks the queue."""
    import subprocess
    import sys

    store = JobStore(tmp_path / "jobs")
    job = store.submit(tiny_job_config(tiny_model_dir))
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # not a group leader
    try:
        store.update(job.id, state="running", pid=stranger.pid)
        assert store.get(job.id).state == "interrupted"
        store.update(job.id, state="cancelling", pid=stranger.pid)
        assert store.get(job.id).state == "cancelled" and store.resume(job.id).state == "queued"
        assert stranger.poll() is None  # and it was never signalled
    finally:
        stranger.kill()


def test_a_job_ignoring_its_stop_signal_is_killed_a_minute_after_cancel(tmp_path, tiny_model_dir):
    import subprocess
    import sys
    from datetime import datetime, timedelta, timezone

    from xlt.jobs import KILL_AFTER_S

    store = JobStore(tmp_path / "jobs")
    job = store.submit(tiny_job_config(tiny_model_dir))
    stubborn = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
                                 "signal.SIG_IGN); print('up', flush=True); time.sleep(60)"],
                                start_new_session=True, stdout=subprocess.PIPE)
    assert stubborn.stdout.readline().strip() == b"up"
    store.update(job.id, state="running", pid=stubborn.pid)
    store.cancel(job.id)
    assert store.kill_overdue() == [] and stubborn.poll() is None  # it is given its minute
    later = datetime.now(timezone.utc) + timedelta(seconds=KILL_AFTER_S + 1)
    assert store.kill_overdue(now=later) == [job.id]
    stubborn.wait(timeout=30)
    assert store.get(job.id).state == "cancelled"


def test_a_visitors_job_is_stopped_at_its_time_limit_and_does_not_resume_past_it(tmp_path, tiny_model_dir):
    """Open training must not let one visitor hold the GPU with a run of a thousand epochs: the runner's check
    stops a job past its limit as Cancel does, and Resume cannot buy it more time."""
    import subprocess
    import sys
    from datetime import datetime, timedelta, timezone

    from xlt.errors import XltError

    store = JobStore(tmp_path / "jobs")
    job = store.submit(tiny_job_config(tiny_model_dir), unverified=True, time_limit_s=600)
    owners = store.submit(tiny_job_config(tiny_model_dir))  # no limit
    procs = []
    for queued in (job, owners):
        proc = subprocess.Popen([sys.executable, "-c", "print('up', flush=True); import time; time.sleep(60)"],
                                start_new_session=True, stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"up"
        store.update(queued.id, state="running", pid=proc.pid, started=datetime.now(timezone.utc).isoformat())
        procs.append(proc)
    assert store.kill_overdue() == []  # within its ten minutes
    later = datetime.now(timezone.utc) + timedelta(seconds=601)
    assert store.kill_overdue(now=later) == [job.id]  # the owner's job runs on
    procs[0].wait(timeout=30)
    stopped = store.get(job.id)
    assert stopped.state == "cancelled" and "time limit" in stopped.error and "10 min" in stopped.error
    assert procs[1].poll() is None and store.get(owners.id).state == "running"
    procs[1].kill()
    # resumed after 4 of its 10 minutes, it keeps what is left; past them it does not resume
    store.update(job.id, started=(later - timedelta(seconds=240)).isoformat(), finished=later.isoformat())
    assert store.resume(job.id).used_s == pytest.approx(240, abs=1)
    store.update(job.id, state="cancelled", started=(later - timedelta(seconds=400)).isoformat(),
                 finished=later.isoformat())
    with pytest.raises(XltError, match="time limit"):
        store.resume(job.id)


@pytest.mark.slow
def test_a_completed_job_leaves_its_onnx_graph_ready_for_predict(tmp_path, tiny_model_dir, monkeypatch, capsys):
    """The first Predict request with a model trained in the app must not pay its ONNX export inside the
    prediction queue: the job process exports it before it reports completion."""
    from xlt.jobs import run_job
    from xlt.models.loading import read_classifier_info
    from xlt.models.onnx_runtime import cached_classifier

    monkeypatch.setenv("XLT_HOME", str(tmp_path))
    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("XLT_ONNX", "1")
    store = JobStore(tmp_path / "jobs")
    job = store.submit(tiny_job_config(tiny_model_dir, n=8))
    assert run_job(store.folder(job.id)) == 0, store.log_tail(job.id)
    done = store.get(job.id)
    assert done.state == "completed" and "ONNX graph ready for Predict" in capsys.readouterr().out
    assert cached_classifier(done.model_dir, read_classifier_info(done.model_dir)) is not None


def _run_job_in_this_process(store, job):
    """`run_job` here, as the job's own process runs it (it installs a SIGTERM handler: restored after), asserting
    it exits 0; the job as it ended."""
    from xlt.jobs import run_job

    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert run_job(store.folder(job.id)) == 0, store.log_tail(job.id)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return store.get(job.id)


def test_a_stop_asked_once_the_record_is_filed_does_not_turn_a_completed_run_into_a_cancelled_one(
        tmp_path, tiny_model_dir, monkeypatch):
    """Cancel (or a time limit) arriving while the job pushes its record or prepares its model for Predict came
    too late: the run is filed, so the job completes (and shows no stop), and nothing more is started."""
    import xlt.jobs

    monkeypatch.setenv("XLT_HOME", str(tmp_path))
    store = JobStore(tmp_path / "jobs")
    job = store.submit(tiny_job_config(tiny_model_dir, n=8))
    import xlt.results.store as results_store

    prepared = []

    original_push = results_store.ResultsStore.push_pending

    def push_then_stopped(self):
        store.update(job.id, state="cancelling", cancel_requested="2026-01-01T00:00:00+00:00")
        os.kill(os.getpid(), signal.SIGTERM)  # Cancel's signal, while the record is being pushed
        return original_push(self)

    monkeypatch.setattr(results_store.ResultsStore, "push_pending", push_then_stopped)
    monkeypatch.setattr(xlt.jobs, "_prepare_for_predict", lambda *a: prepared.append(a))
    done = _run_job_in_this_process(store, job)
    assert done.state == "completed" and done.cancel_requested is None and done.error is None
    assert prepared == []  # asked to stop: no ONNX export started after all


def plain_config():
    """A config for bookkeeping tests that start no training (nothing reads its model)."""
    return ExperimentConfig(task="sentiment", source_languages=["en"])


def test_a_job_cancelled_while_the_runner_starts_it_stays_cancelled_and_its_process_is_stopped(tmp_path, monkeypatch):
    """The runner marked a job running after starting its process, over a Cancel that landed meanwhile: the job
    ran unseen as "running" with its cancel time as its end, so its time limit never counted."""
    import subprocess

    import xlt.jobs

    store = JobStore(tmp_path / "jobs")
    job = store.submit(plain_config(), launched_by="eve", unverified=True, time_limit_s=60)
    real, started = subprocess.Popen, []

    def popen(*args, **kwargs):  # the visitor's Cancel lands while the runner starts the job's process
        store.cancel(job.id)
        started.append(real(["sleep", "30"], start_new_session=True))
        return started[-1]

    monkeypatch.setattr(xlt.jobs.subprocess, "Popen", popen)
    runner = JobRunner(store, gpus=0)
    try:
        assert runner.step() is None
        cancelled = store.get(job.id)
        assert cancelled.state == "cancelled" and cancelled.pid is None and cancelled.attempts == 0
        assert started[0].wait(timeout=10) is not None and runner._procs == {}  # stopped, not left running
    finally:
        for proc in started:
            proc.kill()


def test_a_started_job_leaves_what_an_earlier_stop_wrote_behind(tmp_path, monkeypatch):
    """A job started with `finished` (or a cancel's request) still set from before counted no running time."""
    import subprocess

    import xlt.jobs

    store = JobStore(tmp_path / "jobs")
    job = store.submit(plain_config(), time_limit_s=60)
    store.update(job.id, finished="2026-01-01T00:00:00+00:00", cancel_requested="2026-01-01T00:00:00+00:00")
    real, started = subprocess.Popen, []
    monkeypatch.setattr(xlt.jobs.subprocess, "Popen",
                        lambda *a, **k: started.append(real(["sleep", "30"], start_new_session=True)) or started[-1])
    try:
        running = JobRunner(store, gpus=0).step()
        assert running.state == "running" and running.pid == started[0].pid and running.attempts == 1
        assert running.finished is None and running.cancel_requested is None
    finally:
        for proc in started:
            proc.kill()


def test_a_job_that_ends_while_it_is_read_keeps_its_last_word(tmp_path, monkeypatch):
    """`get` saw a running job whose process was gone and wrote "interrupted" from that stale read, over the
    "completed" the job's process had written in between."""
    import xlt.jobs

    store = JobStore(tmp_path / "jobs")
    job = store.submit(plain_config())
    store.update(job.id, state="running", pid=123456)
    ends = [True]

    def process_gone(pid):
        if ends:  # the job's process writes its last word just as its exit is noticed
            ends.clear()
            store.update(job.id, state="completed", finished="2026-01-01T00:00:00+00:00")
        return False

    monkeypatch.setattr(xlt.jobs, "pid_alive", process_gone)
    assert store.get(job.id).state == "completed"
    assert store.get(job.id).state == "completed" and store.get(job.id).error is None


def _filing_stub(monkeypatch, after_filing=lambda: None):
    """`run_and_file` replaced by one that files a record at once (no training), then calls `after_filing`."""
    import xlt.experiment
    import xlt.jobs
    from tests.test_records import make_record

    def run_and_file(config, *, store=None, before_filing=lambda: None, **kwargs):
        record = make_record()
        before_filing()
        record["path"] = str(store.add(record, push=False))
        after_filing()
        return record

    monkeypatch.setattr(xlt.experiment, "run_and_file", run_and_file)
    monkeypatch.setattr(xlt.jobs, "_progress_callback", lambda folder: None)
    monkeypatch.setattr(xlt.jobs, "_prepare_for_predict", lambda *a: None)


def test_a_stop_arriving_just_after_the_record_is_filed_does_not_cancel_the_run(tmp_path, monkeypatch):
    """The job set its "too late to stop" flag only after `run_and_file` returned: a SIGTERM between the record's
    write and that line made a filed run "cancelled"."""

    monkeypatch.setenv("XLT_HOME", str(tmp_path))
    store = JobStore(tmp_path / "jobs")
    job = store.submit(plain_config())
    _filing_stub(monkeypatch, after_filing=lambda: os.kill(os.getpid(), signal.SIGTERM))
    done = _run_job_in_this_process(store, job)
    assert done.state == "completed" and done.record_path and os.path.isfile(done.record_path)


def test_a_push_that_fails_after_filing_leaves_the_job_completed_with_a_note(tmp_path, monkeypatch, capsys):
    """A push raising (a full disk while moving the pushed file) marked a job failed although its record was
    filed and waits in the outbox."""
    from xlt.jobs import run_job
    from xlt.results.store import ResultsStore

    monkeypatch.setenv("XLT_HOME", str(tmp_path))
    monkeypatch.setenv("XLT_RESULTS_REPO", f"file://{tmp_path / 'remote'}")
    monkeypatch.setenv("HF_TOKEN", "hf_SECRET_job_token")

    def full_disk(self):
        raise OSError("No space left on device (hf_SECRET_job_token)")

    monkeypatch.setattr(ResultsStore, "push_pending", full_disk)
    store = JobStore(tmp_path / "jobs")
    job = store.submit(plain_config())
    _filing_stub(monkeypatch)
    assert run_job(store.folder(job.id)) == 0
    done = store.get(job.id)
    assert done.state == "completed" and done.error is None
    assert len(done.notes) == 1 and "No space left" in done.notes[0] and "hf_SECRET" not in done.notes[0]
    assert "hf_SECRET" not in capsys.readouterr().out
    assert len(ResultsStore(home=tmp_path).pending()) == 1  # still queued for the next sync


def test_a_log_tail_never_shows_part_of_a_token_cut_at_its_start(tmp_path, monkeypatch):
    """The tail starts 64 kB from the end: a token cut there no longer matched the masking and half of it
    showed in the public job detail."""
    token = "hf_" + "S3cr3t" * 6
    monkeypatch.setenv("HF_TOKEN", token)
    store = JobStore(tmp_path)
    job = store.submit(ExperimentConfig(task="sentiment", train=TrainConfig(max_train_samples=8)))
    log = store.folder(job.id) / "log.txt"
    for cut in range(1, len(token)):
        rest = b"x" * (64_000 - len(b"step 1\n") - (len(token) - cut) - 1) + b"\n"
        log.write_bytes(b"token " + token.encode() + rest + b"step 1\n")  # the tail starts `cut` into the token
        assert log.stat().st_size - 64_000 == len(b"token ") + cut
        assert store.log_tail(job.id) == "step 1"  # the cut line is left out whole
    log.write_bytes(f"auth with {token}\nstep 2\n".encode())
    assert store.log_tail(job.id) == "auth with ***\nstep 2"


def test_a_log_tail_cut_inside_a_progress_bar_line_keeps_the_later_updates(tmp_path):
    """tqdm ends its updates with \\r: the cut stretch ends at the first \\r, not at a far-off \\n."""
    store = JobStore(tmp_path)
    job = store.submit(ExperimentConfig(task="sentiment", train=TrainConfig(max_train_samples=8)))
    updates = "".join(f"\r{i:05d}/99999 steps" for i in range(5_000))  # 18 bytes each, no newline
    (store.folder(job.id) / "log.txt").write_text(updates)
    tail = store.log_tail(job.id).splitlines()
    assert tail[-1] == "04999/99999 steps" and len(tail) == 40


def test_visitors_older_models_and_checkpoints_are_pruned_so_open_training_cannot_fill_the_disk(tmp_path):
    """With XLT_OPEN_TRAINING, every visitor job kept its model (up to GBs) and a cancelled one its checkpoints,
    with no cap in total."""
    store = JobStore(tmp_path)
    owner = store.submit(plain_config())
    old_cancelled, old_outside, old_done, new_a, new_b = [
        store.submit(plain_config(), launched_by="eve", unverified=True, time_limit_s=60) for _ in range(5)]
    outside = tmp_path / "elsewhere"  # a model_dir naming a folder outside the job is never deleted
    outside.mkdir()
    for job in (owner, old_cancelled, old_outside, old_done, new_a, new_b):
        folder = store.folder(job.id)
        (folder / "run" / "checkpoints" / "checkpoint-1").mkdir(parents=True)
        if job is old_cancelled:
            store.update(job.id, state="cancelled")
            continue
        (folder / "model").mkdir()
        (folder / "model" / "weights.bin").write_bytes(b"w")
        model = outside if job is old_outside else folder / "model"
        store.update(job.id, state="completed", model_dir=str(model))

    assert sorted(store.prune_visitor_models(keep=2)) == sorted([old_cancelled.id, old_outside.id, old_done.id])
    for job in (old_cancelled, old_outside, old_done):
        assert not (store.folder(job.id) / "run" / "checkpoints").exists()
    assert not (store.folder(old_done.id) / "model").exists() and store.get(old_done.id).model_dir is None
    assert "model removed to free disk" in store.get(old_done.id).notes[-1]
    assert outside.is_dir() and store.get(old_outside.id).model_dir == str(outside)
    for job in (owner, new_a, new_b):  # the owner's and the newest two visitors' keep theirs
        assert (store.folder(job.id) / "model" / "weights.bin").is_file()
        assert (store.folder(job.id) / "run" / "checkpoints").is_dir()
        assert store.get(job.id).model_dir
    assert store.prune_visitor_models(keep=2) == []  # nothing left to free: nothing is done twice


def test_listing_rereads_a_job_only_when_its_file_changed(tmp_path, tiny_model_dir, monkeypatch):
    """The app lists every job each refresh: unchanged job.json files are not parsed again, while a write from
    another process (a job's own) shows at once. A file written in the last two seconds is parsed each time (an
    inode reused within one timestamp tick must not pass for the old file)."""
    import json

    from xlt import jobs as jobs_module
    from xlt.atomic import write_atomic

    store = JobStore(tmp_path / "jobs")
    job = store.submit(tiny_job_config(tiny_model_dir))
    path = store.folder(job.id) / "job.json"

    def age(seconds=10):
        then = time.time() - seconds
        os.utime(path, (then, then))

    reads = []
    real = jobs_module._read_json
    monkeypatch.setattr(jobs_module, "_read_json", lambda p, default=None: reads.append(p) or real(p, default))
    store.list()
    store.list()
    assert len(reads) == 2  # written just now: parsed each time
    age()
    store.list()
    store.list()
    assert len(reads) == 3  # old enough: parsed once more, then kept
    data = json.loads(path.read_text())
    write_atomic(path, json.dumps({**data, "state": "failed", "error": "from another process"}))
    age()
    [seen] = store.list()
    assert seen.state == "failed" and seen.error == "from another process" and len(reads) == 4
    store.update(job.id, error="changed here")
    assert store.list()[0].error == "changed here"


def test_the_jobs_table_keeps_every_unfinished_job_and_the_newest_ended_ones(tmp_path, tiny_model_dir, monkeypatch):
    from xlt.app.finetune import jobs_frame

    store = JobStore(tmp_path / "jobs")
    ids = [store.submit(tiny_job_config(tiny_model_dir)).id for _ in range(6)]
    for job_id in ids[1:5]:
        store.update(job_id, state="completed")
    store.update(ids[1], state="interrupted")  # resumable: always shown
    monkeypatch.setenv("XLT_JOB_ROWS", "2")
    frame = jobs_frame(store)
    order = [job.id for job in store.list()]  # newest first (ids within one second: in any order)
    ended = [i for i in order if i in ids[2:5]]
    assert list(frame["id"]) == [i for i in order if i not in ended or i in ended[:2]]
    assert len(frame) == 5 and {ids[0], ids[1], ids[5]} <= set(frame["id"])
