"""Leave-one-target-language-out evaluation of source rankers: NDCG@3 and regret per held-out target.

For each measured target t, the rankers learn from the cells that hold no measurement of t (t is left out as
a target and as a source, as a language never measured would be) and rank the sources measured on t.
- NDCG@3: gains are each source's measured score minus the worst candidate's, so a swap of two sources within
  noise of each other costs little; 1 is the measured order.
- regret: the best source's measured score minus the top-ranked source's.
Baselines: always English (then the typologically nearest), and the typologically nearest language.
"""

from __future__ import annotations

import math

import pandas as pd

from .ranker import KINDS, LearnedRanker, english_order, nearest_order, order, without_language

BASELINES = {"always English": english_order, "typologically nearest": nearest_order}
SELECTED = "learned (kind chosen per fold)"


def ndcg_at_k(true: dict[str, float], ranked: list[str], k: int = 3) -> float:
    worst = min(true.values())
    gains = {s: v - worst for s, v in true.items()}
    dcg = sum(gains[s] / math.log2(i + 2) for i, s in enumerate(ranked[:k]))
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(gains.values(), reverse=True)[:k]))
    return 1.0 if ideal <= 0 else dcg / ideal


def regret(true: dict[str, float], ranked: list[str]) -> float:
    return max(true.values()) - true[ranked[0]]


def evaluable_targets(cells: pd.DataFrame, min_candidates: int = 2) -> list[str]:
    counts = cells.groupby("target")["source"].nunique()
    return sorted(counts[counts >= min_candidates].index)


def _learned_order(kind: str, train: pd.DataFrame, features: pd.DataFrame, target: str, sources: list[str]):
    return order(LearnedRanker(kind).fit(train, features).predict(target, sources, features))


def leave_one_target_out(cells: pd.DataFrame, features: pd.DataFrame, kinds=KINDS, baselines=True,
                         select=True) -> pd.DataFrame:
    """One row per (held-out target, ranker): ndcg@3, regret, candidates. `cells`: `training_cells(matrix)`.

    `select`: also the learned ranker whose kind is chosen inside each fold by leave-one-out on that fold's
    training targets (what `xlt rank` does), so the choice never sees the held-out target.
    """
    rows = []
    for target in evaluable_targets(cells):
        held = cells[cells["target"] == target]
        true = dict(zip(held["source"], held["score"]))
        sources = sorted(true)
        train = without_language(cells, target)
        orders = {}
        if len(evaluable_targets(train)) >= 1 and train["source"].nunique() >= 2:
            for kind in kinds:
                orders[kind] = _learned_order(kind, train, features, target, sources)
            if select:
                orders[SELECTED] = orders[select_kind(train, features, kinds)[0]]
        if baselines:
            for name, rank in BASELINES.items():
                orders[name] = rank(features, target, sources)
        for name, ranked in orders.items():
            rows.append({"target": target, "ranker": name, "ndcg@3": ndcg_at_k(true, ranked),
                         "regret": regret(true, ranked), "candidates": len(sources), "top": ranked[0],
                         "best": max(true, key=true.get)})
    return pd.DataFrame(rows, columns=["target", "ranker", "ndcg@3", "regret", "candidates", "top", "best"])


def select_kind(cells: pd.DataFrame, features: pd.DataFrame, kinds=KINDS) -> tuple[str, dict]:
    """The kind of learned ranker that validates better (leave-one-target-out mean NDCG@3, then lower regret;
    the linear model when they tie or too few targets are measured) and {kind: (ndcg, regret)}."""
    results = leave_one_target_out(cells, features, kinds, baselines=False, select=False)
    if results.empty:
        return "linear", {}
    means = results.groupby("ranker")[["ndcg@3", "regret"]].mean()
    scores = {kind: (float(means.at[kind, "ndcg@3"]), float(means.at[kind, "regret"])) for kind in means.index}
    best = max(scores, key=lambda k: (round(scores[k][0], 9), -round(scores[k][1], 9), k == "linear"))
    return best, scores


def summary(results: pd.DataFrame) -> pd.DataFrame:
    """Per ranker: mean and std of NDCG@3 and regret over the held-out targets, and their number."""
    grouped = results.groupby("ranker", sort=False)
    out = grouped.agg(ndcg=("ndcg@3", "mean"), ndcg_std=("ndcg@3", "std"), regret=("regret", "mean"),
                      regret_std=("regret", "std"), targets=("target", "nunique"),
                      top1=("top", "size")).reset_index()
    hits = results.assign(hit=results["top"] == results["best"]).groupby("ranker", sort=False)["hit"].mean()
    out["top1"] = out["ranker"].map(hits)
    return out.fillna({"ndcg_std": 0.0, "regret_std": 0.0})
