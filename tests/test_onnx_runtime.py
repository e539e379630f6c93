"""CPU prediction through ONNX Runtime (`XLT_ONNX` / `Predictor(onnx=...)`): the torch model's probabilities,
exported once per weights, and torch again wherever that cannot be done."""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_export import TEXTS, tiny_classifier


@pytest.mark.parametrize("finetune, pooling, prefix, normalize", [
    ("lora", "mean", "query: ", False), ("full", "cls", "", True),
])
def test_onnx_runtime_gives_the_torch_models_probabilities(tmp_path, tiny_model_dir, monkeypatch, finetune, pooling,
                                                           prefix, normalize):
    from xlt.models.onnx_runtime import OnnxClassifier
    from xlt.predict import Predictor

    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))
    folder = tiny_classifier(tmp_path / "xlt", tiny_model_dir, finetune, pooling, prefix, normalize)
    torch_form, served = Predictor(folder, onnx=False), Predictor(folder, onnx=True)
    assert served.onnx and not torch_form.onnx
    assert isinstance(served.model, OnnxClassifier) and served.artifact.model is served.model  # torch weights gone
    # lengths 1..30 tokens in batches of 2: every batch pads to its own length (dynamic axes)
    texts = TEXTS + ["word " * n for n in range(1, 30, 3)]
    np.testing.assert_allclose(served.predict_proba(texts, batch_size=2), torch_form.predict_proba(texts), atol=1e-5)
    assert [p.label for p in served.predict(texts)] == [p.label for p in torch_form.predict(texts)]
    assert served.predict("a").label in served.labels  # one token: the shortest batch
    assert len(list((tmp_path / "cache" / "onnx").glob("*.onnx"))) == 1


def test_a_pair_classifier_and_the_export_cache(tmp_path, tiny_model_dir, monkeypatch, caplog):
    import json
    import shutil

    from xlt.models import onnx_runtime
    from xlt.predict import Predictor

    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))
    folder = tiny_classifier(tmp_path / "xlt", tiny_model_dir, "lora", "mean", "query: ")
    pair = shutil.copytree(folder, tmp_path / "nli")  # the same weights as a pair classifier
    info = json.loads((pair / "xlt_classifier.json").read_text())
    info.update(task="nli", label_names=["entailment", "neutral", "contradiction"],
                text_fields=["premise", "hypothesis"])
    (pair / "xlt_classifier.json").write_text(json.dumps(info))
    torch_form, served = Predictor(pair, onnx=False), Predictor(pair, onnx=True)
    premises, hypotheses = TEXTS, TEXTS[::-1]
    np.testing.assert_allclose(served.predict_proba(premises, hypotheses),
                               torch_form.predict_proba(premises, hypotheses), atol=1e-5)

    def not_again(*_):
        raise AssertionError("exported or loaded again")

    monkeypatch.setattr(onnx_runtime, "export_onnx", not_again)
    monkeypatch.setattr("xlt.predict.load_artifact", not_again)
    again = Predictor(pair, onnx=True)  # the same folder: the cached graph, not the torch model
    assert again.onnx and again.predict_pairs(["a"], ["b"])[0].label in again.labels
    (pair / "head.safetensors").write_bytes((folder / "head.safetensors").read_bytes() + b" ")  # any change
    # a changed folder is not the cached graph's: loaded (here refused) again
    with pytest.raises(AssertionError, match="again"):
        Predictor(pair, onnx=True)
    monkeypatch.undo()
    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(onnx_runtime, "export_onnx", not_again)
    other = tiny_classifier(tmp_path / "other", tiny_model_dir, "full", "cls", "")
    changed = Predictor(other, onnx=True)  # other weights, not exported yet: torch serves it, with a warning
    assert not changed.onnx and changed.predict(TEXTS[0]).label in changed.labels
    assert "predicting with torch" in caplog.text


def test_a_damaged_graph_is_exported_again_and_the_cache_keeps_the_recent_graphs(tmp_path, tiny_model_dir,
                                                                                  monkeypatch, caplog):
    import json

    from xlt.models import onnx_runtime
    from xlt.models.loading import read_classifier_info
    from xlt.predict import Predictor

    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))
    folder = tiny_classifier(tmp_path / "xlt", tiny_model_dir, "lora", "mean", "query: ")
    expected = Predictor(folder, onnx=False).predict_proba(TEXTS)
    graph = onnx_runtime.graph_path(folder, read_classifier_info(folder))
    graph.parent.mkdir(parents=True)
    graph.write_bytes(b"not an onnx graph")  # e.g. a disk that filled up under another version
    served = Predictor(folder, onnx=True)
    assert served.onnx and "exporting it again" in caplog.text
    np.testing.assert_allclose(served.predict_proba(TEXTS), expected, atol=1e-5)
    assert Predictor(folder, onnx=True).onnx  # and the repaired graph serves the next load

    monkeypatch.setenv("XLT_ONNX_GRAPHS", "2")
    others = [tiny_classifier(tmp_path / f"m{i}", tiny_model_dir, "lora", "cls", "") for i in range(2)]
    for i, other in enumerate(others):  # the same weights in another folder: another graph
        info = json.loads((other / "xlt_classifier.json").read_text())
        (other / "xlt_classifier.json").write_text(json.dumps({**info, "max_length": 40 + i}))
        assert Predictor(other, onnx=True).onnx
    kept = sorted(p.name for p in graph.parent.glob("*.onnx"))
    assert len(kept) == 2 and graph.name not in kept  # the least recently used went first


def test_defaults_and_where_onnx_is_not_used(tmp_path, tiny_model_dir, monkeypatch, caplog):
    import builtins

    from xlt.models import onnx_runtime
    from xlt.models.loading import read_classifier_info
    from xlt.predict import Predictor, load_predictor

    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("XLT_ONNX", raising=False)
    assert onnx_runtime.onnx_default() is True  # on wherever onnxruntime and onnx are installed
    monkeypatch.setenv("XLT_ONNX", "0")
    assert onnx_runtime.onnx_default() is False
    real_import = builtins.__import__

    def without_onnxruntime(name, *args, **kwargs):
        if name == "onnxruntime":
            raise ImportError("no onnxruntime")
        return real_import(name, *args, **kwargs)

    monkeypatch.setenv("XLT_ONNX", "1")
    with monkeypatch.context() as m:
        m.setattr(builtins, "__import__", without_onnxruntime)
        onnx_runtime._installed.cache_clear()  # checked once per process
        assert onnx_runtime.onnx_default() is False
    onnx_runtime._installed.cache_clear()
    assert "not installed" in caplog.text
    folder = tiny_classifier(tmp_path / "xlt", tiny_model_dir, "lora", "mean", "query: ")
    assert not Predictor(folder, int8=True, onnx=True).onnx  # int8 stays a torch path
    assert load_predictor(str(folder)).onnx  # the environment's default, cached apart from the torch form
    monkeypatch.setenv("XLT_ONNX", "0")
    assert not load_predictor(str(folder)).onnx
    info = read_classifier_info(folder)
    # not exportable: None, and torch serves it
    assert onnx_runtime.onnx_classifier(object(), None, folder, info, cache=tmp_path / "fresh") is None


@pytest.mark.slow
def test_the_shipped_sentiment_predictor_on_onnx_runtime_answers_as_torch(tmp_path, monkeypatch, data_dir):
    """The real model: the same labels and probabilities to 1e-4 on 200 test tweets in 8 languages."""
    from xlt.data import load_split
    from xlt.predict import Predictor, shipped_predictor_path
    from xlt.tasks import get_task

    task = get_task("sentiment")
    texts = [t for lang in task.languages for t in load_split(task, lang, "test", max_samples=25, seed=0)["text"]]
    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))  # exported here, not an older cached graph
    path = shipped_predictor_path("sentiment")
    torch_form, served = Predictor(path, onnx=False), Predictor(path, onnx=True)
    assert served.onnx
    expected, got = torch_form.predict_proba(texts), served.predict_proba(texts)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert (got.argmax(1) == expected.argmax(1)).all()


def test_the_shipped_predictors_graphs_and_models_are_never_pushed_out_by_other_models(tmp_path, monkeypatch):
    """A visitor cycling through seven job models made Predict reload and re-export (and evict) the shipped
    predictors everyone uses, one request after the other."""
    import os
    import types

    from xlt import predict
    from xlt.models import onnx_runtime

    graphs = []
    for i in range(5):  # oldest first
        graph = tmp_path / f"g{i}.onnx"
        graph.write_bytes(b"x")
        os.utime(graph, (1000 + i, 1000 + i))
        graphs.append(graph)
    monkeypatch.setenv("XLT_ONNX_GRAPHS", "2")
    monkeypatch.setattr(onnx_runtime, "_PINNED", {graphs[0]})  # the shipped predictor's, least recently used
    onnx_runtime._evict(keep=graphs[4])
    assert sorted(p.name for p in tmp_path.glob("*.onnx")) == ["g0.onnx", "g3.onnx", "g4.onnx"]

    monkeypatch.setenv("XLT_MAX_LOADED_MODELS", "2")
    monkeypatch.setattr(predict, "_LOADED", type(predict._LOADED)())
    monkeypatch.setattr(predict, "onnx_default", lambda: False)
    monkeypatch.setattr(predict, "_load_uncached", lambda name, int8: types.SimpleNamespace(
        path=predict.SHIPPED_DIR / name if name == "sentiment" else tmp_path / name))
    for job in tmp_path.glob("*.onnx"):
        job.with_suffix("").mkdir()
    predict.load_predictor("sentiment")
    for name in ("g0", "g3", "g4"):
        predict.load_predictor(str(tmp_path / name))
    assert "sentiment" in predict._LOADED and len(predict._LOADED) == 2
