"""Which source language to train on for a target: the learned ranker when the measured matrix allows one,
else a ranking from the pair features alone (and the ranking says which it is)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ..errors import XltError
from .evaluation import MIN_SOURCES, can_learn, select_kind
from .features import PairFeatures, cached_pair_features, check_language
from .ranker import LearnedRanker, feature_text, features_only_scores, order, training_cells, without_language


@dataclass
class RankedSource:
    source: str
    score: float  # learned: the predicted metric; features only: a closeness score in [0, 1]
    measured: float | None = None  # the matrix cell source → target, when it was measured
    drivers: list[str] = field(default_factory=list)


@dataclass
class Ranking:
    task: str
    target: str
    metric: str
    mode: str  # "learned" or "features only"
    sources: list[RankedSource]
    notes: list[str] = field(default_factory=list)
    kind: str | None = None  # the learned ranker's kind
    validation: dict = field(default_factory=dict)  # kind -> (leave-one-target-out NDCG@3, regret)
    matrix: str = ""  # what the measured matrix holds
    target_measured: bool = False


def rank_sources(records: list[dict], task: str, target: str, model: str | None = None, metric: str | None = None,
                 features: PairFeatures | None = None) -> Ranking:
    """Rank the task's languages as sources for `target`.

    Args:
        records: result records (the leaderboard's); their single-source zero-shot runs make the matrix.
        task: task name.
        target: ISO code of the language to transfer to (need not be one of the task's: then it is ranked
            from its features alone).
        model: the encoder whose runs, tokenizer and coverage count (default: the best covered matrix's).
        metric: accuracy or macro_f1 (default: the task's).
        features: precomputed pair features covering the task's languages and the target (tests).
    """
    from ..leaderboard.matrix import cells_frame, transfer_matrix
    from ..tasks import get_task

    spec = get_task(task)
    target = check_language(target, spec)
    if metric not in (None, "", "default", "accuracy", "macro_f1"):
        raise XltError(f"metric must be accuracy or macro_f1, got {metric!r}")
    try:
        matrix = transfer_matrix(cells_frame(records), spec.name, metric, model)
    except XltError:  # no single-source zero-shot runs (of this model) yet
        matrix = None
    metric = matrix.metric if matrix else (metric if metric not in (None, "", "default") else spec.metric)
    candidates = [lang for lang in spec.languages if lang != target]
    if features is None:
        features = cached_pair_features(spec, [*spec.languages, target], model or (matrix.model if matrix else None))
    frame = features.frame
    notes = list(features.notes)
    measured = {}
    if matrix is not None and target in matrix.targets:
        measured = {s: float(v) for s, v in matrix.mean[target].items() if s != target and pd.notna(v)}
    described = (f"{len(matrix.sources)} source × {len(matrix.targets)} target languages, {matrix.runs} runs, "
                 f"{matrix.setting_label}" if matrix else "no single-source zero-shot runs")
    ranking = Ranking(task=spec.name, target=target, metric=metric, mode="features only", sources=[], notes=notes,
                      matrix=described, target_measured=bool(measured))
    cells = training_cells(matrix) if matrix is not None else None
    train = without_language(cells, target) if cells is not None else None
    if train is not None and can_learn(train):
        kind, validation = select_kind(train, frame)
        ranker = LearnedRanker(kind).fit(train, frame)
        relative = ranker.predict(target, candidates, frame)
        # the level shifts every source alike: the mean over the other measured targets, never the target's own
        # measurements (a predicted score must not lean on what it is shown beside)
        level = float(train.groupby("target")["score"].mean().mean())
        for s in order(relative):
            drivers = [f"{feature_text(name, frame.at[(s, target), name])} ({effect:+.3f})"
                       for name, effect in ranker.drivers(s, target, frame)]
            ranking.sources.append(RankedSource(s, level + relative[s], measured.get(s), drivers))
        ranking.mode, ranking.kind, ranking.validation = "learned", kind, validation
        trained_on = train["target"].nunique()
        if measured:
            notes.insert(0, f"the ranker learned from {len(train)} cells on {trained_on} other targets, without any "
                            f"measurement of {target} (its predicted scores sit at those targets' mean level); "
                            f"'measured' is what {target} really got")
        else:
            notes.insert(0, f"{target} is outside the measured set: ranked from its features alone by a ranker "
                            f"learned from {len(train)} cells on {trained_on} measured targets")
        return ranking
    other_sources = [s for s in matrix.sources if s != target] if matrix is not None else []
    have = len(other_sources)
    sources_text = f" ({', '.join(other_sources)})" if other_sources else ""
    notes.insert(0, f"the learned ranker needs measured transfer from at least {MIN_SOURCES} source languages "
                    f"besides {target}; the {spec.name} matrix has {have}{sources_text}: ranking from features alone "
                    "(typological closeness, subword overlap, script, pre-training coverage), not a predicted score")
    if not measured:
        notes.insert(1, f"{target} is outside the measured set: no source has a measured score on it")
    scores = features_only_scores(frame, target, candidates)
    for s in order({s: v[0] for s, v in scores.items()}):
        row = frame.loc[(s, target)]
        shown = ["typological distance", "subword_overlap", "script_match"]
        drivers = [feature_text("typological distance", float(row[["syntax", "phonology", "inventory"]].mean()))
                   if name == "typological distance" else feature_text(name, float(row[name])) for name in shown]
        ranking.sources.append(RankedSource(s, scores[s][0], measured.get(s), drivers))
    return ranking
