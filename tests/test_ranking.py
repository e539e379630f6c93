"""The source ranker on synthetic matrices built from records (made-up scores, never reported), its features on
the real data with the reference tokenizer, `xlt rank` and the leave-one-out script."""

import importlib.util
import math

import numpy as np
import pandas as pd
import pytest

from tests.test_transfer_matrix import matrix_records
from xlt.cli import main
from xlt.errors import XltError
from xlt.leaderboard.matrix import cells_frame, transfer_matrix
from xlt.ranking import evaluation, features, typology
from xlt.ranking.features import FEATURES, PairFeatures, check_language, pair_features
from xlt.ranking.ranker import (
    LearnedRanker,
    english_order,
    features_only_scores,
    nearest_order,
    training_cells,
    without_language,
)
from xlt.ranking.recommend import rank_sources
from xlt.ranking.report import ranking_markdown, ranking_text
from xlt.settings import repo_root

LANGS = ("ar", "de", "en", "es", "fr", "hi", "it", "pt")  # the sentiment task's
# made-up positions in a "typology" plane: English far from the rest, so "always English" is a poor choice
POSITION = {"ar": (0.9, 0.1), "de": (0.3, 0.4), "en": (0.05, 0.95), "es": (0.5, 0.5), "fr": (0.4, 0.45),
            "hi": (0.8, 0.3), "it": (0.55, 0.55), "pt": (0.5, 0.6), "ja": (0.95, 0.9)}


def position(lang):
    return POSITION.get(lang) or ((sum(map(ord, lang)) % 10) / 10, (ord(lang[0]) % 7) / 7)


def distance(a, b):
    return math.dist(position(a), position(b))


def synthetic_features(languages=(*LANGS, "ja"), notes=()) -> PairFeatures:
    rows = []
    languages = sorted(set(languages))
    for s in languages:
        for t in languages:
            if s != t:
                d = distance(s, t)
                rows.append({"source": s, "target": t, "syntax": d, "phonology": 0.5 * d + 0.1, "inventory": d,
                             "genetic": min(1.0, 2 * d), "geographic": 0.1 * d, "script_match": float(d < 0.5),
                             "subword_overlap": max(0.0, 0.4 - 0.3 * d) if "ja" not in (s, t) else float("nan"),
                             "source_size": math.log10(1839), "source_covered": 1.0, "target_covered": 1.0})
    return PairFeatures(frame=pd.DataFrame(rows).set_index(["source", "target"])[list(FEATURES)], notes=list(notes))


def transfer_score(source, target, seed):
    """Made-up: in-language 0.8; transfer falls with distance; a little seed noise."""
    if source == target:
        return 0.8
    return round(0.75 - 0.3 * distance(source, target) + 0.002 * (seed % 3), 4)


@pytest.fixture
def full_records(tmp_path):
    return matrix_records(tmp_path, sources=LANGS, targets=LANGS, seeds=(42, 43), score=transfer_score)


def test_ndcg_and_regret():
    true = {"a": 0.7, "b": 0.6, "c": 0.5, "d": 0.4}
    assert evaluation.ndcg_at_k(true, ["a", "b", "c", "d"]) == 1.0
    assert evaluation.regret(true, ["a", "b"]) == 0.0
    assert math.isclose(evaluation.regret(true, ["c", "a"]), 0.2)
    worst_first = evaluation.ndcg_at_k(true, ["d", "c", "b", "a"])
    ideal = 0.3 + 0.2 / math.log2(3) + 0.1 / 2
    assert math.isclose(worst_first, (0 + 0.1 / math.log2(3) + 0.2 / 2) / ideal)
    assert evaluation.ndcg_at_k({"a": 0.5, "b": 0.5}, ["b", "a"]) == 1.0  # all tied: any order is ideal


def test_baselines_orders():
    frame = synthetic_features().frame
    assert english_order(frame, "es", ["de", "en", "it"])[0] == "en"
    assert nearest_order(frame, "es", ["de", "en", "it"]) == ["it", "de", "en"]
    scores = features_only_scores(frame, "es", ["de", "en", "it"])
    assert max(scores, key=lambda s: scores[s][0]) == "it" and scores["en"][0] == 0.0


def test_learned_ranker_beats_always_english_leave_one_target_out(full_records):
    cells = training_cells(transfer_matrix(cells_frame(full_records), "sentiment"))
    assert len(cells) == 8 * 7 and abs(cells.groupby("target")["relative"].sum()).max() < 1e-9
    results = evaluation.leave_one_target_out(cells, synthetic_features().frame, select=False)
    assert set(results["ranker"]) == {"gradient boosting", "linear", "always English", "typologically nearest",
                                      evaluation.RANDOM}
    assert set(results["target"]) == set(LANGS) and (results["candidates"] == 7).all()
    table = evaluation.summary(results).set_index("ranker")
    assert table.at["linear", "ndcg"] > table.at["always English", "ndcg"]
    assert table.at["linear", "regret"] < table.at["always English", "regret"]
    assert table.at["linear", "targets"] == 8 and 0 <= table.at["linear", "top1"] <= 1
    assert table.at["linear", "ndcg"] > table.at[evaluation.RANDOM, "ndcg"]
    tied_for_best = cells.groupby("target")["score"].agg(lambda v: (v >= v.max() - 1e-9).sum() / len(v))
    assert math.isclose(table.at[evaluation.RANDOM, "top1"], tied_for_best.mean())  # 1/7 but for ties


def test_a_held_out_language_leaves_no_trace_in_training(full_records):
    cells = training_cells(transfer_matrix(cells_frame(full_records), "sentiment"))
    train = without_language(cells, "es")
    assert "es" not in set(train["source"]) | set(train["target"]) and len(train) == 7 * 6
    ranker = LearnedRanker("linear").fit(train, synthetic_features().frame)
    drivers = ranker.drivers("it", "es", synthetic_features().frame)
    assert drivers and all(name in FEATURES for name, _ in drivers)


def test_rank_sources_learned_for_measured_and_unmeasured_targets(full_records):
    ranking = rank_sources(full_records, "sentiment", "es", features=synthetic_features())
    assert ranking.mode == "learned" and ranking.kind in ("gradient boosting", "linear")
    assert [e.source for e in ranking.sources][0] in ("it", "pt", "fr") and len(ranking.sources) == 7
    assert all(e.measured is not None for e in ranking.sources) and ranking.target_measured
    assert "without any measurement of es" in ranking.notes[0]
    assert ranking.sources[0].score >= ranking.sources[-1].score and ranking.sources[0].drivers
    outside = rank_sources(full_records, "sentiment", "ja", features=synthetic_features())
    assert outside.mode == "learned" and len(outside.sources) == 8
    assert "ja is outside the measured set" in outside.notes[0]
    text = ranking_text(outside)
    assert "predicted macro_f1" in text and "outside the measured set" in text and "Japanese (ja)" in text
    assert "**Sources for Japanese (ja)**" in ranking_markdown(outside)


def test_too_few_sources_fall_back_to_features_alone(tmp_path):
    records = matrix_records(tmp_path, sources=("en",), targets=LANGS, seeds=(42,), score=transfer_score)
    ranking = rank_sources(records, "sentiment", "es", features=synthetic_features())
    assert ranking.mode == "features only" and "at least 3 source languages" in ranking.notes[0]
    assert "has 1 (en)" in ranking.notes[0]
    assert [e.source for e in ranking.sources][0] == "it"
    english = next(e for e in ranking.sources if e.source == "en")
    assert math.isclose(english.measured, transfer_score("en", "es", 42) - 0.05)  # sentiment: macro-F1
    assert "not a predicted metric" in ranking_text(ranking)
    nothing = rank_sources([], "sentiment", "ja", features=synthetic_features())
    assert nothing.mode == "features only" and "outside the measured set" in nothing.notes[1]


def test_unknown_language_codes_are_refused():
    assert check_language(" SW ") == "sw"
    with pytest.raises(XltError, match="unknown language code 'xx'"):
        check_language("xx")


def test_pair_features_on_the_real_data(tmp_path, monkeypatch, reference_tokenizer_file):
    from transformers import PreTrainedTokenizerFast

    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(reference_tokenizer_file))
    from xlt.tasks import get_task

    task = get_task("sentiment")
    distances = {(a, b): {d: 0.1 for d in typology.DISTANCES} for a in ("en", "ar", "hi", "ja")
                 for b in ("en", "ar", "hi", "ja") if a != b}
    got = pair_features(task, ["en", "ar", "hi", "ja"], tokenizer=tokenizer, distances=distances, sample_rows=50)
    frame = got.frame
    assert frame.at[("en", "ar"), "script_match"] == 0.0
    assert frame.at[("en", "hi"), "script_match"] == 1.0  # the tweets' Hindi is mostly romanised: measured
    assert got.profiles["ar"].script == "Arabic" and got.profiles["ja"].script == "Japanese"
    assert 0 < frame.at[("en", "hi"), "subword_overlap"] < 1
    assert math.isnan(frame.at[("en", "ja"), "subword_overlap"]) and any("no sentiment data for ja" in n
                                                                          for n in got.notes)
    assert math.isclose(frame.at[("en", "ar"), "source_size"], math.log10(1839))
    assert frame.at[("en", "ar"), "syntax"] == 0.1 and frame.at[("ja", "en"), "source_covered"] == 1.0

    class NoTokenizer:
        def __call__(self, *args, **kwargs):
            raise AssertionError("profiles are cached on disk: no tokenizing the second time")

    again = pair_features(task, ["en", "ar"], tokenizer=NoTokenizer(), distances=distances, sample_rows=50)
    assert again.frame.at[("en", "ar"), "subword_overlap"] == frame.at[("en", "ar"), "subword_overlap"]


def test_without_lang2vec_distances_are_left_out_and_said(tmp_path, monkeypatch, reference_tokenizer_file):
    from transformers import PreTrainedTokenizerFast

    from xlt.tasks import get_task

    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(typology, "lang2vec_version", lambda: None)
    with pytest.raises(XltError, match="lang2vec is not installed"):
        typology.uriel_distances(["en", "de"])
    got = pair_features(get_task("sentiment"), ["en", "de"], sample_rows=20,
                        tokenizer=PreTrainedTokenizerFast(tokenizer_file=str(reference_tokenizer_file)))
    assert got.frame[list(typology.DISTANCES)].isna().all().all()
    assert any("lang2vec is not installed" in note for note in got.notes)


def test_uriel_distances_are_cached_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(typology, "lang2vec_version", lambda: "test")
    calls = []

    def vectors(languages):
        calls.append(list(languages))
        base = {"en": [1.0, 0.0], "de": [1.0, 1.0], "sw": [0.0, 1.0]}
        return {name: {lang: base[lang] for lang in languages if lang in base} for name in typology.DISTANCES}

    monkeypatch.setattr(typology, "_uriel_vectors", vectors)
    first = typology.uriel_distances(["en", "de"])
    assert math.isclose(first[("en", "de")]["syntax"], 1 - 1 / math.sqrt(2))
    typology._memory.clear()  # a new process: read back from the file
    assert typology.uriel_distances(["de", "en"]) == first and len(calls) == 1
    both = typology.uriel_distances(["en", "sw", "xx"])
    assert both[("en", "sw")]["genetic"] == 1.0 and math.isnan(both[("en", "xx")]["syntax"])
    assert calls[-1] == ["de", "en", "sw", "xx"]


@pytest.mark.slow
def test_real_uriel_distances(tmp_path, monkeypatch):
    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))
    d = typology.uriel_distances(["en", "de", "es", "pt", "sw", "zh"])
    assert all(np.isfinite(list(d[("en", "sw")].values())))  # sw and zh map to swh and cmn
    assert d[("es", "pt")]["genetic"] < d[("es", "zh")]["genetic"]
    assert d[("es", "pt")]["syntax"] < d[("en", "sw")]["syntax"]


def test_cli_rank_on_english_only_records(monkeypatch, capsys):
    from xlt.results.store import ResultsStore

    monkeypatch.setattr("xlt.ranking.recommend.cached_pair_features",
                        lambda task, languages, model=None: synthetic_features())
    real = ResultsStore.records
    monkeypatch.setattr(ResultsStore, "records", lambda self, *a, **k: (
        [r for r in real(self, *a, **k)[0] if r["source_languages"] == ["en"]], []))
    assert main(["rank", "--task", "sentiment", "--target", "es", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "features alone" in out and "at least 3 source languages" in out
    assert len([line for line in out.splitlines() if line.strip()[:1].isdigit()]) == 3
    assert main(["rank", "--task", "sentiment", "--target", "xx"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "xlt: error: unknown language code 'xx': give an ISO 639-1 code such as sw, de or zh"


def _table_script():
    spec = importlib.util.spec_from_file_location("ranker_table", repo_root() / "scripts" / "ranker_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table_script_refuses_too_few_sources_and_prints_the_table(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(features, "cached_pair_features", lambda task, languages, model=None: synthetic_features())
    script = _table_script()
    matrix_records(tmp_path / "few", sources=("en", "de"), targets=LANGS, seeds=(42,), score=transfer_score)
    monkeypatch.setattr("sys.argv", ["ranker_table.py", "--task", "sentiment", "--results", str(tmp_path / "few")])
    assert script.main() == 1
    captured = capsys.readouterr()
    assert "from 2 source language(s) (de, en)" in captured.err and "refusing" in captured.err
    assert captured.out == ""
    five = ("de", "en", "es", "fr", "it")
    matrix_records(tmp_path / "full", sources=five, targets=five, seeds=(42, 43), score=transfer_score)
    monkeypatch.setattr("sys.argv", ["ranker_table.py", "--task", "sentiment", "--results", str(tmp_path / "full")])
    assert script.main() == 0
    captured = capsys.readouterr()
    assert "10 runs → 25 measured cells (20 off the diagonal) from 5 source language(s)" in captured.err
    lines = [line for line in captured.out.splitlines() if line.startswith("| sentiment |")]
    assert {line.split(" | ")[1] for line in lines} == {"gradient boosting", "linear", evaluation.SELECTED,
                                                        "always English", "typologically nearest", evaluation.RANDOM}
    # the learned ranker against each baseline, target by target: better / worse / level counts over 5 targets
    against = {line.split(" | ")[1]: line for line in lines if line.count(" / ") == 4}
    assert set(against) == {"always English", "typologically nearest"}  # no sign test against an expectation
    for line in against.values():
        ndcg_counts = line.split(" | ")[2].split(" / ")
        assert sum(map(int, ndcg_counts)) == 5
    monkeypatch.setattr("sys.argv", ["ranker_table.py", "--task", "sentiment", "--results", str(tmp_path / "full"),
                                     "--seeds", "42"])
    assert script.main() == 0
    assert "5 runs → 25 measured cells" in capsys.readouterr().err
    monkeypatch.setattr("sys.argv", ["ranker_table.py", "--task", "sentiment", "--results", str(tmp_path / "full"),
                                     "--seeds", "99"])
    script.main()
    assert "(keeping seeds 99 only); no table" in capsys.readouterr().err  # says which filter emptied it


def test_random_order_expectation_is_the_mean_over_every_order():
    import itertools

    true = {"a": 0.71, "b": 0.64, "c": 0.64, "d": 0.52, "e": 0.60}
    orders = [list(o) for o in itertools.permutations(true)]
    expected = evaluation.random_order_expectation(true)
    assert math.isclose(expected["ndcg@3"], np.mean([evaluation.ndcg_at_k(true, o) for o in orders]))
    assert math.isclose(expected["regret"], np.mean([evaluation.regret(true, o) for o in orders]))
    assert expected["hit"] == 1 / 5
    assert evaluation.random_order_expectation({"a": 0.5, "b": 0.5})["hit"] == 1.0  # a tie for best


def test_a_source_tied_for_best_is_a_top_1_hit():
    rows = [{"source": s, "target": t, "score": v} for t in ("es", "fr", "de")
            for s, v in (("it", 0.6), ("en", 0.6), ("pt", 0.5), ("ar", 0.4)) if s != t]
    cells = pd.DataFrame(rows).assign(relative=0.0)
    results = evaluation.leave_one_target_out(cells, synthetic_features().frame, kinds=(), select=False)
    english = results[results["ranker"] == "always English"]
    assert (english["best"] == "it").all() and (english["top"] == "en").all()  # named best: the first of the tie
    assert (english["regret"] == 0).all() and (english["hit"] == 1.0).all()  # a tie for best is a hit
    assert evaluation.summary(results).set_index("ranker").at["always English", "top1"] == 1.0


def test_sign_test_and_paired_counts():
    assert evaluation.sign_test(0, 0) == 1.0 and evaluation.sign_test(3, 3) == 1.0
    assert math.isclose(evaluation.sign_test(8, 0), 2 / 2**8) and math.isclose(evaluation.sign_test(1, 7), 18 / 256)
    results = pd.DataFrame([
        {"target": t, "ranker": r, "ndcg@3": n, "regret": g} for t, r, n, g in (
            ("a", "mine", 0.9, 0.00), ("a", "base", 0.5, 0.02), ("b", "mine", 0.7, 0.01), ("b", "base", 0.7, 0.01),
            ("c", "mine", 0.4, 0.03), ("c", "base", 0.6, 0.00))])
    both = evaluation.paired(results, "mine", "base")
    assert both["targets"] == 3
    assert {k: both["ndcg@3"][k] for k in ("better", "worse", "level")} == {"better": 1, "worse": 1, "level": 1}
    assert {k: both["regret"][k] for k in ("better", "worse", "level")} == {"better": 1, "worse": 1, "level": 1}


def test_the_held_out_targets_scores_change_no_ranking_of_it(full_records, tmp_path):
    """Leakage check: scramble what the held-out target measured; every ranker ranks its sources the same, the
    kind chosen for its fold is the same, and `xlt rank`'s predicted scores for it do not move."""
    cells = training_cells(transfer_matrix(cells_frame(full_records), "sentiment"))
    frame = synthetic_features().frame
    scrambled = cells.copy()
    held = scrambled["target"] == "es"
    scrambled.loc[held, "score"] = 1.0 - scrambled.loc[held, "score"]  # the measured order of es reversed
    scrambled["relative"] = scrambled["score"] - scrambled.groupby("target")["score"].transform("mean")
    before, after = (evaluation.leave_one_target_out(c, frame) for c in (cells, scrambled))
    orders = [r[(r["target"] == "es") & (r["ranker"] != evaluation.RANDOM)].set_index("ranker")["order"]
              for r in (before, after)]
    assert orders[0].to_dict() == orders[1].to_dict() and len(orders[0]) == 5  # 4 rankers and the chosen kind
    assert all(len(order.split(",")) == 7 for order in orders[0])
    held = [r[(r["target"] == "es")].set_index("ranker")["ndcg@3"] for r in (before, after)]
    assert not held[0].equals(held[1])  # the scores did change: the same orders are judged against them

    def scrambled_score(source, target, seed):
        return 1.0 - transfer_score(source, target, seed) if target == "es" else transfer_score(source, target, seed)

    other = matrix_records(tmp_path / "scrambled", sources=LANGS, targets=LANGS, seeds=(42, 43),
                           score=scrambled_score)
    rankings = [rank_sources(r, "sentiment", "es", features=synthetic_features()) for r in (full_records, other)]
    assert [(e.source, e.score) for e in rankings[0].sources] == [(e.source, e.score) for e in rankings[1].sources]
    assert [e.measured for e in rankings[0].sources] != [e.measured for e in rankings[1].sources]


def test_paired_counts_only_targets_both_rankers_ranked_and_never_against_an_expectation():
    results = pd.DataFrame([
        {"target": t, "ranker": r, "ndcg@3": n, "regret": g} for t, r, n, g in (
            ("a", "mine", 0.9, 0.00), ("a", "base", 0.5, 0.02), ("b", "base", 0.7, 0.01),  # b: no learned row
            ("c", "mine", 0.4, 0.03), ("c", "base", 0.6, 0.00))])
    both = evaluation.paired(results, "mine", "base")
    assert both["targets"] == 2 and both["ndcg@3"]["level"] == 0
    assert (both["ndcg@3"]["better"], both["ndcg@3"]["worse"]) == (1, 1)
    with pytest.raises(ValueError, match="expectation"):
        evaluation.paired(results, "mine", evaluation.RANDOM)


def test_seed_noise_comes_from_cells_of_one_precision(tmp_path):
    records = matrix_records(tmp_path, sources=("en", "de", "fr"), seeds=(42, 43))
    for record in records:  # German's seed 43 trained in bf16: its cells mix precisions
        if record["source_languages"] == ["de"] and record["seed"] == 43:
            record["training"] = {"precision": "bf16"}
    matrix = transfer_matrix(cells_frame(records), "sentiment")
    cells = training_cells(matrix)
    noise = evaluation.noise_against_gaps(matrix, cells)
    assert noise["seeds_per_cell"] == [2] and noise["mixed_precision_cells"] == 3
    assert noise["noise_cells"] == len(cells) - 3
    one = cells[cells["source"] != "de"]
    assert math.isclose(noise["seed_std"], float(one["std"].median()))
    assert math.isclose(noise["difference_noise"], noise["seed_std"])  # std·√(2/2)
    gaps = [sorted(col, reverse=True)[0] - sorted(col, reverse=True)[1]
            for _, col in cells.groupby("target")["score"] if len(col) >= 2]
    assert math.isclose(noise["gap"], float(np.median(gaps)))


def test_a_tokenizer_that_cannot_load_is_tried_once_and_noted_once(tmp_path, monkeypatch):
    """Offline with a Hub model: one note for all languages, not one per language, and no false "no data"."""
    from xlt.errors import XltError
    from xlt.models import loading
    from xlt.tasks import get_task

    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))
    calls = []

    def unreachable(spec):
        calls.append(spec.name)
        raise XltError("could not load model 'someone/model' (offline)")

    monkeypatch.setattr(loading, "load_tokenizer", unreachable)
    langs = ["en", "de", "fr"]
    distances = {(a, b): {d: 0.1 for d in typology.DISTANCES} for a in langs for b in langs if a != b}
    got = pair_features(get_task("sentiment"), langs, model="someone/model", distances=distances, sample_rows=20)
    assert calls == ["someone/model"]
    assert [n for n in got.notes if "left out" in n] == ["de, en, fr: data features left out (could not load model "
                                                         "'someone/model' (offline))"]
    assert not any("no sentiment data" in n for n in got.notes)
