"""The default predictors shipped in the repo answer offline, in several languages."""

import pytest

from xlt.errors import XltError
from xlt.predict import load_predictor


@pytest.fixture(scope="module")
def sentiment():
    return load_predictor("sentiment")


@pytest.fixture(scope="module")
def nli():
    return load_predictor("nli")


def test_sentiment_french_negative(sentiment):
    result = sentiment.predict("Ce film était une perte de temps.")
    assert result.label == "negative" and result.language == "fr" and result.language_covered
    assert abs(sum(result.probabilities.values()) - 1) < 1e-4


GERMAN_NLI = [  # written before looking at the model's answers; chance is 2 of 6
    ("Ein Mann spielt im Park Gitarre.", "Ein Mann macht Musik.", "entailment"),
    ("Ein Mann spielt im Park Gitarre.", "Der Mann schläft zu Hause.", "contradiction"),
    ("Die Kinder essen in der Küche Kuchen.", "Die Kinder haben Hunger.", "neutral"),
    ("Die Frau liest ein Buch im Garten.", "Die Frau liest.", "entailment"),
    ("Die Frau liest ein Buch im Garten.", "Niemand liest.", "contradiction"),
    ("Der Hund läuft über die Wiese.", "Der Hund jagt einen Ball, den sein Besitzer geworfen hat.", "neutral"),
]


def test_nli_in_german_beats_chance(nli):
    results = nli.predict_pairs([p for p, _, _ in GERMAN_NLI], [h for _, h, _ in GERMAN_NLI])
    assert all(r.language == "de" for r in results)
    correct = sum(r.label == gold for r, (_, _, gold) in zip(results, GERMAN_NLI))
    assert correct >= 4, [r.label for r in results]


def test_zero_shot_spanish_sports_headline(nli):
    result = nli.zero_shot("El Real Madrid ganó la final de la Liga de Campeones con un gol en el último minuto.",
                           ["sports", "politics", "economy"])
    assert result["labels"][0] == "sports" and abs(sum(result["scores"]) - 1) < 1e-4
    multi = nli.zero_shot("El Real Madrid ganó la final.", ["sports", "politics"], multi_label=True)
    assert all(0 <= s <= 1 for s in multi["scores"])


def test_batched_sentiment_in_many_scripts(sentiment):
    texts = ["I absolutely love this phone!", "هذا المنتج سيء جدا", "यह फिल्म बहुत अच्छी थी",
             "Questo ristorante è terribile.", "Adorei o show de ontem!"]
    results = sentiment.predict(texts)
    assert [r.language for r in results] == ["en", "ar", "hi", "it", "pt"]
    assert [r.label for r in results] == ["positive", "negative", "positive", "negative", "positive"]


def test_odd_inputs_get_notices_not_crashes(sentiment, nli):
    emoji = sentiment.predict("😀🎉👍")
    assert emoji.language == "und" and any("No language" in n for n in emoji.notices)
    long = sentiment.predict("This is great. " * 7000)  # ~100k characters
    assert long.truncated and any("truncated" in n for n in long.notices)
    covered = sentiment.predict("Ninaipenda sana filamu hii, ilikuwa nzuri mno kwa kweli")  # Swahili
    assert covered.language == "sw" and covered.language_covered
    uncovered = sentiment.predict("Ur yeshil ara ad d-tessufɣeḍ lxiḍ deg tissegnit.")  # Kabyle: not in CC-100
    assert uncovered.language == "kab" and not uncovered.language_covered
    assert any("not among the encoder's pre-training languages" in n for n in uncovered.notices)
    with pytest.raises(XltError, match="takes text pairs"):
        nli.predict("just one text")
    with pytest.raises(XltError, match="is empty"):
        sentiment.predict(["fine", ""])


def test_shipped_predictors_answer_as_before_the_method_contract():
    """20 fixed inputs: the probabilities the English-only shipped predictors (then the defaults, now
    `sentiment-en` and `nli-en`) gave before the method contract (computed with commit ea350e8,
    `tests/data/shipped_predictions_before.json`) are unchanged in float32 (the int8 form Predict serves
    by default is measured in benchmarks/predict_speed.py)."""
    import json
    from pathlib import Path

    sentiment, nli = load_predictor("sentiment-en", int8=False), load_predictor("nli-en", int8=False)

    before = json.loads((Path(__file__).parent / "data" / "shipped_predictions_before.json").read_text())
    texts = [t for t, _ in before["sentiment"]]
    answers = sentiment.predict(texts)
    assert len(answers) == len(before["sentiment"]) == 10
    for (_, expected), got in zip(before["sentiment"], answers):
        assert all(abs(got.probabilities[k] - v) < 1e-5 for k, v in expected.items()), (expected, got)
    pairs = [p for p, _ in before["nli"]]
    answers = nli.predict_pairs([a for a, _ in pairs], [b for _, b in pairs])
    assert len(answers) == len(before["nli"]) == 10
    for (_, expected), got in zip(before["nli"], answers):
        assert all(abs(got.probabilities[k] - v) < 1e-5 for k, v in expected.items()), (expected, got)


def test_predictions_say_whether_the_language_was_seen_in_training(sentiment):
    english_only = load_predictor("sentiment-en")
    english = english_only.predict("I really love this phone, it is great.")
    french = english_only.predict("Ce film était une perte de temps.")
    assert english.transfer == "seen" and not any("Zero-shot transfer" in n for n in english.notices)
    assert french.transfer == "zero-shot" and any("no labelled 'fr' data" in n for n in french.notices)
    # the default sentiment predictor trained on all 8 tweet languages: French is seen, Swahili is not
    assert sentiment.predict("Ce film était une perte de temps.").transfer == "seen"
    swahili = sentiment.predict("Ninaipenda sana filamu hii, ilikuwa nzuri mno kwa kweli")
    assert swahili.transfer == "zero-shot" and any("no labelled 'sw' data" in n for n in swahili.notices)


def test_predictions_carry_the_models_measured_score_in_that_language(nli):
    """The shipped NLI model's record (found by its run_id) gives its XNLI test accuracy per language: a
    confident answer in German comes with the German accuracy, so nobody reads confidence as reliability."""
    import json

    from xlt.results.measured import measured_scores

    record = measured_scores("nli", nli.info.run_id)
    assert set(record) >= {"de", "ar", "sw", "en"}
    german = nli.predict_pairs(["Der Zug ist heute pünktlich angekommen."], ["Der Zug hatte Verspätung."])[0]
    assert german.measured["metric"] == "accuracy" and german.measured["n"] == 5010
    assert german.measured["value"] == record["de"]["value"]
    assert any(n.startswith("Measured accuracy of this model in German") and f"{record['de']['value']:.2f}" in n
               for n in german.notices)
    assert json.dumps(german.to_dict())  # the API answer stays plain JSON


def test_shipped_predictor_choices_label_what_each_model_saw():
    from xlt.predict import shipped_predictors

    choices = dict((name, label) for label, name in shipped_predictors())
    assert {"sentiment", "nli"} <= set(choices)
    assert [name for _, name in shipped_predictors("nli")][0] == "nli"  # the task's own name is the default
    for label in choices.values():
        assert label.startswith("shipped ") and ("English-only, zero-shot" in label or "languages" in label)
    assert "English-only, zero-shot" in choices["sentiment-en"] and "English-only, zero-shot" in choices["nli-en"]
    assert "8 languages" in choices["sentiment"] and "15 languages" in choices["nli"]


def test_nli_showcase_examples_carry_a_readers_answer_and_the_measured_accuracy(nli):
    from xlt.app.ui import EXAMPLES_NLI

    results = nli.predict_pairs([e[0] for e in EXAMPLES_NLI], [e[1] for e in EXAMPLES_NLI])
    assert all(gold in nli.labels for _, _, gold in EXAMPLES_NLI)
    assert all(r.measured.get("metric") == "accuracy" for r in results), [r.language for r in results]
