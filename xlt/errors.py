"""The one exception type users of xlt can hit, and the one way error text is made safe to show."""

from __future__ import annotations

import os


class XltError(Exception):
    """A problem the user can fix: bad input, missing data, unknown names.

    The message says what went wrong and what to do. The CLI prints it as one
    line and exits non-zero; the app shows it in the page.
    """


def mask_token(text: str, *secrets: str | None) -> str:
    """`text` with the HF token of the environment (and any other `secrets`, a visitor's OAuth token) replaced by
    `***`: logs, job errors and Hub failures are public on a Space, and libraries put tokens in their messages."""
    for secret in (os.environ.get("HF_TOKEN"), *secrets):
        if secret and secret.strip():  # a blank value would mask every space
            text = text.replace(secret, "***")
    return text


def redact(exc: BaseException, *secrets: str | None, limit: int = 200) -> str:
    """`Type: first line` of an error, tokens masked before it is cut to `limit` characters (cut first, a token
    split at the cut would no longer match and half of it would show)."""
    text = mask_token(str(exc), *secrets)
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first[:limit]}"
