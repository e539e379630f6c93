"""The app served on loopback, driven through gradio_client as a remote user would."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.app_server import served_app


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    # the 200-visitor test sends them all from this loopback address: the per-visitor cap would refuse most
    with served_app(tmp_path_factory.mktemp("app-home"), per_client=256) as (demo, url):
        from gradio_client import Client

        yield demo, Client(url, verbose=False)


def top_label(label_output) -> str:
    if isinstance(label_output, dict) and "label" in label_output:
        return label_output["label"]
    return max(label_output, key=label_output.get)


def test_predict_endpoints(app):
    _, client = app
    label, note = client.predict("Ce film était une perte de temps.", "sentiment", api_name="/sentiment")
    assert top_label(label) == "negative" and "fr" in note
    label, _ = client.predict("Ein Mann spielt im Park Gitarre.", "Der Mann schläft zu Hause.", "nli",
                              api_name="/nli")
    assert top_label(label) == "contradiction"
    label, _ = client.predict("El Real Madrid ganó la final de la Liga de Campeones.", "sports, politics, economy",
                              False, "This example is {}.", "nli", api_name="/zero_shot")
    assert top_label(label) == "sports"
    _, note = client.predict("", "sentiment", api_name="/sentiment")
    assert "empty" in note  # bad input: a message, and the app keeps serving


def test_two_hundred_concurrent_predictions_all_answer_correctly(app):
    """200 requests really in flight at once (200 client workers) share batched forward passes."""
    _, client = app
    texts = [("I love it, best purchase ever!", "positive"), ("Das ist absolut schrecklich.", "negative")] * 100
    with ThreadPoolExecutor(max_workers=200) as pool:
        futures = [pool.submit(client.predict, text, "sentiment", api_name="/sentiment") for text, _ in texts]
        answers = [f.result(timeout=300) for f in futures]
    assert [top_label(label) for label, _ in answers] == [expected for _, expected in texts]


@pytest.mark.slow
def test_tiny_finetune_job_to_completion_then_on_leaderboard(app, tiny_model_dir):
    demo, client = app
    import json

    from xlt.config import ExperimentConfig, TrainConfig

    config = ExperimentConfig(task="sentiment", model=str(tiny_model_dir), target_languages=["en", "fr"],
                              train=TrainConfig(finetune="lora", learning_rate=1e-3, epochs=1, batch_size=8,
                                                max_length=32, seed=7, lora_r=4, max_train_samples=24,
                                                max_eval_samples=8))
    message, _ = client.predict(json.dumps(config.to_dict()), False, api_name="/launch")
    assert "Job" in message, message
    job_id = message.split("`")[1]
    deadline = time.time() + 300
    while time.time() < deadline:
        detail, _, _ = client.predict(job_id, api_name="/job_detail")
        if "completed" in detail or "failed" in detail:
            break
        time.sleep(2)
    assert "completed" in detail, detail
    table = client.predict("sentiment", "zero-shot", str(tiny_model_dir), "All", "", api_name="/leaderboard")
    rows = table["data"] if isinstance(table, dict) else table
    assert len(rows) == 1
    # the trained model is usable for prediction
    model_dir = demo.xlt_jobs.get(job_id).model_dir
    label, note = client.predict("What a great day", model_dir, api_name="/sentiment")
    assert "Error" not in note and top_label(label) in ("negative", "neutral", "positive")
