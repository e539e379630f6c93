"""Who may do what on a public Space: training and accepting submissions are the owner's.

Locally (no `SPACE_ID`) everything is open, as it always was. On a Space (or with
`XLT_OAUTH=1`, to try the same rules elsewhere) visitors sign in with Hugging Face; only the
Space's owner (`SPACE_AUTHOR_NAME`, set by Spaces, or `XLT_SPACE_OWNER`), members of an owning
organisation, and the users in `XLT_ALLOWED_USERS` may launch, cancel or resume jobs and accept
submitted records. `XLT_OPEN_TRAINING=1` opens single training runs to every signed-in visitor (the
owner's choice), within limits: the registry's models and the Space's Hub models only, at most
`VISITOR_ACTIVE_JOBS` of theirs queued or running at once, each stopped after
`XLT_VISITOR_MAX_MINUTES` of running (default 60, resumes included), control of their own jobs only,
and their records kept as submitted, unverified (never pushed with the Space's token).

`profile` is whatever Gradio injects for a `gr.OAuthProfile | None` parameter: None for an
anonymous visitor, else a dict of the user's OpenID claims (`preferred_username`, `orgs`, ...).
"""

from __future__ import annotations

import os

TRUE = {"1", "true", "yes", "on"}
VISITOR_ACTIVE_JOBS = 2  # with open training: a visitor's jobs queued or running at once
VISITOR_MAX_MINUTES = 60.0  # with open training: a visitor's job runs at most this long, over all its attempts


def on_space() -> bool:
    return bool(os.environ.get("SPACE_ID"))


def sign_in_required() -> bool:
    """Whether the owner-only rules apply (a Space, or `XLT_OAUTH=1`: for trying the rules locally only, as
    Gradio mocks the login off a Space)."""
    return on_space() or os.environ.get("XLT_OAUTH", "").strip().lower() in TRUE


def training_open_to_all() -> bool:
    return os.environ.get("XLT_OPEN_TRAINING", "").strip().lower() in TRUE


def visitor_time_limit_s() -> float:
    """How long one visitor job may run, in seconds (`XLT_VISITOR_MAX_MINUTES`, default 60): the runner stops it
    there, so a visitor cannot hold the GPU with a run of a thousand epochs."""
    raw = os.environ.get("XLT_VISITOR_MAX_MINUTES", "")
    try:
        minutes = float(raw) if raw.strip() else VISITOR_MAX_MINUTES
    except ValueError:
        minutes = VISITOR_MAX_MINUTES
    return 60.0 * (minutes if minutes > 0 and minutes != float("inf") else VISITOR_MAX_MINUTES)


def owners() -> set[str]:
    names = {os.environ.get("SPACE_AUTHOR_NAME", ""), os.environ.get("XLT_SPACE_OWNER", "")}
    names |= set(os.environ.get("XLT_ALLOWED_USERS", "").split(","))
    return {n.strip().lower() for n in names if n and n.strip()}


def username(profile) -> str | None:
    """The Hugging Face username of a signed-in visitor, None when anonymous."""
    if profile is None:
        return None
    name = getattr(profile, "username", None)
    if name is None and isinstance(profile, dict):
        name = profile.get("preferred_username")
    return str(name) if name else None


def _orgs(profile) -> set[str]:
    orgs = profile.get("orgs", []) if isinstance(profile, dict) else []
    out = set()
    for org in orgs or []:
        name = org.get("preferred_username") if isinstance(org, dict) else None  # never the display name
        if name:
            out.add(str(name).lower())
    return out


def is_owner(profile) -> bool:
    """The owner, an allow-listed user, or a member of the owning organisation (always true locally)."""
    if not sign_in_required():
        return True
    user = username(profile)
    if user is None:
        return False
    allowed = owners()
    return user.lower() in allowed or bool(_orgs(profile) & allowed)


def training_refusal(profile) -> str | None:
    """None when `profile` may launch, cancel and resume jobs; else the reason, for the page."""
    if not sign_in_required() or is_owner(profile) or (training_open_to_all() and username(profile)):
        return None
    if username(profile) is None:  # anonymous visitors share one identity: none may control any job
        return ("Training runs on the Space owner's hardware: sign in with Hugging Face (button above) "
                "as the owner or an allowed user. Visitors can watch the jobs list.")
    return (f"{username(profile)} is not allowed to train on this Space: only its owner and the users in "
            "XLT_ALLOWED_USERS can (the owner can open training with XLT_OPEN_TRAINING=1).")
