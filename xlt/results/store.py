"""Results store: committed records + the app's own + a Hub dataset repo, with an outbox.

New records are written locally first. With `XLT_RESULTS_REPO` and `HF_TOKEN` they are also
queued in an outbox and pushed one file each (`upload_file`, unique names); when the Hub is
unreachable or refuses, they wait in the outbox and are pushed later: nothing is lost and,
since a pushed file leaves the outbox (and a file already in the repo is not uploaded
again), nothing is pushed twice. `XLT_RESULTS_REPO=file:///some/folder` uses a local folder
laid out like the repo instead of the Hub (a stand-in for tests and air-gapped teams).

Every call to the repo has a deadline (`XLT_HUB_TIMEOUT`, default 20 s): a Hub that hangs
makes a pull fail with a clear status, never a caller wait. The app pulls in the background
(`sync_in_background`, `start_schedule`), never on a page load.

Records uploaded by visitors are kept apart (`submitted/`) and listed as "submitted,
unverified" until the owner accepts them; they are never pushed with the Space's token. A
signed-in visitor's upload is opened as a pull request on the results repo with their own
OAuth token, as the MTEB results repository takes submissions.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from ..atomic import locked, write_atomic
from ..errors import XltError, redact
from ..settings import home_dir, repo_root
from .records import read_record, read_records, record_filename, write_record

VERIFIED, UNVERIFIED = "verified", "submitted, unverified"
MAX_SUBMITTED = 500  # unreviewed uploads kept at once (each page render reads them)
MAX_WAITING_ANONYMOUS = 100  # of which from anonymous visitors (one identity: spam must not block signed-in users)
MAX_WAITING_PER_USER = 20  # of which from one signed-in user
SYNC_COOLDOWN_S = 60  # a refresh within this long of the last pull does not start another
STATE_FILE = "hub-sync.json"  # beside the mirror, not in it: snapshot_download reads a non-empty folder as a copy


def hub_timeout() -> float:
    try:
        return max(1.0, float(os.environ.get("XLT_HUB_TIMEOUT", "20")))
    except ValueError:
        return 20.0


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# a call stuck past its deadline holds back new ones this long at most (one that never returns would otherwise
# stop every later sync until a restart): at worst one more waiting thread per 10 minutes
STUCK_RETRY_S = 600.0


class HubTimeout(Exception):
    """The repo did not answer within the deadline (`worker`: the thread still waiting on it)."""

    def __init__(self, message: str, worker: threading.Thread | None = None):
        super().__init__(message)
        self.worker = worker


def call_with_deadline(fn: Callable, timeout: float, what: str = "the Hub"):
    """Run `fn()` in a daemon thread; raise `HubTimeout` when it has not returned within `timeout` s.

    A call stuck on a socket cannot be killed from Python; it is left to finish on its own in
    its thread while the caller moves on.
    """
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=target, name="xlt-hub-call", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise HubTimeout(f"{what} did not answer within {timeout:.0f} s", worker)
    if "error" in box:
        raise box["error"]
    return box.get("value")


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

    def open_pr(self, local: Path, path_in_repo: str, token: str, user: str) -> str:
        """A pull request adding one record, opened with the submitting user's own token."""
        from huggingface_hub import upload_file

        info = upload_file(path_or_fileobj=str(local), path_in_repo=path_in_repo, repo_id=self.repo_id,
                           repo_type="dataset", token=token, create_pr=True,
                           commit_message=f"Result submission: {Path(path_in_repo).name}",
                           commit_description=f"Submitted by {user} through the xlt Space; unverified "
                                              "until a maintainer merges it.")
        return str(getattr(info, "pr_url", "") or "")


class FolderBackend:
    """A local folder standing in for the repo (same layout); pull requests go to `<folder>-prs/`."""

    def __init__(self, folder: Path):
        self.folder = folder

    def _check(self) -> None:
        if not self.folder.is_dir():
            raise FileNotFoundError(f"results folder {self.folder} does not exist")

    def pull(self, into: Path) -> None:
        self._check()
        for path in self.folder.rglob("*.json"):
            target = into / path.relative_to(self.folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)

    def exists(self, path_in_repo: str) -> bool:
        return (self.folder / path_in_repo).is_file()

    def push(self, local: Path, path_in_repo: str) -> None:
        self._check()
        target = self.folder / path_in_repo
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(local, target)

    def open_pr(self, local: Path, path_in_repo: str, token: str, user: str) -> str:
        self._check()
        pr = self.folder.with_name(self.folder.name + "-prs") / f"{int(time.time() * 1e6)}-{user}"
        target = pr / path_in_repo
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(local, target)
        return str(pr)


class ResultsStore:
    """Where the leaderboard reads records and where new ones go."""

    def __init__(self, home: str | Path | None = None, committed_dir: str | Path | None = None,
                 repo: str | None = None, token: str | None = None):
        self.home = Path(home) if home else home_dir()
        self.committed_dir = Path(committed_dir) if committed_dir else repo_root() / "leaderboard" / "results"
        self.local_dir = self.home / "results"
        self.hub_dir = self.home / "hub-results"
        self.submitted_dir = self.home / "submitted"
        self.outbox = self.home / "outbox"
        self.repo = repo if repo is not None else os.environ.get("XLT_RESULTS_REPO", "").strip()
        self.token = token if token is not None else os.environ.get("HF_TOKEN") or None
        for folder in (self.local_dir, self.hub_dir, self.submitted_dir, self.outbox):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # a file in the way, no permission: XLT_HOME names a folder xlt can write
                raise XltError(f"cannot create the results folder {folder} (XLT_HOME is {self.home}): "
                               f"{exc.strerror or exc}") from None
        self._sync_lock = threading.Lock()
        self._schedule: threading.Thread | None = None
        self._stop = threading.Event()
        # a Hub call past its deadline, still waiting, and since when
        self._stuck: tuple[threading.Thread | None, float] = (None, 0.0)

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

    def _bounded(self, fn: Callable, what: str):
        """`fn()` within the Hub deadline. While an earlier call is still stuck past its own, none is started:
        a hanging Hub would otherwise gather a thread (and a socket) per sync and per upload, and a second
        download into `hub-results/` or a second push of one outbox file would run beside the first."""
        stuck, since = self._stuck
        if stuck is not None and stuck.is_alive() and time.monotonic() - since < STUCK_RETRY_S:
            raise HubTimeout(f"{what} has not answered an earlier call yet; not calling it again until it does "
                             f"(or for {STUCK_RETRY_S / 60:.0f} min)")
        try:
            return call_with_deadline(fn, hub_timeout(), what)
        except HubTimeout as exc:
            self._stuck = (exc.worker, time.monotonic())
            raise

    # --- reading -------------------------------------------------------------------------------

    def sources(self) -> tuple[tuple[Path, str], ...]:
        """The folders records are read from, in order of precedence, each with the status of its records:
        committed, local, pulled from the Hub, then submitted uploads."""
        return ((self.committed_dir, VERIFIED), (self.local_dir, VERIFIED), (self.hub_dir, VERIFIED),
                (self.submitted_dir, UNVERIFIED))

    def records(self) -> tuple[list[dict], list[str]]:
        """Every valid record of `sources()`, each run id once, with `status` set to "verified" or
        "submitted, unverified" and the summary recomputed from the per-language metrics (a stored summary
        is never trusted)."""
        from .submissions import recompute_summary

        seen, merged, errors = set(), [], []
        for folder, status in self.sources():
            if not folder.is_dir():
                continue
            records, errs = read_records(folder)
            errors += errs
            for record in records:
                if record["run_id"] in seen:
                    continue
                try:
                    record = recompute_summary(record)
                except (XltError, KeyError, TypeError, ValueError) as exc:
                    errors.append(f"{record['run_id']}: {exc}")
                    continue
                seen.add(record["run_id"])
                merged.append({**record, "status": status})
        return merged, errors

    # --- the app's own runs ----------------------------------------------------------------------

    def add(self, record: dict, push: bool = True) -> Path:
        """Keep a new record of this installation's own run locally and queue it for the repo."""
        path = write_record(record, self.local_dir)
        self._queue(path, record["task"])
        if push:
            self.push_pending()
        return path

    def _queue(self, path: Path, task: str) -> None:
        """Put a filed record in the outbox, atomically: a push running meanwhile never uploads half a file."""
        if self.repo:
            queued = self.outbox / task
            queued.mkdir(parents=True, exist_ok=True)
            write_atomic(queued / path.name, path.read_text(encoding="utf-8"))

    def _locked(self, name: str):
        """A lock shared by every process using this home (the app, its jobs, the CLI), kept apart from the
        records: `push` around pushing the outbox, `review` around counting, adding and accepting uploads."""
        return locked(self.home / ".locks" / f"{name}.lock")

    def pending(self) -> list[Path]:
        return sorted(p for p in self.outbox.rglob("*.json") if "sent" not in p.relative_to(self.outbox).parts
                      and not p.name.startswith("."))

    def push_pending(self) -> str:
        """Push what waits in the outbox. Returns a one-line status; never raises for network trouble.

        One push at a time, across processes: the app's sync and a finishing job each listing the outbox and
        pushing the same files would race to move them to `sent/`."""
        with self._locked("push"):
            return self._push_pending()

    def _push_pending(self) -> str:
        pending = self.pending()
        if not pending:
            return "Nothing waiting to be pushed."
        reason = self.push_disabled_reason()
        if reason:
            return f"{len(pending)} record(s) wait in the outbox. {reason}"
        pushed, backend = 0, self.backend
        for path in pending:
            path_in_repo = path.relative_to(self.outbox).as_posix()
            try:
                if not self._bounded(lambda p=path_in_repo: backend.exists(p), "the results repo"):
                    self._bounded(lambda p=path, q=path_in_repo: backend.push(p, q), "the results repo")
            except Exception as exc:  # unreachable, refused, rate-limited, hanging: keep it for later
                return (f"Pushed {pushed}; {len(pending) - pushed} wait in the outbox "
                        f"(the results repo is not reachable: {redact(exc)}).")
            sent = self.outbox / "sent" / path_in_repo
            sent.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(path, sent)
            except FileNotFoundError:  # moved meanwhile by a pusher outside the lock (an older xlt): it is sent
                pass
            pushed += 1
        return f"Pushed {pushed} record(s) to {self.repo}."

    # --- pulling, off the request path -------------------------------------------------------------

    def _state(self) -> dict:
        try:
            return json.loads((self.home / STATE_FILE).read_text())
        except (OSError, ValueError):
            return {}

    def _save_state(self, **changes) -> None:
        state = {**self._state(), **changes}
        write_atomic(self.home / STATE_FILE, json.dumps(state))

    def pull(self) -> str:
        """Refresh the mirror of the results repo (bounded by the deadline). Returns a one-line status."""
        if not self.repo:
            return "No results repo configured (XLT_RESULTS_REPO): showing local records."
        backend = self.backend
        self._save_state(attempt=_now())
        try:
            self._bounded(lambda: backend.pull(self.hub_dir), "the results repo")
        except Exception as exc:
            state = self._state()
            self._save_state(failing_since=state.get("failing_since") or _now(), error=redact(exc))
            return self.hub_status()
        self._save_state(pulled=_now(), failing_since=None, error=None)
        return f"Pulled results from {self.repo} at {self._state()['pulled']}."

    def pull_failing(self) -> bool:
        """Whether the last pull of the results repo failed (its copy may be missing what the repo holds)."""
        return bool(self._state().get("failing_since"))

    def sync(self) -> str:
        """Pull, then push what waits; one sync at a time (a second caller gets the current status)."""
        if not self._sync_lock.acquire(blocking=False):
            return "A sync with the results repo is already running. " + self.hub_status()
        try:
            return f"{self.pull()} {self.push_pending()}".strip()
        finally:
            self._sync_lock.release()

    def sync_in_background(self) -> bool:
        """Start a sync in a daemon thread unless one runs or one started less than a minute ago (visitors'
        refreshes must not spend the Space token's rate limit); returns whether one was started."""
        if not self.repo or self._sync_lock.locked():
            return False
        attempt = self._state().get("attempt")
        if attempt and (datetime.now(timezone.utc) - datetime.fromisoformat(attempt)).total_seconds() < SYNC_COOLDOWN_S:
            return False
        threading.Thread(target=self.sync, name="xlt-results-sync", daemon=True).start()
        return True

    def start_schedule(self, every_seconds: float = 600.0) -> None:
        """Sync now and then every `every_seconds` in the background (the app calls this at start-up)."""
        if not self.repo or (self._schedule is not None and self._schedule.is_alive()):
            return

        def loop():
            while not self._stop.is_set():
                try:
                    self.sync()
                except Exception as exc:  # noqa: BLE001 - one failed sync (a full disk) must not end every later one
                    print(f"xlt results sync: {redact(exc)}", file=sys.stderr)
                self._stop.wait(every_seconds)

        self._schedule = threading.Thread(target=loop, name="xlt-results-schedule", daemon=True)
        self._schedule.start()

    def stop(self) -> None:
        self._stop.set()

    def hub_status(self) -> str:
        """One line for the page: where the shown records come from and how fresh they are."""
        if not self.repo:
            return "No results repo configured (XLT_RESULTS_REPO): showing local records."
        state = self._state()
        copy = f"showing the copy from {state['pulled']}" if state.get("pulled") else "no copy pulled yet"
        if state.get("failing_since"):
            return (f"Results repo {self.repo} not answering since {state['failing_since']} "
                    f"({state.get('error', '')}); {copy}.")
        if self._sync_lock.locked():
            return f"Pulling {self.repo} in the background; {copy}."
        return f"Results from {self.repo}; {copy}."

    # --- visitors' uploads -----------------------------------------------------------------------

    def import_upload(self, file_path: str | Path, user: str | None = None, oauth_token: str | None = None) -> dict:
        """Validate an uploaded record and keep it as "submitted, unverified".

        Nothing from the upload becomes a path. An anonymous upload stays on this installation; a
        signed-in user's is also opened as a pull request on the results repo with their token
        (never the Space's). Returns the cleaned record, with `pull_request` when one was opened.
        """
        from .submissions import parse_upload, validate_submission

        path = Path(file_path) if file_path else None
        if path is None or not path.is_file():
            raise XltError("no file was uploaded")
        # counted, checked and written as one step: parallel uploads cannot all pass a cap, or both be new
        with self._locked("review"):
            self._check_room(user)
            record = validate_submission(parse_upload(path.read_bytes()))
            self._check_new(record)
            written = write_record(record, self.submission_folder(user))
        record = {**record, "path": str(written)}
        if user and oauth_token and self.repo:
            task_path = f"{record['task']}/{record_filename(record)}"
            backend = self.backend
            try:
                record["pull_request"] = self._bounded(
                    lambda: backend.open_pr(written, task_path, oauth_token, user), "the results repo")
            except Exception as exc:
                record["pull_request_error"] = redact(exc, oauth_token)
        return record

    def _check_room(self, user: str | None) -> None:
        """Refuse one more upload when `MAX_SUBMITTED` wait in all, or the uploader's own cap is reached."""
        waiting = sum(1 for _ in self.submitted_dir.rglob("*.json"))
        if waiting >= MAX_SUBMITTED:
            raise XltError(f"{waiting} submitted records already wait for the owner's review; try again later")
        folder = self.submission_folder(user)
        theirs = sum(1 for _ in folder.rglob("*.json")) if folder.is_dir() else 0
        limit = MAX_WAITING_PER_USER if user else MAX_WAITING_ANONYMOUS
        if theirs >= limit:
            who = f"{user} has" if user else "anonymous visitors have"
            raise XltError(f"{who} {theirs} submitted records waiting for the owner's review (at most {limit}); "
                           "try again once they are reviewed" + ("" if user else ", or sign in"))

    def _check_new(self, record: dict) -> None:
        """Refuse a record whose run id, or whose run (settings and scores), the leaderboard already has."""
        known, _ = self.records()
        if any(r["run_id"] == record["run_id"] for r in known):
            raise XltError(f"a record with run_id {record['run_id']} is already on the leaderboard")
        if any(r.get("config_fingerprint") == record["config_fingerprint"] and r["metrics"] == record["metrics"]
               for r in known):
            raise XltError("the same run (same settings and scores) is already on the leaderboard")

    def submission_folder(self, user: str | None) -> Path:
        """Where one uploader's unreviewed records wait (each uploader's count is capped): `anonymous` for
        visitors who are not signed in, `by-user/<name>` for the others."""
        from .records import safe_name

        return self.submitted_dir / ("by-user/" + safe_name(user, "user") if user else "anonymous")

    def accept(self, run_id: str) -> Path:
        """The owner accepts a submitted record: it moves to this installation's results (and the outbox)."""
        with self._locked("review"):
            path, record = self._submitted(run_id)
            target = write_record(record, self.local_dir)
            path.unlink()
            self._queue(target, record["task"])
            return target

    def reject(self, run_id: str) -> dict:
        """The owner rejects a submitted record: its file is deleted (it frees a place under the caps that a
        flood of junk uploads would otherwise hold for good). Returns the record."""
        with self._locked("review"):
            path, record = self._submitted(run_id)
            path.unlink()
            return record

    def _submitted(self, run_id: str) -> tuple[Path, dict]:
        """The waiting submission of `run_id` and its file (the caller holds the review lock).

        The file is found by the run id inside it, not by its name: `evil__victim`'s file name also ends in
        `__victim.json`, and must neither stand in for nor be deleted with the record of run `victim`."""
        run_id = (run_id or "").strip()
        unreadable = []
        for path in sorted(self.submitted_dir.rglob("*.json")):
            if not path.name.endswith(f"__{run_id}.json") or path.name.startswith("."):
                continue
            try:
                record = read_record(path)
            except Exception as exc:  # noqa: BLE001 - an odd file is reported, as `read_records` skips it
                unreadable.append(f"{path.name}: {str(exc)[:200]}")
                continue
            if record["run_id"] == run_id:
                return path, record
        if unreadable:
            raise XltError(f"submitted record {run_id} is unreadable: {unreadable[0]}")
        raise XltError(f"no submitted record with run id {run_id!r}")
