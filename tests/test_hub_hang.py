"""A Hub that accepts connections and never answers cannot hang the app (loopback only, bounded)."""

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.app_server import served_app
from xlt.results.store import ResultsStore


@pytest.fixture
def hanging_hub(monkeypatch):
    """A loopback server that accepts every connection and never sends a byte; stops with the test."""
    import huggingface_hub.constants as constants

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(256)
    server.settimeout(0.2)
    stop, held = threading.Event(), []

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setenv("XLT_HUB_TIMEOUT", "2")
    monkeypatch.setenv("XLT_RESULTS_REPO", "someone/xlt-results")
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token_value")
    yield url
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


def test_pull_and_push_against_a_hanging_hub_return_within_the_deadline(hanging_hub, tmp_path):
    store = ResultsStore(home=tmp_path, committed_dir=tmp_path / "none")
    start = time.monotonic()
    status = store.pull()
    assert time.monotonic() - start < 6
    assert "not answering since" in status and "no copy pulled yet" in status
    assert "hf_secret_token_value" not in status
    assert "not answering since" in store.hub_status()
    # a second store (an app restart) still knows since when
    assert "not answering since" in ResultsStore(home=tmp_path, committed_dir=tmp_path / "none").hub_status()


def test_predicting_with_a_hub_model_gives_up_within_the_deadline_when_the_hub_hangs(hanging_hub, tmp_path,
                                                                                    monkeypatch):
    """`xlt predict --model-dir someone/model` kept retrying a hanging Hub for minutes (XLT_HUB_TIMEOUT had no
    effect on reading the model's config)."""
    from xlt.errors import XltError
    from xlt.models.hub_classifier import read_hub_config

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    start = time.monotonic()
    with pytest.raises(XltError, match="did not answer within 2 s"):
        read_hub_config("someone/model")
    assert time.monotonic() - start < 6


def test_app_serves_the_leaderboard_and_predictions_while_the_hub_hangs(hanging_hub, tmp_path):
    from gradio_client import Client

    start = time.monotonic()
    with served_app(tmp_path / "home", per_client=128) as (demo, url):  # 110 visitors, one loopback address
        client = Client(url, verbose=False)
        table = client.predict("", "", "", "", "", api_name="/leaderboard")
        assert time.monotonic() - start < 60  # start-up and first render do not wait on the Hub
        rows = table["data"] if isinstance(table, dict) else table
        assert len(rows) >= 1  # the committed records

        def refresh():
            t0 = time.monotonic()
            out = client.predict("All", "All", "All", "All", "", False, False, False, api_name="/refresh")
            return time.monotonic() - t0, out

        def predict():
            t0 = time.monotonic()
            label, note = client.predict("I love it, best purchase ever!", "sentiment", api_name="/sentiment")
            return time.monotonic() - t0, label

        with ThreadPoolExecutor(max_workers=40) as pool:
            refreshes = [pool.submit(refresh) for _ in range(100)]
            time.sleep(0.5)
            predictions = [pool.submit(predict) for _ in range(10)]
            answers = [f.result(timeout=120) for f in predictions]
            statuses = [f.result(timeout=120) for f in refreshes]
        assert all(seconds < 60 for seconds, _ in answers)
        assert all((label.get("label") if isinstance(label, dict) else None) == "positive" for _, label in answers)
        status_texts = [out[4] for _, out in statuses]  # (4 filter dropdowns, status, table, ...); no State
        assert all("not answering" in s or "Pulling" in s or "already running" in s for s in status_texts)
        assert not any("hf_secret_token_value" in s for s in status_texts)


def test_no_new_hub_call_starts_while_an_earlier_one_is_still_stuck(tmp_path, monkeypatch):
    """A call past its deadline keeps running in its thread: every later sync started another beside it (a
    second download into hub-results/, a second push of one outbox file, a thread and socket each time)."""
    from xlt.results.store import HubTimeout

    monkeypatch.setenv("XLT_HUB_TIMEOUT", "1")
    store = ResultsStore(home=tmp_path, committed_dir=tmp_path / "none")
    release, calls = threading.Event(), []

    def hangs():
        calls.append("hangs")
        release.wait(30)

    with pytest.raises(HubTimeout, match="did not answer within 1 s"):
        store._bounded(hangs, "the results repo")
    start = time.monotonic()
    with pytest.raises(HubTimeout, match="has not answered an earlier call yet"):
        store._bounded(lambda: calls.append("second"), "the results repo")
    assert time.monotonic() - start < 0.5 and calls == ["hangs"]  # refused at once, never started
    worker, since = store._stuck
    store._stuck = (worker, since - 601)  # one that never returns holds calls back for ten minutes at most
    assert store._bounded(lambda: calls.append("later") or "ok", "the results repo") == "ok"
    store._stuck = (worker, since)
    release.set()
    worker.join(5)
    assert store._bounded(lambda: calls.append("third") or "ok", "the results repo") == "ok"
    assert calls == ["hangs", "later", "third"]
