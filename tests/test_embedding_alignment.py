"""embedding-alignment: per-language maps onto English (Procrustes, centroid shift), saved and served."""

import json

import numpy as np
import pytest

from xlt import cli
from xlt.errors import XltError
from xlt.methods.embedding_alignment import fit_map, parallel_sentences, tatoeba_path
from xlt.results.records import read_records


def test_procrustes_recovers_a_rotation_and_an_offset():
    """Embeddings of a 'language' that are English's rotated and shifted map back onto English's."""
    rng = np.random.default_rng(0)
    english = rng.normal(size=(300, 12)).astype(np.float32)
    rotation, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    other = english @ rotation.T.astype(np.float32) + 3.0
    m = fit_map(other, english, "orthogonal")
    assert np.allclose(m.apply(other, normalize=False), english, atol=1e-3)
    assert np.allclose(m.rotation @ m.rotation.T, np.eye(12), atol=1e-5)  # orthogonal: lengths kept
    shifted = fit_map(english + 2.0, english, "center")
    assert shifted.rotation is None
    assert np.allclose(shifted.apply(english + 2.0, normalize=False), english, atol=1e-5)
    unit = m.apply(other, normalize=True)
    assert np.allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-5)


def test_tatoeba_files_of_the_task_languages(data_dir):
    for lang in ("de", "zh", "sw", "ar", "hi", "ur", "th"):  # zh -> cmn, sw -> swh: Tatoeba's own codes
        assert tatoeba_path(lang, data_dir) is not None, lang
    texts, english = parallel_sentences(tatoeba_path("de", data_dir), 5)
    assert len(texts) == len(english) == 5 and all(texts) and all(english)
    assert tatoeba_path("xx", data_dir) is None


def argv(model_dir, tmp_path, *extra):
    return ["train", "--task", "sentiment", "--method", "embedding-alignment", "--model", str(model_dir), "--source",
            "en", "--targets", "en,de,fr", "--max-train-samples", "60", "--max-eval-samples", "12", "--max-length",
            "32", "--opt-pairs", "40", "--results-dir", str(tmp_path / "results"), "--output-dir",
            str(tmp_path / "run"), *extra]


def test_fit_save_reload_and_the_language_hook(tiny_model_dir, tmp_path, capsys):
    from xlt.models.artifacts import load_artifact
    from xlt.predict import Predictor

    assert cli.main(argv(tiny_model_dir, tmp_path, "--save-model", str(tmp_path / "m"))) == 0, \
        capsys.readouterr().err
    (record,), errors = read_records(tmp_path / "results")
    assert not errors and record["method"] == "embedding-alignment"
    assert record["seen_languages"] == ["en"] and record["summary"]["target_languages"] == ["de", "fr"]
    assert {lang: v["pairs"] for lang, v in record["training"]["alignment_pairs"].items()} == {"de": 40, "fr": 40}
    info = json.loads((tmp_path / "m" / "xlt_classifier.json").read_text())
    assert info["kind"] == "embedding-alignment" and info["finetune"] == "none"
    assert info["extra"]["alignment"] == {"mapping": "orthogonal", "languages": ["de", "fr"]}
    artifact = load_artifact(tmp_path / "m")
    texts = ["Das ist wirklich schlecht", "Ich liebe es"]
    mapped, plain = artifact.predict_proba(texts, lang="de"), artifact.predict_proba(texts, lang="en")
    assert np.allclose(mapped.sum(1), 1.0, atol=1e-5) and not np.allclose(mapped, plain, atol=1e-4)
    # the same model evaluated as a plain classifier is the frozen baseline: English is never mapped
    inner = artifact.inner.predict_proba(texts)
    assert np.allclose(plain, inner, atol=1e-4)
    # Predict passes each text's detected language
    predictor = Predictor(tmp_path / "m")
    [german] = predictor.predict(["Das ist wirklich ein sehr schlechter Film, furchtbar und langweilig."])
    assert german.language == "de"
    assert any("onto English's before classifying" in note for note in german.notices)
    assert "No alignment map for 'es'" in artifact.language_note("es") and artifact.language_note("en") is None
    expected = artifact.predict_proba(["Das ist wirklich ein sehr schlechter Film, furchtbar und langweilig."],
                                      lang="de")[0]
    assert np.allclose(list(german.probabilities.values()), expected, atol=1e-4)
    assert cli.config_from_command(record["command"]).fingerprint() == record["config_fingerprint"]


def test_a_damaged_alignment_file_is_one_message(tiny_model_dir, tmp_path, capsys):
    from xlt.models.artifacts import load_artifact

    assert cli.main(argv(tiny_model_dir, tmp_path, "--save-model", str(tmp_path / "m"), "--opt-mapping",
                         "center")) == 0, capsys.readouterr().err
    (tmp_path / "m" / "alignment.safetensors").write_bytes(b"torn")
    with pytest.raises(XltError, match="maps cannot be read"):
        load_artifact(tmp_path / "m")


@pytest.mark.parametrize("extra, message", [
    (["--source", "de", "--targets", "de,fr"], "the source must be en"),
    (["--opt-mapping", "affine"], "mapping"), (["--opt-pairs", "1"], "pairs must be in"),
    (["--opt-classifier", "nope"], "classifier"), (["--opt-c", "-1"], "c must be a positive number"),
    # the tiny model's embeddings are 16 wide: 10 pairs leave an orthogonal map partly arbitrary
    (["--opt-pairs", "10"], "needs more than 16 sentence pairs per language (fewer leave the rotation partly "
                            "arbitrary): de has 10, fr has 10"),
])
def test_bad_settings_before_any_work(tiny_model_dir, tmp_path, capsys, extra, message):
    assert cli.main(argv(tiny_model_dir, tmp_path, *extra)) == 2
    assert message in capsys.readouterr().err


def test_a_target_without_parallel_sentences(tiny_model_dir, tmp_path, capsys, data_dir, monkeypatch):
    import shutil

    local = tmp_path / "data"
    shutil.copytree(data_dir / "sentiment", local / "sentiment")
    (local / "tatoeba").mkdir()
    shutil.copy(data_dir / "tatoeba" / "deu.jsonl", local / "tatoeba" / "deu.jsonl")
    monkeypatch.setenv("XLT_DATA_DIR", str(local))
    assert cli.main(argv(tiny_model_dir, tmp_path)) == 2
    assert "no Tatoeba parallel sentences for fr" in capsys.readouterr().err


def test_the_hub_copy_where_there_is_no_data_folder(monkeypatch):
    """Plumbing only (no network here): MTEB's config name for the language, sentence1 in it, sentence2 English."""
    import datasets

    from xlt.methods.embedding_alignment import HUB_DATASET, load_parallel

    asked = []

    def fake_load(name, config, split):
        asked.append((name, config, split))
        if config == "xxx-eng":
            raise ConnectionError("offline")
        return datasets.Dataset.from_dict({"sentence1": ["Hallo Welt", "", "Guten Morgen"],
                                           "sentence2": ["Hello world", "Empty", "Good morning"]})

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    assert load_parallel("zh", None, 10) == (["Hallo Welt", "Guten Morgen"], ["Hello world", "Good morning"])
    assert asked == [(HUB_DATASET, "cmn-eng", "test")]
    with pytest.raises(XltError, match=r"\(deu-eng\) holds fewer than 2 usable sentence pairs"):
        load_parallel("de", None, 1)  # one pair cannot fit a map
    with pytest.raises(XltError, match="could not load the parallel sentences .* from the Hub"):
        load_parallel("xxx", None, 10)


def test_on_the_fine_tuned_zero_shot_model(tiny_model_dir, tmp_path, capsys):
    """classifier=fine-tuned: the maps are fitted on the fine-tuned model's features (not unit length), after a
    training that is the zero-shot run of these settings."""
    from xlt.models.artifacts import load_artifact

    extra = ["--opt-classifier", "fine-tuned", "--finetune", "lora", "--lora-targets", "query,value", "--epochs", "1",
             "--batch-size", "8", "--learning-rate", "1e-3", "--save-model", str(tmp_path / "m")]
    assert cli.main(argv(tiny_model_dir, tmp_path, *extra)) == 0, capsys.readouterr().err
    (record,), _ = read_records(tmp_path / "results")
    assert record["training"]["train_steps"] > 0 and set(record["training"]["alignment_pairs"]) == {"de", "fr"}
    assert record["train_seconds"] >= record["training"]["alignment_seconds"]
    info = json.loads((tmp_path / "m" / "xlt_classifier.json").read_text())
    assert info["finetune"] == "lora" and info["normalize"] is False and info["kind"] == "embedding-alignment"
    artifact = load_artifact(tmp_path / "m")
    texts = ["Das ist schlecht", "Ich liebe es"]
    assert not np.allclose(artifact.predict_proba(texts, lang="de"), artifact.inner.predict_proba(texts), atol=1e-4)
