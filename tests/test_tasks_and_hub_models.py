"""Tasks as data (a spec file outside the package) and published sequence classifiers as first-class models."""

import json

import numpy as np
import pytest

from xlt import cli
from xlt.errors import XltError
from xlt.tasks import TASKS

PAIRS = [("A man plays guitar.", "Someone plays an instrument.", "paraphrase"),
         ("The cat sleeps.", "A dog barks loudly.", "different"),
         ("She bought bread.", "Bread was bought by her.", "PARAPHRASE"),
         ("It rains today.", "The stock market fell.", "Different")]


@pytest.fixture
def paraphrase(tmp_path, monkeypatch):
    """A paraphrase task written as a spec file, with word labels and an extra language (eu) in the data."""
    data = tmp_path / "data"
    for split, langs in (("train", ("en",)), ("test", ("en", "de", "eu"))):
        folder = data / "paws" / split
        folder.mkdir(parents=True)
        for lang in langs:
            rows = [{"sentence1": a, "sentence2": b, "label": y} for a, b, y in PAIRS * 3]
            rows.append({"sentence1": None, "sentence2": "no text", "label": 0})  # dropped, not trained on
            (folder / f"{lang}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    spec = tmp_path / "paraphrase.yaml"
    spec.write_text("name: paraphrase\ndescription: are the two sentences paraphrases?\n"
                    "text_fields: [sentence1, sentence2]\nlabel_names: [different, paraphrase]\n"
                    "languages: [en, de]\nlocal_dir: paws\ntrain_split: train\neval_split: test\n")
    monkeypatch.setenv("XLT_DATA_DIR", str(data))
    yield spec
    TASKS.unregister("paraphrase")


def test_a_task_from_a_spec_file_trains_evaluates_and_predicts(paraphrase, tiny_model_dir, tmp_path, capsys):
    from xlt.app import callbacks
    from xlt.results.records import read_records

    argv = ["train", "--task", str(paraphrase), "--model", str(tiny_model_dir), "--targets", "en,de,eu",
            "--results-dir", str(tmp_path / "r"), "--save-model", str(tmp_path / "m"), "--output-dir",
            str(tmp_path / "run"), "--epochs", "1", "--batch-size", "4", "--max-length", "32", "--finetune", "full"]
    assert cli.main(argv) == 0, capsys.readouterr().err
    (record,), _ = read_records(tmp_path / "r")
    assert record["task"] == "paraphrase" and record["outside_task_languages"] == ["eu"]
    assert record["training"]["train_examples"] == 12  # word labels mapped, the row without text left out
    capsys.readouterr()
    # the trained model carries its spec: it loads where the task was never registered
    TASKS.unregister("paraphrase")
    from xlt.predict import _LOADED

    _LOADED.clear()
    assert cli.main(["predict", "--model-dir", str(tmp_path / "m"), "--premise", "A man plays guitar.",
                     "--hypothesis", "Someone plays music.", "--json"]) == 0
    (answer,) = json.loads(capsys.readouterr().out)
    assert set(answer["probabilities"]) == {"different", "paraphrase"}
    assert cli.main(["evaluate", "--model-dir", str(tmp_path / "m"), "--languages", "eu", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metrics"]["eu"]["n"] == 12 and out["outside_task_languages"] == ["eu"]
    # the Predict tab's any-model sub-tab takes it (a folder under an allowed root)
    labels, notes = callbacks.predict_any_batch(["A man plays guitar."], ["Someone plays music."],
                                                [str(tmp_path / "m")], roots=[tmp_path])
    assert set(labels[0]) == {"different", "paraphrase"} and "paraphrase" in notes[0]


SPEC = "name: x\ntext_fields: [a]\nlabel_names: [p, q]\nlanguages: [en]\n"


@pytest.mark.parametrize("bad, message", [
    ("name: x\ntext_fields: [a]\nlabel_names: [p]\nlanguages: [en]\n", "at least two labels"),
    ("name: ../x\ntext_fields: [a]\nlabel_names: [p, q]\nlanguages: [en]\n", "needs a 'name'"),
    ("name: x\ntext_fields: [a]\nlabel_names: [p, q]\nlanguages: [en]\ncolour: red\n", "unknown task spec field"),
    ("[1, 2", "cannot read task file"),
    # numbers where names go were tracebacks where the field is used (a split, a folder)
    (SPEC + "train_split: 7\n", "'train_split' must be a string"),
    (SPEC + "local_dir: 5\n", "'local_dir' must be a string"),
    (SPEC + "hub_configs: [a]\n", "'hub_configs' must map"),
])
def test_bad_task_files_get_one_message(tmp_path, bad, message):
    from xlt.tasks import get_task

    path = tmp_path / "t.yaml"
    path.write_text(bad)
    with pytest.raises(XltError, match=message):
        get_task(str(path))


def test_word_and_bad_labels(tmp_path):
    from xlt.data import load_split
    from xlt.tasks import get_task

    folder = tmp_path / "xnli" / "test"
    folder.mkdir(parents=True)
    (folder / "en.jsonl").write_text('{"premise": "a", "hypothesis": "b", "label": "Entailment"}\n'
                                     '{"premise": "c", "hypothesis": "d", "label": "contradiction"}\n')
    assert load_split(get_task("nli"), "en", "test", tmp_path)["label"] == [0, 2]
    (folder / "en.jsonl").write_text('{"premise": "a", "hypothesis": "b", "label": 7}\n')
    with pytest.raises(XltError, match="labels that are not"):
        load_split(get_task("nli"), "en", "test", tmp_path)
    (folder / "en.jsonl").write_text("")
    with pytest.raises(XltError, match="is empty"):
        load_split(get_task("nli"), "en", "test", tmp_path)
    (folder / "en.jsonl").write_text("this is not json\n")
    with pytest.raises(XltError, match="not a JSON-lines file"):
        load_split(get_task("nli"), "en", "test", tmp_path)


def save_tiny_sequence_classifier(folder, tokenizer_dir, id2label):
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=250002, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=128, pad_token_id=1,
                        id2label=id2label, label2id={v: k for k, v in id2label.items()},
                        architectures=["BertForSequenceClassification"])
    model = BertForSequenceClassification(config)
    model.save_pretrained(str(folder))
    AutoTokenizer.from_pretrained(str(tokenizer_dir)).save_pretrained(str(folder))
    return model


def test_a_published_classifier_maps_labels_by_name_and_lands_on_the_leaderboard(tiny_model_dir, tmp_path, capsys):
    import torch

    from xlt.app import board, callbacks
    from xlt.results.store import ResultsStore

    folder = tmp_path / "hub-nli"
    model = save_tiny_sequence_classifier(folder, tiny_model_dir, {0: "CONTRADICTION", 1: "ENTAILMENT", 2: "Neutral"})
    assert cli.main(["predict", "--model-dir", str(folder), "--premise", "A man plays.", "--hypothesis",
                     "Nobody plays.", "--json"]) == 0
    (answer,) = json.loads(capsys.readouterr().out)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    with torch.no_grad():
        raw = torch.softmax(model.eval()(**tok("A man plays.", "Nobody plays.", return_tensors="pt")).logits, -1)[0]
    expected = {"entailment": raw[1], "neutral": raw[2], "contradiction": raw[0]}  # by name, never by position
    assert all(np.isclose(answer["probabilities"][k], float(v), atol=1e-4) for k, v in expected.items())
    labels, _ = callbacks.predict_nli("A man plays.", "Nobody plays.", str(folder), roots=[tmp_path])
    assert np.isclose(labels["contradiction"], float(raw[0]), atol=1e-4)
    # evaluating it files a normal record (method "pretrained") that the leaderboard shows
    assert cli.main(["evaluate", "--model-dir", str(folder), "--languages", "en,de", "--max-samples", "20",
                     "--results-dir", str(tmp_path / "r" / "committed")]) == 0
    store = ResultsStore(home=tmp_path / "home", committed_dir=tmp_path / "r" / "committed", repo="")
    runs, errors = board.load_runs(store)
    assert list(runs["method"]) == ["pretrained"] and not errors
    assert runs.iloc[0]["n_targets"] == 2  # nothing known about its training languages: all are targets
    # its model card says it saw English labels: English is then its source, not a target of transfer (a
    # declared language that is no source stays a target, flagged as seen); the premise control runs too
    assert cli.main(["evaluate", "--model-dir", str(folder), "--languages", "en,de", "--max-samples", "20",
                     "--trained-languages", "EN", "--premise-control", "--json",
                     "--results-dir", str(tmp_path / "r2")]) == 0
    (path,) = (tmp_path / "r2").rglob("*.json")
    record = json.loads(path.read_text())
    assert record["seen_languages"] == ["en"] and record["summary"]["target_languages"] == ["de"]
    assert record["summary"]["source_score"] is not None
    assert record["config"]["method_options"] == {"trained_languages": ["en"]}  # as every other spelling of it
    assert "premise_shuffled_accuracy" in record["metrics"]["de"]
    capsys.readouterr()
    for bad, message in ((["--trained-languages", "english"], "unknown language code 'english'"),
                         (["--int8"], "evaluated as published")):
        assert cli.main(["evaluate", "--model-dir", str(folder), "--languages", "en", "--max-samples", "4", *bad,
                         "--results-dir", str(tmp_path / "r3")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "r3").exists()  # refused before anything was evaluated or filed


def test_a_saved_published_classifier_keeps_its_declared_training_languages_for_predict(tiny_model_dir, tmp_path):
    from xlt.config import ExperimentConfig, TrainConfig
    from xlt.experiment import run_and_file
    from xlt.predict import Predictor

    folder = tmp_path / "hub-sentiment"
    save_tiny_sequence_classifier(folder, tiny_model_dir, {0: "negative", 1: "neutral", 2: "positive"})
    config = ExperimentConfig(task="sentiment", method="pretrained", model=str(folder), target_languages=["de"],
                              method_options={"trained_languages": ["en"]}, train=TrainConfig(max_eval_samples=4))
    record = run_and_file(config, results_dir=tmp_path / "r", save_model_to=tmp_path / "saved", show_progress=False)
    answer = Predictor(tmp_path / "saved").predict("Das Essen war heute wirklich sehr gut und das Wetter auch.")
    assert answer.language == "de" and answer.transfer == "zero-shot"  # from the saved reference, not the run
    assert any("trained on en" in notice for notice in answer.notices)
    assert Predictor(tmp_path / "saved").info.run_id == record["run_id"]


def test_unmappable_labels_are_refused_with_the_way_out(tiny_model_dir, tmp_path):
    from xlt.config import ExperimentConfig
    from xlt.experiment import validate

    folder = tmp_path / "anon"
    save_tiny_sequence_classifier(folder, tiny_model_dir, {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    with pytest.raises(XltError, match="label_map=LABEL_0=<task label>"):
        validate(ExperimentConfig(task="sentiment", method="pretrained", model=str(folder)))
    ok = ExperimentConfig(task="sentiment", method="pretrained", model=str(folder),
                          method_options={"label_map": "LABEL_0=negative,LABEL_1=neutral,LABEL_2=positive"})
    validate(ok)


def test_the_app_fetches_a_hub_model_in_the_background_and_never_waits_on_the_download(tiny_model_dir, tmp_path,
                                                                                     monkeypatch):
    """A Predict request for a Hub model not yet here answers at once ("downloading") instead of holding the
    single prediction slot for a multi-GB download; once fetched it answers from the local copy."""
    import shutil
    import threading

    import huggingface_hub

    from xlt.app import callbacks
    from xlt.models import hub_fetch

    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub_fetch, "_STATE", {})
    model = tmp_path / "published"
    save_tiny_sequence_classifier(model, tiny_model_dir, {0: "entailment", 1: "neutral", 2: "contradiction"})
    repo_files = sorted(p.name for p in model.iterdir()) + [
        "pytorch_model.bin", "tf_model.h5", "onnx/model.onnx", "checkpoint-500/model.safetensors"]
    release, downloads = threading.Event(), []

    real_snapshot_download = huggingface_hub.snapshot_download

    def snapshot_download(repo_id, allow_patterns=None, local_files_only=False, **kwargs):
        if repo_id != "someone/big-nli":  # another thread's Hub call (not this test's) goes its own way
            return real_snapshot_download(repo_id, allow_patterns=allow_patterns, local_files_only=local_files_only,
                                          **kwargs)
        assert not local_files_only  # online, only this module's own finished downloads count
        downloads.append(list(allow_patterns))
        release.wait(30)  # a slow download
        snapshot = tmp_path / "hub-cache" / "snapshot"
        snapshot.mkdir(parents=True, exist_ok=True)
        for name in allow_patterns:
            shutil.copy(model / name, snapshot / name)
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files", lambda self, repo_id: repo_files)
    _, note = callbacks.predict_nli("A man plays.", "Nobody plays.", "someone/big-nli")
    assert "downloading from the Hub in the background" in note
    _, note = callbacks.predict_nli("A man plays.", "Nobody plays.", "someone/big-nli")
    assert "still downloading" in note  # one download, however many requests
    release.set()
    for _ in range(100):
        if hub_fetch._downloaded("someone/big-nli"):
            break
        threading.Event().wait(0.1)
    labels, note = callbacks.predict_nli("A man plays.", "Nobody plays.", "someone/big-nli")
    assert set(labels) == {"entailment", "neutral", "contradiction"}, note
    # one download, of what a load reads: safetensors (not also the .bin), no other formats or checkpoints
    assert len(downloads) == 1 and sorted(downloads[0]) == sorted(p.name for p in model.iterdir())
    assert "model.safetensors" in downloads[0]


def test_hub_files_chosen_per_folder_for_xlt_classifiers_and_bin_only_repos():
    from xlt.models.hub_fetch import select_files

    assert select_files(["config.json", "pytorch_model.bin", "tokenizer.json"]) == [
        "config.json", "pytorch_model.bin", "tokenizer.json"]
    xlt = ["xlt_classifier.json", "head.safetensors", "adapter/adapter_config.json", "adapter/adapter_model.bin",
           "runs/checkpoint-1/x.safetensors", "encoder/model.safetensors", "encoder/pytorch_model.bin"]
    assert select_files(xlt) == ["xlt_classifier.json", "head.safetensors", "adapter/adapter_config.json",
                                 "adapter/adapter_model.bin", "encoder/model.safetensors"]


def test_offline_a_hub_model_already_in_the_cache_is_used_and_a_missing_one_is_named(tiny_model_dir, tmp_path,
                                                                                    monkeypatch):
    import huggingface_hub

    from xlt.app import callbacks
    from xlt.models import hub_fetch

    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = tmp_path / "cached"
    save_tiny_sequence_classifier(model, tiny_model_dir, {0: "entailment", 1: "neutral", 2: "contradiction"})

    def snapshot_download(repo_id, local_files_only=False, **kwargs):
        assert local_files_only
        if repo_id != "someone/cached-nli":
            raise FileNotFoundError("not in the cache")
        return str(model)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    assert hub_fetch.local_copy("someone/cached-nli") == model
    labels, note = callbacks.predict_nli("A man plays.", "Nobody plays.", "someone/cached-nli")
    assert set(labels) == {"entailment", "neutral", "contradiction"}, note
    _, note = callbacks.predict_nli("A man plays.", "Nobody plays.", "someone/elsewhere")
    assert "not downloaded and the Hub is off" in note


def test_a_failed_hub_fetch_is_shown_without_the_spaces_token(tmp_path, monkeypatch):
    """The failure of a background Hub download is shown to the next visitor who asks for the model: a library
    message quoting the Space's token showed it."""
    import huggingface_hub

    from xlt.models import hub_fetch

    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_TOKEN", "hf_SpaceSecretToken123")
    monkeypatch.setattr(hub_fetch, "_STATE", {})

    def refuse(self, repo_id):
        raise RuntimeError("401 Client Error for token hf_SpaceSecretToken123: unauthorized")

    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files", refuse)
    hub_fetch._download("someone/private-nli")  # the background thread's work, here in the test's thread
    with pytest.raises(XltError, match="could not be downloaded") as failure:
        hub_fetch.local_copy("someone/private-nli")
    assert "hf_SpaceSecretToken123" not in str(failure.value) and "***" in str(failure.value)
