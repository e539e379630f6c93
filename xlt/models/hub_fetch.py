"""Hub models fetched in the background for the app, so a Predict request never waits on a download.

A Hub classifier can be gigabytes (`joeddav/xlm-roberta-large-xnli`: 2.2 GB). Downloaded inside a
request it would hold the app's single prediction slot for minutes and, with a hanging Hub, forever.
`local_copy(repo_id)` answers at once: the model's local folder when a download by this module has
finished, else it starts one download in a background thread (one per repo) and raises `XltError`
saying so; the next request after it finishes finds the folder. The CLI does not use this: there
waiting for a download is what the user asked for.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from ..errors import XltError, redact

# other frameworks' weights and exports: never needed by transformers' PyTorch loading
OTHER_FORMATS = (".h5", ".msgpack", ".ot", ".onnx", ".onnx_data", ".tflite", ".mlmodel", ".gguf")
TORCH_WEIGHTS = (".bin", ".pt", ".pth")
SUBFOLDERS = ("adapter", "encoder")  # an xlt classifier's parts; other folders (checkpoints, onnx/) are not read
DOWNLOAD_TIMEOUT_S = 1800.0  # a download still unfinished after this long (a hanging Hub) may be started again
RETRY_AFTER = 60.0  # seconds before a failed download is tried again
_LOCK = threading.Lock()
# repo -> ("downloading", since) or ("failed: <why>", when)
_STATE: dict[str, tuple[str, float]] = {}


def _marker(repo_id: str) -> Path:
    from ..settings import cache_dir

    return cache_dir() / "hub-ready" / (repo_id.replace("/", "--") + ".json")


def select_files(files: list[str]) -> list[str]:
    """The files a model load reads: the repo's top level and an xlt classifier's `adapter/` and `encoder/`,
    without other frameworks' formats, and without `.bin`/`.pt` weights in a folder that has safetensors."""
    wanted = [f for f in files if f.count("/") == 0 or (f.count("/") == 1 and f.split("/")[0] in SUBFOLDERS)]
    wanted = [f for f in wanted if not f.endswith(OTHER_FORMATS)]
    with_safetensors = {f.rpartition("/")[0] for f in wanted if f.endswith(".safetensors")}
    return [f for f in wanted if not (f.endswith(TORCH_WEIGHTS) and f.rpartition("/")[0] in with_safetensors)]


def _downloaded(repo_id: str) -> Path | None:
    """The folder a finished download of this module left, with every file it fetched still there."""
    try:
        done = json.loads(_marker(repo_id).read_text(encoding="utf-8"))
        folder = Path(done["folder"])
        if all((folder / name).is_file() for name in done["files"]) and done["files"]:
            return folder
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _cached(repo_id: str) -> Path | None:
    """A copy already in the Hugging Face cache (fetched some other way), without touching the network."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - not (completely) in the cache, in whatever way the cache says so
        return None


def _download(repo_id: str) -> None:
    from huggingface_hub import HfApi, snapshot_download

    from ..atomic import write_atomic

    try:
        files = select_files(HfApi().list_repo_files(repo_id))
        if not files:
            raise XltError("the repo holds no model files")
        folder = snapshot_download(repo_id, allow_patterns=files, etag_timeout=10)
        marker = _marker(repo_id)
        marker.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(marker, json.dumps({"repo_id": repo_id, "folder": str(folder), "files": files}))
        with _LOCK:
            _STATE.pop(repo_id, None)
    except Exception as exc:  # noqa: BLE001 - reported to the next request, which may try again
        with _LOCK:  # shown to visitors: never with the Space's token in it
            _STATE[repo_id] = (f"failed: {redact(exc, limit=160)}", time.monotonic())


def local_copy(repo_id: str) -> Path:
    """The local folder of Hub model `repo_id`, or `XltError` while (or after failing) fetching it."""
    from ..settings import hub_offline

    folder = _downloaded(repo_id)
    if folder is not None:
        return folder
    if hub_offline():
        folder = _cached(repo_id)
        if folder is not None:
            return folder
        raise XltError(f"{repo_id!r} is not downloaded and the Hub is off (HF_HUB_OFFLINE)")
    with _LOCK:
        what, since = _STATE.get(repo_id, ("", 0.0))
        age = time.monotonic() - since
        if what == "downloading" and age < DOWNLOAD_TIMEOUT_S:
            raise XltError(f"{repo_id!r} is still downloading from the Hub; ask again in a minute")
        if what.startswith("failed") and age < RETRY_AFTER:
            raise XltError(f"{repo_id!r} could not be downloaded from the Hub ({what[8:]}); it is tried again "
                           f"{RETRY_AFTER:.0f} s after a failure")
        _STATE[repo_id] = ("downloading", time.monotonic())
    threading.Thread(target=_download, args=(repo_id,), name=f"xlt-hub-fetch-{repo_id}", daemon=True).start()
    raise XltError(f"{repo_id!r} is downloading from the Hub in the background; ask again in a minute")
