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

from ..errors import XltError

# other frameworks' weights and exports: never needed by transformers' PyTorch loading
IGNORE = ["*.h5", "*.msgpack", "*.ot", "*.onnx", "*.onnx_data", "onnx/*", "openvino/*", "*.tflite", "coreml/*",
          "*.mlmodel", "*.gguf"]
_LOCK = threading.Lock()
_STATE: dict[str, tuple[str, float] | None] = {}  # repo -> None while downloading, else (failure, when)
RETRY_AFTER = 60.0  # seconds before a failed download is tried again


def _marker(repo_id: str) -> Path:
    from ..settings import cache_dir

    return cache_dir() / "hub-ready" / (repo_id.replace("/", "--") + ".json")


def _snapshot(repo_id: str) -> Path | None:
    """The cached snapshot folder, without touching the network (None when there is none)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True, ignore_patterns=IGNORE))
    except Exception:  # noqa: BLE001 - not in the cache, in whatever way the cache says so
        return None


def _download(repo_id: str) -> None:
    from huggingface_hub import HfApi, snapshot_download

    from ..atomic import write_atomic

    try:
        files = HfApi().list_repo_files(repo_id)
        ignore = IGNORE + (["*.bin", "*.pt", "*.pth"] if any(f.endswith(".safetensors") for f in files) else [])
        folder = snapshot_download(repo_id, ignore_patterns=ignore, etag_timeout=10)
        marker = _marker(repo_id)
        marker.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(marker, json.dumps({"repo_id": repo_id, "folder": str(folder)}))
        with _LOCK:
            _STATE.pop(repo_id, None)
    except Exception as exc:  # noqa: BLE001 - reported to the next request, which may try again
        first = str(exc).splitlines()[0][:160] if str(exc) else ""
        with _LOCK:
            _STATE[repo_id] = (f"{type(exc).__name__}: {first}", time.monotonic())


def local_copy(repo_id: str) -> Path:
    """The local folder of Hub model `repo_id`, or `XltError` while (or after failing) fetching it."""
    from ..settings import hub_offline

    folder = _snapshot(repo_id) if _marker(repo_id).is_file() else None
    if folder is not None:
        return folder
    if hub_offline():
        raise XltError(f"{repo_id!r} is not downloaded and the Hub is off (HF_HUB_OFFLINE)")
    with _LOCK:
        state = _STATE.get(repo_id, ("", 0.0))
        if state is None:
            raise XltError(f"{repo_id!r} is still downloading from the Hub; ask again in a minute")
        failure, when = state
        if failure and time.monotonic() - when < RETRY_AFTER:
            raise XltError(f"{repo_id!r} could not be downloaded from the Hub ({failure}); it is tried again "
                           f"{RETRY_AFTER:.0f} s after a failure")
        _STATE[repo_id] = None
    threading.Thread(target=_download, args=(repo_id,), name=f"xlt-hub-fetch-{repo_id}", daemon=True).start()
    raise XltError(f"{repo_id!r} is downloading from the Hub in the background; ask again in a minute")
