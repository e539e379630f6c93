"""Background fine-tuning jobs, persisted on disk so a reload or restart shows and resumes them.

States: queued, running, cancelling (asked to stop, its process not yet exited), completed, failed,
cancelled, interrupted (process gone mid-run).

A job is a folder `$XLT_HOME/jobs/<id>/` holding `config.json` (the experiment), `job.json`
(state, timestamps, pid, result), `progress.json` (step, epoch, loss curve, ETA) and `log.txt`.
Each job runs in its own process (`python -m xlt.jobs <folder>`), so Cancel is a signal and a
crash of the app does not corrupt the job; checkpoints live in the job folder, so Resume
continues from the last one. One job runs per GPU (one at a time on CPU); the others wait as queued.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .atomic import locked, write_atomic
from .config import ExperimentConfig
from .errors import XltError, mask_token, redact
from .settings import env_int, home_dir

ACTIVE = ("running", "cancelling")  # states whose process may still be alive, holding a slot
ENDED = ("completed", "cancelled", "failed")  # states nothing resumes from (an interrupted job can be resumed)
KILL_AFTER_S = 60  # a job asked to stop that still runs this long after is killed


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _write_json(path: Path, data: dict) -> None:
    """The app's runner thread, a request thread and the job's own process may all write one job's files at
    the same moment: `write_atomic` gives each writer its own temporary file."""
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False))


def _read_json(path: Path, default=None):
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return default


def pid_alive(pid: int | None) -> bool:
    """Whether a job's process is alive. A job process leads its own process group (`start_new_session`), so
    the group is what is checked: a pid reused by an unrelated process after a restart is not the job."""
    if not pid:
        return False
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a finished child that nobody reaped is a zombie, not alive
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[-1].split()[0] != "Z"
    except OSError:
        return True


@dataclass
class Job:
    id: str
    state: str
    created: str
    config: dict
    push_to_hub: bool = False
    launched_by: str | None = None  # the signed-in user on a Space; None locally
    started: str | None = None
    finished: str | None = None
    pid: int | None = None
    error: str | None = None
    record_path: str | None = None
    model_dir: str | None = None
    attempts: int = 0
    summary: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)  # what went wrong after training (a failed push, ...)
    device: str | None = None  # where it runs: "cpu" or the GPU it is pinned to ("cuda:1")
    protocol: str | None = None  # the comparison protocol its record names (a cell of a committed grid)
    premise_control: bool = False  # pair tasks: the record also scores premise-shuffled inputs
    sweep: str | None = None  # the grid it is a cell of, when queued from one
    unverified: bool = False  # a visitor's job (open training): its record is a submission, never pushed
    cancel_requested: str | None = None  # when Cancel asked a running job to stop
    time_limit_s: float | None = None  # a visitor's job: stopped once it has run this long, over all attempts
    used_s: float = 0.0  # how long its earlier attempts ran

    def to_dict(self) -> dict:
        return asdict(self)


class JobStore:
    """Create, list, cancel and resume jobs in `root` (default `$XLT_HOME/jobs`)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root else home_dir() / "jobs"
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()  # re-entrant: `get` marks an ended job under the lock its callers hold
        self._parsed: dict[str, tuple[tuple, dict]] = {}  # job id -> (job.json's identity, its parsed content)

    def folder(self, job_id: str) -> Path:
        if not job_id or len(job_id) > 64 or not all(c.isalnum() or c in "-_" for c in job_id):
            raise XltError(f"invalid job id {job_id!r}")
        return self.root / job_id

    def submit(self, config: ExperimentConfig, push_to_hub: bool = False, launched_by: str | None = None,
               protocol: str | None = None, premise_control: bool = False, sweep: str | None = None,
               unverified: bool = False, time_limit_s: float | None = None) -> Job:
        job_id = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
        folder = self.folder(job_id)
        folder.mkdir(parents=True)
        # microseconds: jobs submitted within one second still run in submission order
        created = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        job = Job(id=job_id, state="queued", created=created, config=config.to_dict(), push_to_hub=push_to_hub,
                  launched_by=launched_by, protocol=protocol, premise_control=premise_control, sweep=sweep,
                  unverified=unverified, time_limit_s=time_limit_s)
        _write_json(folder / "config.json", config.to_dict())
        self._save(job)
        return job

    def _save(self, job: Job) -> None:
        self._parsed.pop(job.id, None)
        _write_json(self.folder(job.id) / "job.json", job.to_dict())

    def _read(self, job_id: str) -> Job:
        """The job as its `job.json` says, parsed again only when the file changed: the app lists every job each
        refresh, and a queued grid makes thousands (each write replaces the file, so its identity changes)."""
        path = self.folder(job_id) / "job.json"
        try:
            stat = path.stat()
            stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except OSError:
            stamp = None
        cached = self._parsed.get(job_id)
        if stamp is not None and cached is not None and cached[0] == stamp:
            return Job(**cached[1])  # nothing mutates a Job's dicts in place: sharing them is safe
        data = _read_json(path)
        if not data:
            raise XltError(f"no job {job_id!r}")
        job = Job(**data)
        # a file written in the last seconds is not kept: a freed inode reused by a write of the same size within
        # one timestamp tick would otherwise look unchanged (as git's index treats racily clean files)
        if stamp is not None and time.time_ns() - stamp[1] > 2_000_000_000:
            self._parsed[job_id] = (stamp, data)
        return job

    def get(self, job_id: str) -> Job:
        """A job, marked cancelled or interrupted when its process has ended without saying so."""
        job = self._read(job_id)
        if not _ended_unannounced(job):
            return job
        with self._locked(job_id):  # re-read: it may have completed or been resumed since the read above
            job = self._read(job_id)
            if _ended_unannounced(job):
                if job.state == "cancelling":  # stopped without writing its last state (killed)
                    job.state, job.finished = "cancelled", job.finished or _now()
                else:
                    job.state = "interrupted"
                    job.error = "the job's process ended without finishing (app restart or kill)"
                    job.finished = job.finished or _now()  # when that was seen: a time limit counts no longer
                self._save(job)
        return job

    def list(self) -> list[Job]:
        jobs = []
        for folder in sorted(self.root.iterdir(), reverse=True):
            if (folder / "job.json").is_file():
                try:
                    jobs.append(self.get(folder.name))
                except (XltError, TypeError):
                    continue
        return jobs

    @contextlib.contextmanager
    def _locked(self, job_id: str):
        """One writer of a job's state at a time, across threads and processes (the app, its runner and the
        job's own process): a read-check-write of job.json inside it sees no other write in between."""
        with self._lock, locked(self.root / ".locks" / f"{self.folder(job_id).name}.lock"):
            yield

    @contextlib.contextmanager
    def admitting(self):
        """Hold while counting someone's jobs and queueing one more (a launch, a resume): parallel launches of one
        visitor, from request threads or a second app process, each see the jobs the others queued."""
        with locked(self.root / ".locks" / "admit.lock"):
            yield

    def update(self, job_id: str, **changes) -> Job:
        with self._locked(job_id):
            return self._update(job_id, **changes)

    def _update(self, job_id: str, **changes) -> Job:
        job = Job(**_read_json(self.folder(job_id) / "job.json"))
        for key, value in changes.items():
            setattr(job, key, value)
        self._save(job)
        return job

    def progress(self, job_id: str) -> dict:
        return _read_json(self.folder(job_id) / "progress.json", {}) or {}

    def log_tail(self, job_id: str, lines: int = 40) -> str:
        path = self.folder(job_id) / "log.txt"
        if not path.is_file():
            return ""
        with open(path, "rb") as fh:
            start = max(0, path.stat().st_size - 64_000)
            fh.seek(start)
            data = fh.read()
        if start:  # the cut line's end could hold the end of a token that masking would no longer match
            ends = [i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0]  # tqdm ends its lines with \r
            data = data[min(ends) + 1:] if ends else b""
        text = mask_token(data.decode("utf-8", "replace")).replace("\r", "\n")
        return "\n".join([line for line in text.splitlines() if line.strip()][-lines:])

    def cancel(self, job_id: str) -> Job:
        """A queued job is cancelled at once; a running one is asked to stop (SIGTERM) and shows as
        "cancelling" until its process has exited; cancelling it again, or the runner a minute later
        (`KILL_AFTER_S`), kills it (SIGKILL)."""
        with self._locked(job_id):
            job = self.get(job_id)
            if job.state in ("queued", "interrupted"):  # an interrupted job keeps when its end was seen
                return self._update(job_id, state="cancelled", finished=job.finished or _now())
            if job.state not in ACTIVE or not job.pid:
                raise XltError(f"job {job_id} is {job.state}; only queued or running jobs can be cancelled")
            again = job.state == "cancelling"
            # the state is written before the signal, under the lock the job process's last word also takes:
            # a job that completes meanwhile is never shown as cancelled
            job = self._update(job_id, state="cancelling", cancel_requested=job.cancel_requested or _now())
        try:
            os.killpg(job.pid, signal.SIGKILL if again else signal.SIGTERM)
        except ProcessLookupError:  # its process group is gone: nothing left to stop
            return self.get(job_id)
        except PermissionError:
            pass
        return job

    def kill_overdue(self, jobs: list[Job] | None = None, now: datetime | None = None) -> list[str]:
        """SIGKILL the jobs (default: all) asked to stop more than `KILL_AFTER_S` ago whose process still runs
        (one that ignores SIGTERM must not hold its slot until someone clicks Cancel again), and ask the running
        jobs past their time limit (a visitor's) to stop, as Cancel does. Returns the ids of the jobs signalled."""
        now = now or datetime.now(timezone.utc)
        signalled = []
        for job in self.list() if jobs is None else jobs:
            if job.state not in ACTIVE or not job.pid:
                continue
            try:  # one odd job.json must not stop the runner from starting every other job
                if job.state == "cancelling":
                    if (now - datetime.fromisoformat(str(job.cancel_requested))).total_seconds() > KILL_AFTER_S:
                        os.killpg(job.pid, signal.SIGKILL)
                        signalled.append(job.id)
                elif job.time_limit_s and _ran_s(job, now) >= float(job.time_limit_s):
                    self._stop_at_limit(job.id)
                    signalled.append(job.id)
            except (ValueError, TypeError, ProcessLookupError, PermissionError, XltError):
                continue
        return signalled

    def _stop_at_limit(self, job_id: str) -> None:
        with self._locked(job_id):
            job = self.get(job_id)
            if job.state != "running" or not job.pid:
                return
            minutes = float(job.time_limit_s) / 60
            self._update(job_id, state="cancelling", cancel_requested=_now(),
                         error=f"stopped at its time limit: a visitor's job runs at most {minutes:g} min")
        os.killpg(job.pid, signal.SIGTERM)

    def resume(self, job_id: str) -> Job:
        with self._locked(job_id):
            job = self.get(job_id)
            if job.state not in ("interrupted", "failed", "cancelled"):
                raise XltError(f"job {job_id} is {job.state}; only interrupted, failed or cancelled jobs resume")
            if job.pid and pid_alive(job.pid):  # two processes of one job would each hold a slot and train twice
                raise XltError(f"job {job_id}'s process is still stopping; resume it once it has exited")
            used = _ran_s(job, datetime.now(timezone.utc))
            if job.time_limit_s and used >= float(job.time_limit_s):
                raise XltError(f"job {job_id} has used its {float(job.time_limit_s) / 60:g} min; a visitor's job "
                               "does not resume past its time limit")
            return self._update(job_id, state="queued", error=None, finished=None, pid=None, cancel_requested=None,
                                started=None, used_s=used)

    def prune_visitor_models(self, keep: int | None = None) -> list[str]:
        """Free the disk visitors' jobs (open training) hold: the saved models of all but the newest `keep`
        completed ones (`XLT_VISITOR_MODELS_KEPT`, default 10) and the checkpoints of their ended jobs beyond
        those. Their records (submissions) and logs stay. Returns the ids of the jobs pruned."""
        import shutil

        keep = visitor_models_kept() if keep is None else keep
        ended = sorted((j for j in self.list() if j.unverified and j.state in ENDED),
                       key=lambda j: j.created, reverse=True)
        pruned = []
        for job in ended[keep:]:  # the newest `keep` stay
            folder = self.folder(job.id)
            model = Path(job.model_dir) if job.model_dir else None
            own_model = model is not None and folder in model.resolve().parents  # never a folder outside the job
            if not own_model and not (folder / "run" / "checkpoints").exists():
                continue
            if own_model:
                shutil.rmtree(model, ignore_errors=True)
            _drop_checkpoints(folder)
            if own_model:
                note = f"model removed to free disk (visitors' newest {keep} are kept: XLT_VISITOR_MODELS_KEPT)"
                with self._locked(job.id):
                    self._update(job.id, model_dir=None, notes=[*self._read(job.id).notes, note])
            pruned.append(job.id)
        return pruned

    def finish(self, job_id: str, **changes) -> Job | None:
        """The job process's last word: written only while the job is still this process's (a job resumed
        into a new process is never overwritten by the old one)."""
        with self._locked(job_id):
            job = Job(**_read_json(self.folder(job_id) / "job.json"))
            if job.pid not in (None, os.getpid()):
                return None
            return self._update(job_id, **changes)

    def mark_started(self, job_id: str, pid: int, device: str) -> Job | None:
        """Mark a queued job running in process `pid`; None, with nothing written, when it is no longer queued
        (a Cancel that landed while the runner started it). What a run before it left (`finished`, a cancel's
        request) is cleared: a time limit counts from this start."""
        with self._locked(job_id):
            job = self._read(job_id)
            if job.state != "queued":
                return None
            return self._update(job_id, state="running", pid=pid, started=_now(), finished=None, cancel_requested=None,
                                attempts=job.attempts + 1, device=device)

    def next_queued(self) -> Job | None:
        queued = [j for j in self.list() if j.state == "queued"]
        return min(queued, key=lambda j: j.created) if queued else None

    def running(self) -> Job | None:
        return next((j for j in self.list() if j.state in ACTIVE), None)


def _ended_unannounced(job: Job) -> bool:
    """Whether `job` shows as running (or stopping) while its process is gone (killed, or the app restarted)."""
    return job.state in ACTIVE and not pid_alive(job.pid)


def _ran_s(job: Job, now: datetime) -> float:
    """How long `job` has run over all its attempts: the earlier ones plus the current (or last) one."""
    if not job.started:
        return float(job.used_s or 0)
    end = datetime.fromisoformat(job.finished) if job.finished else now
    return float(job.used_s or 0) + max(0.0, (end - datetime.fromisoformat(job.started)).total_seconds())


def gpu_count() -> int:
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:  # pragma: no cover
        return 0


class JobRunner:
    """Starts queued jobs, each in its own process group: one per GPU (pinned with `CUDA_VISIBLE_DEVICES`),
    or one at a time without a GPU (two trainings on a few CPU cores are each more than twice as slow)."""

    def __init__(self, store: JobStore, poll_seconds: float = 1.0, gpus: int | None = None):
        self.store = store
        self.poll_seconds = poll_seconds
        self.gpus = gpu_count() if gpus is None else gpus
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._procs: dict[str, subprocess.Popen] = {}
        self._step_lock = threading.Lock()  # the runner thread and request threads (after a launch) both step

    def start(self) -> JobRunner:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="xlt-job-runner", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def step(self) -> Job | None:
        """Reap finished processes and start the next queued job when a slot (a GPU, or the CPU) is free.
        Returns the started job."""
        with self._step_lock:
            return self._step()

    def _step(self) -> Job | None:
        for job_id, proc in list(self._procs.items()):
            if proc.poll() is not None:
                del self._procs[job_id]
        jobs = self.store.list()
        self.store.kill_overdue(jobs)
        running = [j for j in jobs if j.state in ACTIVE]  # a cancelling job holds its slot till it exits
        slots = max(1, self.gpus)
        if len(running) >= slots:
            return None
        job = self.store.next_queued()
        if job is None:
            return None
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        device = "cpu"
        if self.gpus:
            busy = {j.device for j in running}
            # fewer running jobs than GPUs: some index is free (a device another machine's run left, "cuda:7" or
            # "cpu", takes none of them), so `next` always finds one
            free = next(i for i in range(self.gpus) if f"cuda:{i}" not in busy)
            env["CUDA_VISIBLE_DEVICES"] = str(free)
            device = f"cuda:{free}"
        return self._start(job, device, env)

    def _start(self, job: Job, device: str, env: dict) -> Job | None:
        """Start `job`'s process and mark the job running, unless it stopped being queued meanwhile (a Cancel
        between `next_queued` and now): then the process just started is killed before it does anything, and
        the cancelled job stays cancelled instead of running unseen, past any time limit."""
        folder = self.store.folder(job.id)
        with open(folder / "log.txt", "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "xlt.jobs", str(folder)], stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True, env=env)
        started = self.store.mark_started(job.id, proc.pid, device)
        if started is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return None
        self._procs[job.id] = proc
        return started

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception as exc:  # the runner must outlive one bad job folder
                print(f"xlt job runner: {exc}", file=sys.stderr)
            self._stop.wait(self.poll_seconds)


def _progress_callback(folder: Path):
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        """Writes step, epoch, loss curve and ETA to progress.json for the UI."""

        def __init__(self):
            self.start = time.time()
            self.start_step = None
            self.losses: list[dict] = []

        def _write(self, state, phase="training"):
            if not getattr(state, "is_world_process_zero", True):  # one writer in a multi-GPU run
                return
            done = state.global_step - (self.start_step or 0)
            elapsed = time.time() - self.start
            remaining = max(state.max_steps - state.global_step, 0)
            eta = elapsed / done * remaining if done > 0 else None
            _write_json(folder / "progress.json", {
                "phase": phase, "step": state.global_step, "max_steps": state.max_steps,
                "epoch": round(state.epoch or 0.0, 3), "eta_seconds": round(eta, 1) if eta is not None else None,
                "loss_curve": self.losses[-500:], "updated": _now(),
            })

        def on_train_begin(self, args, state, control, **kwargs):
            self.start_step = state.global_step
            if state.global_step:  # a resumed run: keep the curve drawn before the interruption
                earlier = (_read_json(folder / "progress.json", {}) or {}).get("loss_curve") or []
                self.losses = [p for p in earlier if isinstance(p, dict) and p.get("step", 0) <= state.global_step]
            self._write(state)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.losses.append({"step": state.global_step, "loss": float(logs["loss"])})
            self._write(state)

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step % 5 == 0:
                self._write(state)

        def on_train_end(self, args, state, control, **kwargs):
            self._write(state, phase="evaluating")

    return ProgressCallback()


def _prepare_for_predict(job_id: str, model_dir: str) -> None:
    """Export the trained classifier's ONNX graph here, in the job's process, where the app's Predict tab serves CPU
    predictors from (`XLT_ONNX`): the first visitor to pick the new model then does not wait on the export
    inside the prediction queue. Only for a plain classifier served as float32 (a Hub classifier or a
    translate-test model is served by torch: nothing to export). A failure only costs that wait later."""
    from .models.loading import read_classifier_info
    from .models.onnx_runtime import onnx_default
    from .models.quantize import int8_default

    try:
        if not onnx_default() or int8_default() or read_classifier_info(model_dir).kind != "classifier":
            return
        from .predict import Predictor

        ready = Predictor(model_dir, int8=False, onnx=True).onnx
        print(f"xlt job {job_id}: " + ("ONNX graph ready for Predict" if ready else
                                       "Predict serves this model with torch (no ONNX graph for it)"), flush=True)
    except Exception as exc:
        print(f"xlt job {job_id}: warning: the ONNX graph for Predict was not made now ({type(exc).__name__}: "
              f"{exc}); the first prediction with this model will make it", flush=True)


def visitor_models_kept() -> int:
    """How many of visitors' ended jobs keep their model and checkpoints (`XLT_VISITOR_MODELS_KEPT`, default 10)."""
    return env_int("XLT_VISITOR_MODELS_KEPT", 10, 0)


def _drop_checkpoints(folder: Path) -> None:
    """Remove a job's full training checkpoints (~0.5 GB each) once nothing will resume from them."""
    import shutil

    shutil.rmtree(folder / "run" / "checkpoints", ignore_errors=True)


def _push(results, job_id: str) -> str:
    """Push the outbox after a job filed its record; any failure is logged and returned as the status: the record
    is filed and waits in the outbox, so the job still completes (the next sync pushes it)."""
    try:
        return results.push_pending()
    except Exception as exc:  # noqa: BLE001 - a full disk, a broken outbox: the run itself succeeded
        print(f"xlt job {job_id}: warning: pushing the record failed ({redact(exc)})", flush=True)
        return f"Not pushed ({redact(exc)}); the record waits in the outbox for the next sync"


def run_job(folder: str | Path) -> int:
    """Run one job to the end (the job process's entry point), through the one run-and-file path."""
    from .experiment import run_and_file
    from .results.store import ResultsStore

    folder = Path(folder)
    store = JobStore(folder.parent)
    job_id = folder.name

    stop = {"asked": False, "filing": False}

    def on_term(signum, frame):
        stop["asked"] = True
        if not stop["filing"]:  # once the record is being filed the job completes: a stop asked then is too late
            raise KeyboardInterrupt

    def filing() -> None:  # set by the filing step itself: no moment where a filed run can still be cancelled
        stop["filing"] = True

    signal.signal(signal.SIGTERM, on_term)
    try:
        config = ExperimentConfig.from_dict(_read_json(folder / "config.json"))
        queued = store.get(job_id)
        print(f"xlt job {job_id}: {config.to_command(queued.protocol, queued.premise_control)}", flush=True)
        results = ResultsStore(home=store.root.parent)  # local copy + outbox (+ push when configured)
        # a grid's cell trains where `xlt sweep` trains it ($XLT_HOME/runs/<fingerprint>): the cells that start
        # from its zero-shot source model (few-shot, translate-test) find and reuse it there
        output_dir = None if queued.sweep else folder / "run"
        # a visitor's job (open training) files its record as a submission the owner may accept, unpushed
        # (pushed below: once the record is filed, a stop asked comes too late)
        destination = {"results_dir": results.submission_folder(queued.launched_by)} if queued.unverified \
            else {"store": results, "push": False}
        record = run_and_file(config, save_model_to=folder / "model", output_dir=output_dir,
                              callbacks=[_progress_callback(folder)], protocol=queued.protocol,
                              premise_control=queued.premise_control, before_filing=filing, **destination)
        path = Path(record["path"])
        push_status = "Not pushed: a visitor's run waits, unverified, for the owner" if queued.unverified \
            else _push(results, job_id)
        print(f"xlt job {job_id}: record {path.name}; {push_status}", flush=True)
        for warning in record.get("training", {}).get("warnings", []):
            print(f"xlt job {job_id}: warning: {warning}", flush=True)
        notes = [] if queued.unverified or results.repo == "" or push_status.startswith(("Pushed", "Nothing")) \
            else [push_status]
        model_dir = record.get("model_location", str(folder / "model"))
        if not stop["asked"] and not queued.sweep:  # a grid's cells are compared, not served (nor kept in the
            # cache of ONNX graphs, whose oldest the default predictors' would then be)
            _prepare_for_predict(job_id, model_dir)
        _drop_checkpoints(folder)  # the model is saved in model/: the training checkpoints are no longer needed
        job = store.finish(job_id, state="completed", finished=_now(), error=None, cancel_requested=None,
                           record_path=str(path),
                           model_dir=model_dir, summary=record["summary"],
                           notes=notes)
        if job is None:  # no longer this process's job
            return 0
        if job.push_to_hub:
            from .results.publish import push_job_outputs

            message = push_job_outputs(job, record)
            print(message, flush=True)
            if not message.startswith("Model pushed"):
                store.update(job_id, notes=[*job.notes, message])
        if queued.unverified:
            store.prune_visitor_models()  # open training: visitors' older models never fill the disk
        print(f"xlt job {job_id}: completed", flush=True)
        return 0
    except KeyboardInterrupt:
        job = store.finish(job_id, state="cancelled", finished=_now())
        if job is not None and job.time_limit_s and _ran_s(job, datetime.now(timezone.utc)) >= job.time_limit_s:
            _drop_checkpoints(folder)  # it never resumes: its checkpoints would only fill the disk
        print(f"xlt job {job_id}: cancelled", flush=True)
        return 130
    except XltError as exc:
        store.finish(job_id, state="failed", finished=_now(), error=str(exc))
        print(f"xlt job {job_id}: failed: {exc}", flush=True)
        return 2
    except Exception as exc:  # anything else is recorded for the UI, with the traceback in the log
        import traceback

        traceback.print_exc()
        store.finish(job_id, state="failed", finished=_now(), error=f"{type(exc).__name__}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(run_job(sys.argv[1]))
