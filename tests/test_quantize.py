"""int8 prediction (`XLT_INT8` / `Predictor(int8=...)`) on a tiny random classifier."""

from __future__ import annotations

import numpy as np
from torch import nn

from tests.test_export import TEXTS, tiny_classifier


def test_int8_quantises_the_widening_layers_and_keeps_the_answers_close(tmp_path, tiny_model_dir, monkeypatch):
    from torch.ao.nn.quantized.dynamic import Linear as Int8Linear

    from xlt.predict import Predictor

    folder = tiny_classifier(tmp_path / "xlt", tiny_model_dir, "lora", "mean", "query: ")
    fp32 = Predictor(folder, int8=False)
    monkeypatch.setenv("XLT_INT8", "1")
    int8 = Predictor(folder)  # the environment's default
    assert int8.int8 and not fp32.int8
    layers = dict(int8.model.named_modules())
    assert isinstance(layers["head"], nn.Linear)  # narrowing layers (head, down-projections) stay float32
    assert isinstance(layers["encoder.encoder.layer.0.output.dense"], nn.Linear)
    assert isinstance(layers["encoder.encoder.layer.0.intermediate.dense"], Int8Linear)
    assert isinstance(layers["encoder.encoder.layer.0.attention.self.query"], Int8Linear)
    np.testing.assert_allclose(int8.predict_proba(TEXTS), fp32.predict_proba(TEXTS), atol=0.05)
    assert int8.predict(TEXTS[0]).label in fp32.labels


def test_int8_by_default_float32_when_asked_and_for_evaluation(tmp_path, tiny_model_dir, monkeypatch):
    from xlt.models.quantize import int8_default, quantize_int8
    from xlt.predict import load_predictor

    monkeypatch.delenv("XLT_INT8", raising=False)
    assert int8_default() is False  # float32 unless asked: int8 moved the default sentiment model by 0.6 points
    monkeypatch.setenv("XLT_INT8", "1")
    assert int8_default() is True
    monkeypatch.setenv("XLT_INT8", "0")
    assert int8_default() is False
    assert quantize_int8(None) is False  # artifacts without a torch model (translate-test) are left alone
    folder = str(tiny_classifier(tmp_path / "xlt", tiny_model_dir, "lora", "mean", "query: "))
    assert not load_predictor(folder).int8
    assert load_predictor(folder, int8=True).int8  # cached apart from the float32 one
    assert not load_predictor(folder).int8


def test_evaluate_scores_float32_unless_asked(tmp_path, tiny_model_dir, monkeypatch, capsys):
    from xlt import cli, predict

    monkeypatch.setenv("XLT_INT8", "1")  # even where Predict serves int8, scores are of the model as trained
    folder = str(tiny_classifier(tmp_path / "xlt", tiny_model_dir, "lora", "mean", "query: "))
    loaded, original = [], predict.load_predictor

    def recording(name, int8=None):
        predictor = original(name, int8)
        loaded.append(predictor.int8)
        return predictor

    monkeypatch.setattr(predict, "load_predictor", recording)
    for flags in ([], ["--int8"]):
        argv = ["evaluate", "--model-dir", folder, "--languages", "en", "--max-samples", "20", "--json", *flags]
        assert cli.main(argv) == 0
    assert loaded == [False, True]
    capsys.readouterr()


def test_evaluate_reports_the_in_language_average_when_every_language_was_trained_on(tmp_path, tiny_model_dir,
                                                                                       capsys):
    """A multi-source model on all the languages has no target language; `xlt evaluate` still gives an average."""
    import json as json_module

    from xlt import cli

    for trained in (["en", "de"], ["en"]):
        folder = tiny_classifier(tmp_path / "-".join(trained), tiny_model_dir, "lora", "mean", "query: ")
        info = json_module.loads((folder / "xlt_classifier.json").read_text())
        (folder / "xlt_classifier.json").write_text(json_module.dumps({**info, "languages_trained": trained}))
        assert cli.main(["evaluate", "--model-dir", str(folder), "--languages", "en,de", "--max-samples", "12"]) == 0
        out = capsys.readouterr().out
        f1 = {line.split()[0]: float(line.split()[2]) for line in out.splitlines() if line.startswith(("en ", "de "))}
        if trained == ["en"]:
            assert f"target average (macro_f1, 1 languages): {f1['de']:.4f}" in out
        else:
            line = "no target language: the model trained on all 2 evaluated languages; their average (macro_f1): "
            assert line in out
            assert abs(float(out.split(line)[1].split()[0]) - (f1["en"] + f1["de"]) / 2) <= 1e-4
