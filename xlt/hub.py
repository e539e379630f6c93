"""Results store: committed records + the app's own + a Hub dataset repo, with an outbox.

New records are written locally first. With `XLT_RESULTS_REPO` and `HF_TOKEN` they are also
queued in an outbox and pushed one file each (`upload_file`, unique names); when the Hub is
unreachable or refuses, they wait in the outbox and are pushed later: nothing is lost and,
since a pushed file leaves the outbox (and a file already in the repo is not uploaded
again), nothing is pushed twice. `XLT_RESULTS_REPO=file:///some/folder` uses a local folder
laid out like the repo instead of the Hub (a stand-in for tests and air-gapped teams).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .errors import XltError
from .records import MAX_RECORD_BYTES, read_records, record_filename, validate_record, write_record
from .settings import home_dir, repo_root


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    token = os.environ.get("HF_TOKEN")
    if token:  # never echo the token, whatever the library put in its message
        text = text.replace(token, "***")
    return f"{type(exc).__name__}: {text[:200]}"


class HubBackend:
    """A Hub dataset repo, through huggingface_hub."""

    def __init__(self, repo_id: str, token: str | None):
        self.repo_id, self.token = repo_id, token

    def pull(self, into: Path) -> None:
        from huggingface_hub import snapshot_download

        snapshot_download(self.repo_id, repo_type="dataset", local_dir=str(into), token=self.token,
                          allow_patterns=["*.json", "**/*.json"], etag_timeout=10)

    def exists(self, path_in_repo: str) -> bool:
        from huggingface_hub import file_exists

        return file_exists(self.repo_id, path_in_repo, repo_type="dataset", token=self.token)

    def push(self, local: Path, path_in_repo: str) -> None:
        from huggingface_hub import upload_file

        upload_file(path_or_fileobj=str(local), path_in_repo=path_in_repo, repo_id=self.repo_id, repo_type="dataset",
                    token=self.token, commit_message=f"xlt: add result {Path(path_in_repo).name}")


class FolderBackend:
    """A local folder standing in for the repo (same layout)."""

    def __init__(self, folder: Path):
        self.folder = folder

    def pull(self, into: Path) -> None:
        if not self.folder.is_dir():
            raise FileNotFoundError(f"results folder {self.folder} does not exist")
        for path in self.folder.rglob("*.json"):
            target = into / path.relative_to(self.folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)

    def exists(self, path_in_repo: str) -> bool:
        return (self.folder / path_in_repo).is_file()

    def push(self, local: Path, path_in_repo: str) -> None:
        if not self.folder.is_dir():
            raise FileNotFoundError(f"results folder {self.folder} does not exist")
        target = self.folder / path_in_repo
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(local, target)


class ResultsStore:
    """Where the leaderboard reads records and where new ones go."""

    def __init__(self, home: str | Path | None = None, committed_dir: str | Path | None = None,
                 repo: str | None = None, token: str | None = None):
        self.home = Path(home) if home else home_dir()
        self.committed_dir = Path(committed_dir) if committed_dir else repo_root() / "leaderboard" / "results"
        self.local_dir = self.home / "results"
        self.hub_dir = self.home / "hub-results"
        self.outbox = self.home / "outbox"
        self.repo = repo if repo is not None else os.environ.get("XLT_RESULTS_REPO", "").strip()
        self.token = token if token is not None else os.environ.get("HF_TOKEN") or None
        for folder in (self.local_dir, self.hub_dir, self.outbox):
            folder.mkdir(parents=True, exist_ok=True)

    @property
    def backend(self):
        if not self.repo:
            return None
        if self.repo.startswith("file://"):
            return FolderBackend(Path(self.repo[len("file://"):]))
        return HubBackend(self.repo, self.token)

    @property
    def can_push(self) -> bool:
        return bool(self.repo) and (self.repo.startswith("file://") or bool(self.token))

    def push_disabled_reason(self) -> str | None:
        if not self.repo:
            return "Set XLT_RESULTS_REPO (a Hub dataset repo) to share results."
        if not self.can_push:
            return "Set HF_TOKEN in the environment to push results to the Hub."
        return None

    def records(self) -> tuple[list[dict], list[str]]:
        """Every valid record (committed, local, pulled from the Hub), each run id once."""
        seen, merged, errors = set(), [], []
        for folder in (self.committed_dir, self.local_dir, self.hub_dir):
            if not folder.is_dir():
                continue
            records, errs = read_records(folder)
            errors += errs
            for record in records:
                if record["run_id"] not in seen:
                    seen.add(record["run_id"])
                    merged.append(record)
        return merged, errors

    def add(self, record: dict) -> Path:
        """Keep a new record locally and queue it for the repo (pushed now if possible)."""
        path = write_record(record, self.local_dir)
        if self.repo:
            queued = self.outbox / record["task"]
            queued.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, queued / path.name)
            self.push_pending()
        return path

    def pending(self) -> list[Path]:
        return sorted(p for p in self.outbox.rglob("*.json") if "sent" not in p.relative_to(self.outbox).parts)

    def push_pending(self) -> str:
        """Push what waits in the outbox. Returns a one-line status; never raises for network trouble."""
        pending = self.pending()
        if not pending:
            return "Nothing waiting to be pushed."
        reason = self.push_disabled_reason()
        if reason:
            return f"{len(pending)} record(s) wait in the outbox. {reason}"
        pushed = 0
        for path in pending:
            path_in_repo = path.relative_to(self.outbox).as_posix()
            try:
                if not self.backend.exists(path_in_repo):
                    self.backend.push(path, path_in_repo)
            except Exception as exc:  # unreachable, refused, rate-limited: keep it for later
                return (f"Pushed {pushed}; {len(pending) - pushed} wait in the outbox "
                        f"(the results repo is not reachable: {_short(exc)}).")
            sent = self.outbox / "sent" / path_in_repo
            sent.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, sent)
            pushed += 1
        return f"Pushed {pushed} record(s) to {self.repo}."

    def pull(self) -> str:
        """Refresh the mirror of the results repo. Returns a one-line status."""
        if not self.repo:
            return "No results repo configured (XLT_RESULTS_REPO): showing local records."
        try:
            self.backend.pull(self.hub_dir)
        except Exception as exc:
            return f"Could not pull {self.repo} ({_short(exc)}); showing the last copy."
        return f"Pulled results from {self.repo}."

    def import_upload(self, file_path: str | Path) -> dict:
        """Validate an uploaded record file and add it. Names from the upload never become paths."""
        path = Path(file_path)
        if not path.is_file():
            raise XltError("no file was uploaded")
        if path.stat().st_size > MAX_RECORD_BYTES:
            raise XltError(f"the file is larger than {MAX_RECORD_BYTES // 1000} kB")
        try:
            record = json.loads(path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise XltError(f"the file is not valid UTF-8 JSON: {exc}") from exc
        validate_record(record)
        known, _ = self.records()
        if any(r["run_id"] == record["run_id"] for r in known):
            raise XltError(f"a record with run_id {record['run_id']} is already on the leaderboard")
        record_filename(record)  # built from validated fields only
        self.add(record)
        return record


def model_card(record: dict, base_hub_id: str) -> str:
    """A model card with `model-index` per-language results of the record."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    from .tasks import get_task

    task = get_task(record["task"])
    results = [
        EvalResult(task_type="text-classification", dataset_type=task.hub_dataset, dataset_name=task.hub_dataset,
                   dataset_config=task.hub_config(lang), dataset_split=task.eval_split,
                   metric_type=task.metric if task.metric != "macro_f1" else "f1", metric_name=task.metric,
                   metric_value=round(m[task.metric], 4))
        for lang, m in record["metrics"].items()
    ]
    data = ModelCardData(language=list(record["metrics"]), license="apache-2.0", library_name="peft",
                         base_model=base_hub_id, datasets=[task.hub_dataset], eval_results=results,
                         model_name=f"xlt-{record['task']}-{record['method']}-{'+'.join(record['source_languages'])}",
                         tags=["xlt", "cross-lingual-transfer", record["method"]])
    body = (f"\n# {data.model_name}\n\nTrained with [xlt](https://github.com) method `{record['method']}` from "
            f"{', '.join(record['source_languages'])}.\n\nReproduce:\n\n```bash\n{record['command']}\n```\n")
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}").content


def push_job_outputs(job, record: dict) -> str:
    """Push a finished job's classifier folder + model card to a Hub model repo."""
    from huggingface_hub import create_repo, upload_folder, whoami

    from .models.registry import resolve_model

    token = os.environ.get("HF_TOKEN")
    if not token:
        return "Not pushed: set HF_TOKEN to push models."
    try:
        user = whoami(token=token)["name"]
        repo_id = f"{user}/xlt-{record['task']}-{record['method']}-{'-'.join(record['source_languages'])}-{job.id}"
        folder = Path(job.model_dir)
        (folder / "README.md").write_text(model_card(record, resolve_model(record["model"]).hub_id))
        create_repo(repo_id, token=token, exist_ok=True, private=True)
        upload_folder(folder_path=str(folder), repo_id=repo_id, token=token, commit_message="xlt: trained model")
    except Exception as exc:
        return f"Model not pushed ({_short(exc)})."
    return f"Model pushed to https://huggingface.co/{repo_id}"
