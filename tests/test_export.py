"""Exporting a classifier as a transformers sequence-classification folder (tiny random models)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xlt.errors import XltError

TEXTS = ["I love it, best purchase ever!", "Das ist absolut schrecklich.", "meh",
         "  ¿Qué tal?   muy bien", "今天天气很好"]


def tiny_classifier(folder, model_dir, finetune: str, pooling: str, prefix: str, normalize: bool = False):
    """A saved xlt classifier on the tiny BERT with random (non-zero) LoRA weights and head."""
    from transformers import AutoTokenizer

    from xlt.config import TrainConfig
    from xlt.models.loading import ClassifierInfo, save_classifier
    from xlt.models.registry import resolve_model
    from xlt.training import build_classifier

    torch.manual_seed(1)
    model = build_classifier(resolve_model(str(model_dir)), 3, TrainConfig(finetune=finetune))
    model.pooling, model.normalize = pooling, normalize
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name or name.startswith("head."):
                param.normal_(std=0.5)
            elif finetune == "full" and "embeddings" not in name:  # texts' first tokens differ after the encoder
                param.add_(torch.randn_like(param), alpha=0.5)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    info = ClassifierInfo(base_model=str(model_dir), task="sentiment", label_names=["negative", "neutral", "positive"],
                          text_fields=["text"], pooling=pooling, text_prefix=prefix, max_length=32, finetune=finetune,
                          normalize=normalize)
    return save_classifier(model, tokenizer, info, folder)


@pytest.mark.parametrize("finetune, pooling, prefix, normalize", [
    ("lora", "mean", "query: ", False), ("full", "cls", "", True),
])
def test_exported_logits_give_the_predictors_probabilities(tmp_path, tiny_model_dir, finetune, pooling, prefix,
                                                           normalize):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from xlt.models.export import export_classifier
    from xlt.predict import Predictor

    folder = tiny_classifier(tmp_path / "xlt", tiny_model_dir, finetune, pooling, prefix, normalize)
    out = export_classifier(folder, tmp_path / "exported")
    expected = Predictor(folder, int8=False).predict_proba(TEXTS)  # the export is the float32 model

    model = AutoModelForSequenceClassification.from_pretrained(str(out), trust_remote_code=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    assert model.config.id2label == {0: "negative", 1: "neutral", 2: "positive"}
    with torch.inference_mode():  # raw texts, one at a time and padded together: the prefix is in the tokenizer
        alone = np.stack([model(**tokenizer(t, truncation=True, return_tensors="pt")).logits[0].numpy()
                          for t in TEXTS])
        batch = model(**tokenizer(TEXTS, padding=True, truncation=True, return_tensors="pt")).logits.numpy()
    for logits in (alone, batch):
        probs = torch.softmax(torch.from_numpy(logits), dim=-1).numpy()
        np.testing.assert_allclose(probs, expected, atol=1e-5)
    assert np.ptp(alone, axis=0).max() > 1e-2  # the inputs are told apart: not a trivial pass


def test_pipeline_on_the_exported_folder(tmp_path, tiny_model_dir):
    from transformers import pipeline

    from xlt.models.export import export_classifier
    from xlt.predict import Predictor

    folder = tiny_classifier(tmp_path / "xlt", tiny_model_dir, "lora", "mean", "query: ")
    out = export_classifier(folder, tmp_path / "exported")
    pipe = pipeline("text-classification", model=str(out), trust_remote_code=True, top_k=None)
    predictor = Predictor(folder, int8=False)
    got = pipe(TEXTS, truncation=True, batch_size=2)
    scores = np.array([[next(d["score"] for d in row if d["label"] == name) for name in predictor.labels]
                       for row in got])
    np.testing.assert_allclose(scores, predictor.predict_proba(TEXTS), atol=1e-5)


def test_export_refuses_a_used_folder_and_other_kinds(tmp_path, tiny_model_dir):
    import json

    from xlt.models.export import export_classifier

    folder = tiny_classifier(tmp_path / "xlt", tiny_model_dir, "lora", "mean", "query: ")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    with pytest.raises(XltError, match="not empty"):
        export_classifier(folder, tmp_path / "used")
    with pytest.raises(XltError, match="is a file: export into a new folder"):  # was a NotADirectoryError
        export_classifier(folder, tmp_path / "used" / "x")
    info = json.loads((folder / "xlt_classifier.json").read_text())
    (folder / "xlt_classifier.json").write_text(json.dumps({**info, "kind": "translate-test"}))
    with pytest.raises(XltError, match="only encoder"):
        export_classifier(folder, tmp_path / "other")


def test_export_command(tmp_path, tiny_model_dir, capsys):
    from xlt import cli

    folder = tiny_classifier(tmp_path / "xlt", tiny_model_dir, "lora", "mean", "query: ")
    assert cli.main(["export", "--model-dir", str(folder), str(tmp_path / "exported")]) == 0
    assert (tmp_path / "exported" / "config.json").is_file()
    assert str(tmp_path / "exported") in capsys.readouterr().out
    # an empty name and an unknown shipped name: one line each, before anything is read
    assert cli.main(["export", "--model-dir", " ", str(tmp_path / "e1")]) == 2
    assert "choose a model" in capsys.readouterr().err
    assert cli.main(["export", "--model-dir", "nosuch", str(tmp_path / "e2")]) == 2
    assert "no shipped predictor" in capsys.readouterr().err and not (tmp_path / "e2").exists()
