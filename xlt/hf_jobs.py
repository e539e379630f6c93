"""`xlt sweep --backend hf-jobs`: each cell of a grid as a Hugging Face Job (huggingface_hub's Jobs API).

xlt builds no scheduler beyond one machine: a cell becomes one Job running `xlt train` on the
chosen hardware flavor; the Job files its record into the results dataset repo
(`XLT_RESULTS_REPO`, pushed with the `HF_TOKEN` passed as a Job *secret*, never in the command or
the environment; so is `XLT_INSTALL_SPEC`, whose URL may carry a token), and fails when the record
could not be pushed (its container, and the record in it, is gone once it ends). The local sweep
pulls the repo to see the records: a cell is done when its record is there, not when its Job
completed. Submission state lives in `$XLT_HOME/hf-jobs/<grid>.json`; each Job carries the cell's
config fingerprint as a label, and the Hub's job list is checked before submitting, so a cell is
never submitted twice, even when an earlier submission's answer was lost. When the Hub is
unreachable the cells stay queued.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .atomic import write_atomic
from .config import ExperimentConfig
from .errors import XltError, mask_token

DEFAULT_IMAGE = "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"
LABEL = "xlt-fingerprint"
FINAL = {"COMPLETED", "CANCELED", "ERROR", "DELETED"}
FAILED = FINAL - {"COMPLETED"}
LOG_LINES = 5  # the tail of each unfinished or failed Job's log that `follow` keeps
INSTALL_SECRET = "XLT_INSTALL_SPEC"
SECRETS = ("HF_TOKEN", INSTALL_SECRET)  # passed to each Job by name; their values never enter its command
UNKNOWN = "unknown (Hub not answering)"


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
    """The `run_job` arguments for one cell. The token and the install spec go in `secrets` by name only (the
    command reads them from its environment); their values are added at submission (`secret_values`). The
    command ends by checking that the record reached the results repo, else the Job fails."""
    if not results_repo or results_repo.startswith("file://"):
        raise XltError("Jobs file their records into a Hub dataset repo: set XLT_RESULTS_REPO to owner/name")
    settings.check()
    train = config.to_command(protocol=protocol, premise_control=premise_control)
    script = f'pip install -q "${INSTALL_SECRET}" && {train} && python -m xlt.hf_jobs push'
    return {
        "image": settings.image,
        "command": ["bash", "-lc", script],
        "env": {"XLT_RESULTS_REPO": results_repo, "XLT_HOME": "/tmp/xlt", "PYTHONUNBUFFERED": "1"},
        "secrets": list(SECRETS),
        "flavor": settings.flavor,
        "timeout": settings.timeout,
        "labels": {LABEL: config.fingerprint(), "xlt-task": config.task, "xlt-method": config.method},
        "namespace": settings.namespace,
    }


def secret_values(settings: JobsSettings) -> dict[str, str | None]:
    """The values of a Job's `SECRETS`: the token from the environment, the install spec from `settings`."""
    return {"HF_TOKEN": os.environ.get("HF_TOKEN"), INSTALL_SECRET: settings.install}


def _masked(text: str, *secrets: str | None) -> str:
    """`text` with the environment's secrets (and `secrets`) masked: a Hub message or a Job's log may echo them."""
    return mask_token(text, *(os.environ.get(name) for name in SECRETS), *secrets)


def push_or_fail(store=None) -> str:
    """The last step of a Job's command: push what waits in the outbox, and fail when a record is still there.
    The Job's container, and the record in it, is gone once the Job ends, so a Job that completed must have
    filed its record; one that failed is submitted again by the next `xlt sweep --backend hf-jobs`."""
    from .results.store import ResultsStore

    store = store or ResultsStore()
    status = store.push_pending()
    if store.pending():
        raise XltError(f"{len(store.pending())} record(s) could not be pushed to the results repo "
                       f"({store.repo or 'XLT_RESULTS_REPO not set'}): {_masked(status)} The Job fails so that the "
                       "sweep submits its cell again.")
    return status


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
        from .results.store import redact

        token = os.environ.get("HF_TOKEN")
        if not token:
            raise XltError("HF_TOKEN must be set to submit Jobs (it is passed to them as a secret)")
        settings.check()
        todo = [c for c in cells if c.fingerprint() not in done
                and self.state.get(c.fingerprint(), {}).get("state") not in ("submitted", "done")]
        if not todo:
            return "Nothing to submit."
        try:  # Jobs that exist already (an earlier answer was lost): adopt them, never submit twice
            existing = self._call(lambda: list(self._api().list_jobs(namespace=settings.namespace)))
        except Exception as exc:
            for config in todo:
                self.state.setdefault(config.fingerprint(), {"state": "queued"})
            self.save()
            return (f"{len(todo)} cell(s) stay queued: Hugging Face Jobs not reachable "
                    f"({_masked(redact(exc), settings.install)}).")
        # a Job that failed or was cancelled is not adopted: its cell is submitted again; nor is one that completed
        # without its record reaching the results repo (`confirm`)
        lost = {job_id for entry in self.state.values() for job_id in entry.get("lost_jobs", [])}
        by_label = {(getattr(j, "labels", None) or {}).get(LABEL): j for j in existing or []
                    if _stage(j) not in FAILED and j.id not in lost}
        submitted = 0
        for config in todo:
            fp = config.fingerprint()
            kept = {"lost_jobs": self.state[fp]["lost_jobs"]} if self.state.get(fp, {}).get("lost_jobs") else {}
            if fp in by_label:
                self.state[fp] = {"state": "submitted", "job_id": by_label[fp].id, "adopted": True, **kept}
                continue
            spec = job_spec(config, protocol, results_repo, settings, premise_control)
            kwargs = {**spec, "secrets": secret_values(settings)}
            try:
                info = self._call(lambda k=kwargs: self._api().run_job(**k))
            except Exception as exc:
                self.state.setdefault(fp, {"state": "queued"})
                self.save()
                return f"Submitted {submitted}; the rest stay queued ({_masked(redact(exc), settings.install)})."
            self.state[fp] = {"state": "submitted", "job_id": info.id,
                              "submitted": datetime.now(timezone.utc).isoformat(timespec="seconds"), **kept}
            self.save()
            submitted += 1
        return f"Submitted {submitted} Job(s) on {settings.flavor}."

    def follow(self, namespace: str | None = None, log=print) -> dict[str, str]:
        """Current stage of each submitted Job (`COMPLETED` cells are marked done until `confirm` finds their
        record missing, failed ones are submitted again by the next `submit`), and the last lines of each
        unfinished or failed Job's log under `log_tail`; Hub trouble keeps the state. Once the Hub lets a call
        run out its deadline, the Jobs after it are not asked this time (their stage is unknown): a hanging Hub
        costs one deadline per pass, not two per Job."""
        from .results.store import HubTimeout

        stages, hung = {}, False
        for fp, entry in self.state.items():
            if entry.get("state") != "submitted":
                continue
            if hung:
                stages[fp] = UNKNOWN
                continue
            try:
                stage = _stage(self._call(lambda e=entry: self._api().inspect_job(job_id=e["job_id"],
                                                                                   namespace=namespace)))
            except Exception as exc:
                stages[fp], hung = UNKNOWN, isinstance(exc, HubTimeout)
                continue
            stages[fp] = stage
            if stage != "COMPLETED":
                hung = not self._keep_log_tail(entry, namespace)
            if stage in FINAL:
                entry["state"] = "done" if stage == "COMPLETED" else "failed"
        if hung:
            log(f"Hugging Face Jobs did not answer within the deadline (XLT_HUB_TIMEOUT); the stage of "
                f"{list(stages.values()).count(UNKNOWN)} Job(s) is unknown this time.")
        self.save()
        return stages

    def confirm(self, done: set[str]) -> list[str]:
        """Jobs marked done (they completed) whose record is not among `done` (the records found after a
        successful pull): marked failed, so the next `submit` submits their cell again, and never adopted
        again. Returns their fingerprints."""
        lost = [fp for fp, entry in self.state.items() if entry.get("state") == "done" and fp not in done]
        for fp in lost:
            entry = self.state[fp]
            entry["state"] = "failed"
            entry["lost_jobs"] = [*entry.get("lost_jobs", []), entry["job_id"]]
        if lost:
            self.save()
        return lost

    def _call(self, fn):
        from .results.store import call_with_deadline, hub_timeout

        return call_with_deadline(fn, hub_timeout(), "Hugging Face Jobs")

    def _keep_log_tail(self, entry: dict, namespace: str | None) -> bool:
        """Keep the last lines of a Job's log (masked before they are cut) in `entry`; False when the Hub ran
        out the deadline (the stage is what matters: the log shows next time)."""
        from .results.store import HubTimeout

        try:
            lines = self._call(lambda: self._log_tail(entry["job_id"], namespace))
        except Exception as exc:
            entry["log_tail"] = [f"(log not fetched: {type(exc).__name__})"]
            return not isinstance(exc, HubTimeout)
        entry["log_tail"] = [_masked(str(line)).rstrip()[:300] for line in lines[-LOG_LINES:]]
        return True

    def _log_tail(self, job_id: str, namespace: str | None) -> list[str]:
        try:
            lines = self._api().fetch_job_logs(job_id=job_id, namespace=namespace, tail=LOG_LINES)
        except TypeError:  # a huggingface_hub without `tail`: read the log and keep its end
            lines = self._api().fetch_job_logs(job_id=job_id, namespace=namespace)
        return list(lines)[-LOG_LINES:]


def _stage(info) -> str:
    stage = getattr(getattr(info, "status", None), "stage", "UNKNOWN")
    return str(getattr(stage, "value", stage))


def main(argv: list[str] | None = None) -> int:
    """`python -m xlt.hf_jobs push`: the check a Job's command ends with (`push_or_fail`)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["push"]:
        print("usage: python -m xlt.hf_jobs push", file=sys.stderr)
        return 2
    try:
        print(push_or_fail())
    except XltError as exc:
        print(f"xlt: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
