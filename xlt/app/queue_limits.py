"""The app's Gradio queue, with a cap per visitor.

Gradio's queue has one size limit for all events together. Without a cap per visitor, one client could post
a thousand 50-label zero-shot requests and fill it: every other visitor, the timers and the owner's Cancel
would then get "Queue is full". Here each client (by IP address) may have at most
`XLT_MAX_WAITING_PER_CLIENT` events waiting (default 64: a person using the page has a handful at most, a
classroom behind one NAT address a few dozen).

Behind a proxy (a Space), the client's address is the `X-Forwarded-For` entry the proxy added: the one
`XLT_PROXY_HOPS` places from the end (default 1 on a Space, 0 elsewhere: the connection's own address).
Entries before it are whatever the client sent, so they never count. The default assumes the Space's proxy
chain adds one entry; the app logs (once) how many entries requests carry, to check it against: with too
many hops every visitor shares one cap, with too few a client can pick its own key. A per-address cap slows a
flood from one address; a client with many addresses can still fill the queue.
"""

from __future__ import annotations

import logging
import os

from ..access import on_space
from ..settings import env_int

QUEUE_SIZE = 1024  # all waiting events together (Gradio's own limit)
DEFAULT_PER_CLIENT = 64


def client_key(request) -> str:
    """The address a request came from, as far as this server can trust it."""
    hops = env_int("XLT_PROXY_HOPS", 1 if on_space() else 0, 0)
    headers = getattr(request, "headers", None) or {}
    # every X-Forwarded-For line, in order (a proxy may add its own line after the one the client sent)
    lines = headers.getlist("x-forwarded-for") if hasattr(headers, "getlist") else [headers.get("x-forwarded-for")]
    forwarded = [p.strip() for line in lines for p in str(line or "").split(",") if p.strip()]
    _note_chain(len(forwarded))
    if hops and forwarded:
        return forwarded[-min(hops, len(forwarded))]
    client = getattr(request, "client", None)
    return str(getattr(client, "host", "") or "unknown")


def _client_of(request) -> str:
    """`client_key`, worked out once per request and kept on its `state`: each push counts the client's waiting
    events, and would otherwise parse every waiting event's headers again."""
    state = getattr(request, "state", None)
    key = getattr(state, "xlt_client", None)
    if key is None:
        key = client_key(request)
        if state is not None:
            state.xlt_client = key
    return key


_SEEN_CHAINS: set[int] = set()


def _note_chain(entries: int) -> None:
    """Log once per length how many X-Forwarded-For entries requests carry (never the addresses): what the owner
    needs to check `XLT_PROXY_HOPS` against on their Space."""
    if entries not in _SEEN_CHAINS and len(_SEEN_CHAINS) < 8:
        _SEEN_CHAINS.add(entries)
        logging.getLogger(__name__).info("requests arrive with %d X-Forwarded-For entries (XLT_PROXY_HOPS is "
                                         "%s)", entries, os.environ.get("XLT_PROXY_HOPS") or "the default")


def configure_queue(demo, max_size: int = QUEUE_SIZE, per_client: int | None = None):
    """`demo.queue(...)` as the app serves it, with at most `per_client` (default `XLT_MAX_WAITING_PER_CLIENT`)
    waiting events per client. Returns `demo`."""
    demo.queue(default_concurrency_limit=8, max_size=max_size)
    limit_waiting_per_client(demo, per_client)
    return demo


def limit_waiting_per_client(demo, limit: int | None = None) -> None:
    """Refuse a client's new event while `limit` of its events already wait in the queue (the same reply as a
    full queue, with a message that says why)."""
    limit = limit if limit is not None else env_int("XLT_MAX_WAITING_PER_CLIENT", DEFAULT_PER_CLIENT, 1)
    queue = getattr(demo, "_queue", None)
    if queue is None or not hasattr(queue, "push") or not hasattr(queue, "event_queue_per_concurrency_id"):
        # a Gradio whose queue changed shape: the tests fail here rather than the Space running without a cap
        raise RuntimeError("Gradio's queue has no push()/event_queue_per_concurrency_id to limit per client")
    original = queue.push

    async def push(body, request, username):
        key = _client_of(request)
        waiting = sum(1 for events in list(queue.event_queue_per_concurrency_id.values())
                      for event in list(events.queue) if _client_of(event.request) == key)
        if waiting >= limit:
            return (False, f"You already have {waiting} requests waiting (at most {limit} per visitor): "
                           "wait for their answers before sending more.", "queue_full")
        return await original(body, request, username)

    queue.push = push
