"""`xlt sweep --backend hf-jobs`: each cell of a grid as a Hugging Face Job (huggingface_hub's Jobs API).

xlt builds no scheduler beyond one machine: a cell becomes one Job running `xlt train` on the
chosen hardware flavor; the Job files its record into the results dataset repo
(`XLT_RESULTS_REPO`, pushed with the `HF_TOKEN` passed as a Job *secret*, never in the command or
the environment), and the local sweep pulls the repo to see it. Submission state lives in
`$XLT_HOME/hf-jobs/<grid>.json`; each Job carries the cell's config fingerprint as a label, and
the Hub's job list is checked before submitting, so a cell is never submitted twice, even when
an earlier submission's answer was lost. When the Hub is unreachable the cells stay queued.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .atomic import write_atomic
from .config import ExperimentConfig
from .errors import XltError

DEFAULT_IMAGE = "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"
LABEL = "xlt-fingerprint"
FINAL = {"COMPLETED", "CANCELED", "ERROR", "DELETED"}
FAILED = FINAL - {"COMPLETED"}
LOG_LINES = 5  # the tail of each unfinished or failed Job's log that `follow` keeps


@dataclass
class JobsSettings:
    flavor: str = "t4-small"
    timeout: str = "2h"
    image: str = DEFAULT_IMAGE
    # pip spec that installs this project in the Job, e.g. git+https://github.com/you/xlt or a wheel's URL
    # (`xlt` on PyPI is not this project, so there is no default)
    install: str = field(default_factory=lambda: os.environ.get("XLT_INSTALL_SPEC", ""))
    namespace: str | None = None

    def check(self) -> None:
        if not self.install.strip():
            raise XltError("set XLT_INSTALL_SPEC to the pip spec that installs xlt in a Job (e.g. "
                           "git+https://huggingface.co/spaces/<you>/<space> or a wheel's URL)")


def job_spec(config: ExperimentConfig, protocol: str | None, results_repo: str, settings: JobsSettings,
             premise_control: bool = False) -> dict:
    """The `run_job` arguments for one cell. The token goes in `secrets` by name only; its value is added at
    submission from the environment."""
    if not results_repo or results_repo.startswith("file://"):
        raise XltError("Jobs file their records into a Hub dataset repo: set XLT_RESULTS_REPO to owner/name")
    settings.check()
    train = config.to_command(protocol=protocol, premise_control=premise_control)
    script = f"pip install -q {shlex.quote(settings.install)} && {train}"
    return {
        "image": settings.image,
        "command": ["bash", "-lc", script],
        "env": {"XLT_RESULTS_REPO": results_repo, "XLT_HOME": "/tmp/xlt", "PYTHONUNBUFFERED": "1"},
        "secrets": ["HF_TOKEN"],
        "flavor": settings.flavor,
        "timeout": settings.timeout,
        "labels": {LABEL: config.fingerprint(), "xlt-task": config.task, "xlt-method": config.method},
        "namespace": settings.namespace,
    }


class JobsQueue:
    """Submission state of one grid's cells on Hugging Face Jobs."""

    def __init__(self, name: str, home: Path | None = None, api=None):
        from .settings import home_dir

        self.path = Path(home or home_dir()) / "hf-jobs" / f"{name}.json"
        self.api = api
        try:
            self.state = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.state = {}

    def _api(self):
        if self.api is None:
            from huggingface_hub import HfApi

            self.api = HfApi()
        return self.api

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(self.state, indent=2))

    def submit(self, cells: list[ExperimentConfig], protocol: str | None, results_repo: str,
               settings: JobsSettings, done: set[str], premise_control: bool = False) -> str:
        """Submit every cell that is neither done nor already submitted. Returns a one-line status; the Hub
        being unreachable leaves the rest queued (submitted again on the next call)."""
        from .results.store import call_with_deadline, hub_timeout, redact

        token = os.environ.get("HF_TOKEN")
        if not token:
            raise XltError("HF_TOKEN must be set to submit Jobs (it is passed to them as a secret)")
        settings.check()
        todo = [c for c in cells if c.fingerprint() not in done
                and self.state.get(c.fingerprint(), {}).get("state") not in ("submitted", "done")]
        if not todo:
            return "Nothing to submit."
        try:  # Jobs that exist already (an earlier answer was lost): adopt them, never submit twice
            existing = call_with_deadline(lambda: list(self._api().list_jobs(namespace=settings.namespace)),
                                          hub_timeout(), "Hugging Face Jobs")
        except Exception as exc:
            for config in todo:
                self.state.setdefault(config.fingerprint(), {"state": "queued"})
            self.save()
            return f"{len(todo)} cell(s) stay queued: Hugging Face Jobs not reachable ({redact(exc)})."
        # a Job that failed or was cancelled is not adopted: its cell is submitted again
        by_label = {(getattr(j, "labels", None) or {}).get(LABEL): j for j in existing or []
                    if _stage(j) not in FAILED}
        submitted = 0
        for config in todo:
            fp = config.fingerprint()
            if fp in by_label:
                self.state[fp] = {"state": "submitted", "job_id": by_label[fp].id, "adopted": True}
                continue
            spec = job_spec(config, protocol, results_repo, settings, premise_control)
            kwargs = {**spec, "secrets": {name: os.environ.get(name) for name in spec["secrets"]}}
            try:
                info = call_with_deadline(lambda k=kwargs: self._api().run_job(**k), hub_timeout(),
                                          "Hugging Face Jobs")
            except Exception as exc:
                self.state.setdefault(fp, {"state": "queued"})
                self.save()
                message = redact(exc).replace(token, "***")
                return f"Submitted {submitted}; the rest stay queued ({message})."
            self.state[fp] = {"state": "submitted", "job_id": info.id,
                              "submitted": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            self.save()
            submitted += 1
        return f"Submitted {submitted} Job(s) on {settings.flavor}."

    def follow(self, namespace: str | None = None) -> dict[str, str]:
        """Current stage of each submitted Job (`COMPLETED` cells are marked done, failed ones are submitted
        again by the next `submit`), and the last lines of each unfinished or failed Job's log under
        `log_tail`; Hub trouble keeps the state."""
        from .results.store import call_with_deadline, hub_timeout

        stages = {}
        for fp, entry in self.state.items():
            if entry.get("state") != "submitted":
                continue
            try:
                info = call_with_deadline(lambda e=entry: self._api().inspect_job(job_id=e["job_id"],
                                                                                   namespace=namespace),
                                          hub_timeout(), "Hugging Face Jobs")
            except Exception:
                stages[fp] = "unknown (Hub not answering)"
                continue
            stage = _stage(info)
            stages[fp] = stage
            if stage != "COMPLETED":
                try:
                    lines = call_with_deadline(lambda e=entry: self._log_tail(e["job_id"], namespace),
                                               hub_timeout(), "Hugging Face Jobs")
                    token = os.environ.get("HF_TOKEN")
                    entry["log_tail"] = [(str(line).replace(token, "***") if token else str(line)).rstrip()[:300]
                                         for line in lines[-LOG_LINES:]]  # masked before it is cut
                except Exception as exc:  # the stage is what matters; the log shows next time
                    entry["log_tail"] = [f"(log not fetched: {type(exc).__name__})"]
            if stage in FINAL:
                entry["state"] = "done" if stage == "COMPLETED" else "failed"
        self.save()
        return stages

    def _log_tail(self, job_id: str, namespace: str | None) -> list[str]:
        try:
            lines = self._api().fetch_job_logs(job_id=job_id, namespace=namespace, tail=LOG_LINES)
        except TypeError:  # a huggingface_hub without `tail`: read the log and keep its end
            lines = self._api().fetch_job_logs(job_id=job_id, namespace=namespace)
        return list(lines)[-LOG_LINES:]


def _stage(info) -> str:
    stage = getattr(getattr(info, "status", None), "stage", "UNKNOWN")
    return str(getattr(stage, "value", stage))
