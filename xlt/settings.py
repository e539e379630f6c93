"""Locations and switches read from the environment (and a `.env` file)."""

from __future__ import annotations

import os
from pathlib import Path

try:  # python-dotenv is a dependency, but settings must import without it
    from dotenv import load_dotenv

    load_dotenv(override=False)
except ImportError:  # pragma: no cover
    pass


def _user_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))


def _folder(variable: str, default: Path) -> Path:
    """The folder a variable names (created by whoever writes into it); a file there is refused."""
    path = Path(os.environ.get(variable) or default).expanduser()
    if path.exists() and not path.is_dir():
        from .errors import XltError

        raise XltError(f"{path} ({variable}) is a file, not a folder: set {variable} to a folder "
                       "(it is created when missing)")
    return path


def cache_dir() -> Path:
    """Where converted models live (`XLT_CACHE`, default `~/.cache/xlt`)."""
    return _folder("XLT_CACHE", _user_cache() / "xlt")


def home_dir() -> Path:
    """The app's working home: jobs, new records, outbox (`XLT_HOME`)."""
    return _folder("XLT_HOME", Path.home() / ".xlt")


def data_dir() -> Path | None:
    """Local data laid out like `shared/data` (`XLT_DATA_DIR`), or None for the Hub.

    Unset, a `shared/data` folder beside the checkout is used when there is one (a developer's
    machine); set but empty means the Hub.
    """
    value = os.environ.get("XLT_DATA_DIR")
    if value is None:
        beside = repo_root().parent / "shared" / "data"
        return beside if beside.is_dir() else None
    return Path(value).expanduser() if value.strip() else None


def repo_root() -> Path:
    """The checkout that holds `xlt/`, `leaderboard/` and the shipped predictors."""
    return Path(__file__).resolve().parent.parent


def env_int(name: str, default: int, lowest: int) -> int:
    """An integer setting from the environment: `default` when unset, blank or not a number, never below
    `lowest`."""
    try:
        return max(lowest, int(os.environ.get(name, default)))
    except ValueError:
        return default


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}
