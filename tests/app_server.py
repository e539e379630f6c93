"""Serve the real app on loopback for client and browser tests."""

from __future__ import annotations

import socket
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served_app(home, per_client: int | None = None, **build_kwargs):
    """`per_client`: the queue's cap per client address (tests that stand in for many visitors send everything
    from this one loopback address)."""
    from xlt.app.queue_limits import configure_queue
    from xlt.app.ui import APP_CSS, build_app

    demo = configure_queue(build_app(home=home, **build_kwargs), max_size=128, per_client=per_client)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False,
                css=APP_CSS)
    try:
        yield demo, f"http://127.0.0.1:{port}/"
    finally:
        demo.xlt_runner.stop()
        demo.xlt_results.stop()  # its sync schedule would otherwise call the Hub during later tests
        demo.close()
