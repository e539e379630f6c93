"""Source × target matrices from records written by the project's own record writer (synthetic scores)."""

import math

import plotly.graph_objects as go
import pytest

from tests.test_records import make_record
from xlt.app import board
from xlt.errors import XltError
from xlt.leaderboard import figures
from xlt.leaderboard.matrix import cells_frame, matrix_settings, transfer_matrix
from xlt.results.records import read_records, write_record
from xlt.tasks import get_task


def synthetic_score(source: str, target: str, seed: int) -> float:
    """A made-up score: in-language best, a per-pair offset, a small seed effect (tests only)."""
    base = 0.8 if source == target else 0.5 + (sum(map(ord, source + target)) % 17) / 100
    return round(base + (seed % 3) * 0.01, 4)


def matrix_records(results_dir, task="sentiment", sources=("en", "de", "fr"), targets=("en", "de", "fr", "es"),
                   seeds=(42, 43), score=synthetic_score, **overrides) -> list[dict]:
    """Write one zero-shot record per (source, seed) with `write_record`; return them as read back."""
    metric = "macro_f1" if task == "sentiment" else "accuracy"
    for source in sources:
        for seed in seeds:
            metrics = {t: {"accuracy": score(source, t, seed), "macro_f1": score(source, t, seed) - 0.05, "n": 100,
                           "ci95": [score(source, t, seed) - 0.05, score(source, t, seed) + 0.05]} for t in targets}
            write_record(make_record(run_id=f"{task}-{source}-{seed}-{overrides.get('protocol') or 'x'}", task=task,
                                     source_languages=[source], seen_languages=[source], seed=seed,
                                     target_languages=list(targets), metrics=metrics,
                                     summary={"metric": metric, "target_average": 0.5}, **overrides), results_dir)
    records, errors = read_records(results_dir)
    assert not errors
    return records


def test_cells_mean_over_seeds_with_spread(tmp_path):
    records = matrix_records(tmp_path, seeds=(42, 43, 44))
    matrix = transfer_matrix(cells_frame(records), "sentiment", metric="accuracy")
    assert matrix.sources == ["de", "en", "fr"] and matrix.targets == ["de", "en", "es", "fr"]
    values = [synthetic_score("de", "fr", s) for s in (42, 43, 44)]
    assert math.isclose(matrix.mean.at["de", "fr"], sum(values) / 3)
    assert math.isclose(matrix.std.at["de", "fr"], 0.01) and matrix.n.at["de", "fr"] == 3
    assert matrix.seeds[("de", "fr")] == list(zip((42, 43, 44), values))
    assert matrix.runs == 9
    # the task's metric by default (macro-F1 for sentiment)
    assert math.isclose(transfer_matrix(cells_frame(records), "sentiment").mean.at["de", "fr"], sum(values) / 3 - 0.05)


def test_a_seed_counts_once_per_cell_float32_first_then_newest(tmp_path):
    """A cell rerun in float32 after a GPU filed it in bf16, and a cell filed twice: one run per seed."""
    matrix_records(tmp_path, sources=("en", "de"), targets=("en", "de"), seeds=(42, 43))
    shifted = {"en": {"accuracy": 0.11, "macro_f1": 0.1, "n": 100, "ci95": [0.0, 0.2]},
               "de": {"accuracy": 0.11, "macro_f1": 0.1, "n": 100, "ci95": [0.0, 0.2]}}
    common = dict(task="sentiment", source_languages=["de"], seen_languages=["de"], target_languages=["en", "de"],
                  metrics=shifted, summary={"metric": "macro_f1", "target_average": 0.1})
    # a newer bf16 run of (de, 42) from a GPU: the older float32 run of that seed is kept
    write_record(make_record(run_id="de-42-bf16", seed=42, created="2030-01-01T00:00:00+00:00",
                             hardware={"device": "cuda"}, **common), tmp_path)
    # a bf16 run of a seed no float32 run has (44): it stands in
    write_record(make_record(run_id="de-44-bf16", seed=44, hardware={"device": "cuda"}, **common), tmp_path)
    # a second float32 run of (de, 43), newer: it replaces the first
    write_record(make_record(run_id="de-43-newer", seed=43, created="2030-01-01T00:00:00+00:00",
                             hardware={"device": "cpu"}, **common), tmp_path)
    records, errors = read_records(tmp_path)
    assert not errors
    matrix = transfer_matrix(cells_frame(records), "sentiment", metric="accuracy")
    assert matrix.n.at["de", "en"] == 3 and matrix.n.at["en", "en"] == 2
    assert matrix.seeds[("de", "en")] == [(42, synthetic_score("de", "en", 42)), (43, 0.11), (44, 0.11)]
    assert math.isclose(matrix.mean.at["de", "en"], (synthetic_score("de", "en", 42) + 0.22) / 3)
    assert matrix.runs == 2 + 3


def test_transfer_gap_is_cell_minus_the_targets_in_language_score(tmp_path):
    matrix = transfer_matrix(cells_frame(matrix_records(tmp_path)), "sentiment", metric="accuracy")
    gap = matrix.gap()
    assert math.isclose(gap.at["en", "de"], matrix.mean.at["en", "de"] - matrix.mean.at["de", "de"])
    assert gap.at["fr", "fr"] == 0.0
    assert gap["es"].isna().all()  # no run trained on es: no in-language score, no gap
    long = matrix.long()
    assert len(long) == 12 and set(long.columns) == {"source", "target", "score", "std", "n"}


def test_only_verified_single_source_zero_shot_runs_of_one_setting(tmp_path):
    records = matrix_records(tmp_path / "a", sources=("en",), seeds=(42,))
    records += matrix_records(tmp_path / "b", sources=("de", "fr"), seeds=(42,), protocol="test-v1")
    odd = [dict(records[0], run_id="multi-1", source_languages=["en", "de"]),
           dict(records[0], run_id="few-1", method="few-shot"),
           dict(records[0], run_id="collapsed-1", collapsed=True),
           dict(records[0], run_id="upload-1", status="submitted, unverified")]
    cells = cells_frame(records + odd)
    assert set(cells["run_id"]) == {r["run_id"] for r in records}
    settings = matrix_settings(cells, "sentiment")
    assert len(settings) == 2 and "protocol test-v1" in settings[0][1]  # two sources beat one
    matrix = transfer_matrix(cells, "sentiment")
    assert matrix.sources == ["de", "fr"]
    assert transfer_matrix(cells, "sentiment", setting=settings[1][0]).sources == ["en"]
    with pytest.raises(XltError, match="no single-source zero-shot runs"):
        transfer_matrix(cells, "nli")
    with pytest.raises(XltError, match="metric"):
        transfer_matrix(cells, "sentiment", metric="bleu")


def test_heatmap_marks_the_diagonal_and_shows_seeds_on_hover(tmp_path):
    matrix = transfer_matrix(cells_frame(matrix_records(tmp_path)), "sentiment")
    fig = figures.transfer_heatmap(matrix)
    (heat,) = fig.data
    assert heat.type == "heatmap" and list(heat.y) == matrix.sources and list(heat.x) == matrix.targets
    outlined = [(shape.name, shape.x0, shape.y0) for shape in fig.layout.shapes]
    # sources de, en, fr over targets de, en, es, fr: the in-language cells are (0, 0), (1, 1), (3, 2)
    assert outlined == [("in-language de", -0.5, -0.5), ("in-language en", 0.5, 0.5), ("in-language fr", 2.5, 1.5)]
    hover = heat.customdata[0][2]  # de → es
    assert "seeds: 42:" in hover and "std" in hover and "over 2 seeds" in hover
    gap = figures.transfer_heatmap(matrix, "gap")
    assert gap.data[0].zmid == 0 and "transfer gap" in gap.layout.title.text
    assert "3 of 4 targets" in gap.layout.title.text
    assert "unavailable" in figures.transfer_heatmap(matrix, "sideways").layout.annotations[0].text


def test_one_source_degrades_to_a_single_row(tmp_path):
    """What the committed records hold today: English-source runs only."""
    matrix = transfer_matrix(cells_frame(matrix_records(tmp_path, sources=("en",), seeds=(42,))), "sentiment")
    assert matrix.sources == ["en"] and len(matrix.targets) == 4
    fig = figures.transfer_heatmap(matrix)
    assert fig.data[0].z.shape == (1, 4) and "only source en" in fig.layout.title.text
    assert "1 seed (no spread yet)" in fig.data[0].customdata[0][0]
    gap = figures.transfer_heatmap(matrix, "gap")
    assert not gap.layout.annotations and "1 of 4 targets" in gap.layout.title.text


def test_leaderboard_transfer_view(tmp_path):
    cells = cells_frame(matrix_records(tmp_path, sources=("en", "de")))
    fig, note = board.transfer_view(cells)
    assert isinstance(fig, go.Figure) and fig.data[0].type == "heatmap" and "2 source × 4 target" in note
    fig, _ = board.transfer_view(cells, "sentiment", board.ALL, "accuracy", "gap")
    assert "transfer gap" in fig.layout.title.text
    fig, note = board.transfer_view(cells, "nli")
    assert "no single-source zero-shot runs" in fig.layout.annotations[0].text and note == ""
    fig, _ = board.transfer_view(cells.iloc[0:0])
    assert "empty" in fig.layout.annotations[0].text


def test_heatmap_follows_the_protocol_filter(tmp_path):
    """The Protocol filter picks the matrix too: a user's own runs (no protocol) get their own heatmap."""
    records = matrix_records(tmp_path / "a", sources=("en",), seeds=(42,))
    records += matrix_records(tmp_path / "b", sources=("de", "fr"), seeds=(42,), protocol="test-v1")
    cells = cells_frame(records)
    assert transfer_matrix(cells, "sentiment").sources == ["de", "fr"]  # best covered, unfiltered
    assert transfer_matrix(cells, "sentiment", protocol="").sources == ["en"]
    assert transfer_matrix(cells, "sentiment", protocol="test-v1").sources == ["de", "fr"]
    with pytest.raises(XltError, match="under protocol 'gpu-v9'"):
        transfer_matrix(cells, "sentiment", protocol="gpu-v9")
    _, note = board.transfer_view(cells, protocol=board.NO_PROTOCOL)
    assert "1 source × 4 target" in note and "recipe" in note
    _, note = board.transfer_view(cells, "sentiment", protocol="test-v1")
    assert "2 source × 4 target" in note and "protocol test-v1" in note
    fig, note = board.transfer_view(cells, protocol="gpu-v9")
    assert "of this protocol" in fig.layout.annotations[0].text and note == ""


def test_committed_records_give_at_least_a_one_row_matrix():
    from xlt.settings import repo_root

    records, errors = read_records(repo_root() / "leaderboard" / "results")
    assert errors == []
    cells = cells_frame(records)
    assert set(cells["task"]) == {"nli", "sentiment"}
    for task in sorted(set(cells["task"])):
        fig, note = board.transfer_view(cells, task)
        assert fig.data and fig.data[0].type == "heatmap", note
        assert len(fig.data[0].z) >= 1 and len(fig.data[0].z[0]) == len(get_task(task).languages)


def test_cells_say_where_their_runs_trained(tmp_path):
    """A matrix filled on two machines (CPU and a lent GPU) says so per cell, on hover."""
    records = matrix_records(tmp_path, sources=("en", "de", "fr"), seeds=(42,))
    h100 = {"device": "cuda", "gpu": "NVIDIA H100 80GB HBM3", "gpu_count": 1}
    records = [dict(r, hardware=h100) if r["source_languages"] == ["de"] else r for r in records]
    matrix = transfer_matrix(cells_frame(records), "sentiment")
    assert matrix.hardware[("de", "fr")] == ["H100 80GB HBM3"] and matrix.hardware[("en", "fr")] == ["CPU"]
    hover = figures.transfer_heatmap(matrix).data[0].customdata
    row = matrix.sources.index("de")
    assert "trained on: H100 80GB HBM3 in bf16" in hover[row][matrix.targets.index("fr")]  # 'auto' on a GPU
    assert "trained on: CPU in fp32" in hover[matrix.sources.index("en")][matrix.targets.index("fr")]
    assert matrix.precision[("de", "fr")] == ["bf16"] and matrix.precision[("en", "fr")] == ["fp32"]
