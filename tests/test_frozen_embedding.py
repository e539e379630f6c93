"""frozen-embedding: a logistic regression on frozen embeddings, saved as a head on the base encoder."""

import json

import numpy as np
import pytest

from xlt import cli
from xlt.results.records import read_records


def argv(model_dir, tmp_path, *extra):
    return ["train", "--task", "sentiment", "--method", "frozen-embedding", "--model", str(model_dir), "--source",
            "en", "--targets", "en,de", "--max-train-samples", "60", "--max-eval-samples", "12", "--max-length", "32",
            "--results-dir", str(tmp_path / "results"), "--output-dir", str(tmp_path / "run"), *extra]


def test_fit_save_reload_predict(tiny_model_dir, tmp_path, capsys):
    from xlt.models.artifacts import load_artifact
    from xlt.models.loading import load_encoder
    from xlt.models.registry import resolve_model
    from xlt.predict import Predictor

    assert cli.main(argv(tiny_model_dir, tmp_path, "--save-model", str(tmp_path / "m"), "--opt-c", "4")) == 0, \
        capsys.readouterr().err
    (record,), errors = read_records(tmp_path / "results")
    assert not errors and record["method"] == "frozen-embedding"
    training = record["training"]
    assert training["train_steps"] == 0 and training["linear_probe_examples"] == 60
    assert training["trainable_parameters"] == 16 * 3 + 3  # the head only: hidden 16, three labels
    assert record["config"]["method_options"] == {"c": 4.0}
    # the folder is the head and its description: the encoder is the base model's, untouched
    saved = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert "encoder" not in saved and "adapter" not in saved
    info = json.loads((tmp_path / "m" / "xlt_classifier.json").read_text())
    assert info["finetune"] == "none" and info["normalize"] is True and info["method"] == "frozen-embedding"
    artifact = load_artifact(tmp_path / "m")
    base = load_encoder(resolve_model(str(tiny_model_dir)))
    for name, weight in base.state_dict().items():  # the folder holds no encoder: the base model is loaded
        assert np.array_equal(weight.numpy(), artifact.model.encoder.state_dict()[name].numpy()), name
    texts = ["I love this", "Das ist schlecht", "meh"]
    probs = artifact.predict_proba(texts)
    assert probs.shape == (3, 3) and np.allclose(probs.sum(1), 1.0, atol=1e-5)
    out = Predictor(tmp_path / "m").predict(texts)
    assert np.allclose([list(p.probabilities.values()) for p in out], probs, atol=1e-4)
    # the record's command is this experiment again
    assert cli.config_from_command(record["command"]).fingerprint() == record["config_fingerprint"]


def test_the_fit_is_the_regression_it_says(tiny_model_dir, tmp_path):
    """Against scikit-learn's own multinomial logistic regression on the same unit-length embeddings."""
    from sklearn.linear_model import LogisticRegression

    from xlt.config import ExperimentConfig, TrainConfig
    from xlt.data import texts_of
    from xlt.experiment import validate
    from xlt.inference import pooled_features

    config = ExperimentConfig(task="sentiment", method="frozen-embedding", model=str(tiny_model_dir),
                              source_languages=["en"], method_options={"c": 2.0},
                              train=TrainConfig(max_train_samples=80, max_length=32))
    validated = validate(config)
    ctx = validated.context(tmp_path)
    from xlt.jobs import _progress_callback

    ctx.callbacks = [_progress_callback(tmp_path)]  # a job's progress file: no Trainer runs, the phase still moves
    method = validated.method
    data = method.training_data(ctx)
    trained = method.fit(ctx, data)
    assert json.loads((tmp_path / "progress.json").read_text())["phase"] == "evaluating"
    x = pooled_features(trained.model, trained.tokenizer, *texts_of(ctx.task, data), prefix=ctx.model_spec.text_prefix,
                        max_length=32)
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    reference = LogisticRegression(C=2.0, max_iter=2000, tol=1e-8).fit(x, data["label"])
    ours = trained.model.head.weight.detach().numpy() @ x.T + trained.model.head.bias.detach().numpy()[:, None]
    theirs = reference.decision_function(x).T
    # multinomial logits are defined up to a constant per example: compare the centred ones
    assert np.allclose(ours - ours.mean(0), theirs - theirs.mean(0), atol=2e-2)
    # saved (the head alone) and loaded again, it answers as the model in memory did
    from xlt.models.artifacts import load_artifact

    texts = ["I love this", "Das ist schlecht", "meh"]
    in_memory = trained.predict_proba(texts)
    trained.save(tmp_path / "saved")
    assert np.allclose(load_artifact(tmp_path / "saved").predict_proba(texts), in_memory, atol=1e-5)


@pytest.mark.parametrize("extra, message", [
    (["--opt-c", "0"], "c must be a positive number"), (["--opt-c", "nan"], "c must be float"),
    (["--opt-max-iter", "0"], "max_iter must be in"),
])
def test_bad_options_before_any_work(tiny_model_dir, tmp_path, capsys, extra, message):
    assert cli.main(argv(tiny_model_dir, tmp_path, *extra)) == 2
    assert message in capsys.readouterr().err
