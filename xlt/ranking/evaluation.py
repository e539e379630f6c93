"""Leave-one-target-language-out evaluation of source rankers: NDCG@3 and regret per held-out target.

For each measured target t, the rankers learn from the cells that hold no measurement of t (t is left out as
a target and as a source, as a language never measured would be) and rank the sources measured on t.
- NDCG@3: gains are each source's measured score minus the worst candidate's; 1 is the measured order. It is
  normalised per target, so a target whose sources all score within noise of each other weighs as much as one
  with a wide spread: read it beside regret, which is in the metric's units.
- regret: the best source's measured score minus the top-ranked source's.
- top-1 hit: the top-ranked source scores as well as the best (a tie for best counts).
Baselines: always English (then the typologically nearest), the typologically nearest language, and a random
order, whose NDCG@3, regret and top-1 hit are the exact expectations over all orders (no sampling).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .ranker import KINDS, LearnedRanker, english_order, nearest_order, order, without_language

BASELINES = {"always English": english_order, "typologically nearest": nearest_order}
SELECTED = "learned (kind chosen per fold)"
RANDOM = "random order (expected)"
MIN_SOURCES = 3  # fewer measured source languages (the target itself not counted): no learned ranker
TIE = 1e-9  # scores closer than this are equal (XNLI accuracies come in steps of 1/1500)


def ndcg_at_k(true: dict[str, float], ranked: list[str], k: int = 3) -> float:
    worst = min(true.values())
    gains = {s: v - worst for s, v in true.items()}
    dcg = sum(gains[s] / math.log2(i + 2) for i, s in enumerate(ranked[:k]))
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(gains.values(), reverse=True)[:k]))
    return 1.0 if ideal <= 0 else dcg / ideal


def regret(true: dict[str, float], ranked: list[str]) -> float:
    return max(true.values()) - true[ranked[0]]


def random_order_expectation(true: dict[str, float], k: int = 3) -> dict[str, float]:
    """NDCG@k, regret and top-1 hit of a uniformly random order, in expectation: every source is equally likely
    at every position, so each position's expected gain is the mean gain."""
    worst, best = min(true.values()), max(true.values())
    gains = [v - worst for v in true.values()]
    mean_gain = sum(gains) / len(gains)
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(gains, reverse=True)[:k]))
    expected = sum(mean_gain / math.log2(i + 2) for i in range(min(k, len(gains))))
    return {f"ndcg@{k}": 1.0 if ideal <= 0 else expected / ideal, "regret": best - sum(true.values()) / len(true),
            "hit": sum(best - v <= TIE for v in true.values()) / len(true)}


def evaluable_targets(cells: pd.DataFrame, min_candidates: int = 2) -> list[str]:
    counts = cells.groupby("target")["source"].nunique()
    return sorted(counts[counts >= min_candidates].index)


def can_learn(train: pd.DataFrame) -> bool:
    """Whether cells suffice for a learned ranker that picks its kind: `MIN_SOURCES` source languages, and two
    targets to validate on (the kind is chosen by leave-one-target-out among them). `xlt rank` and the evaluation
    both ask this of the cells left without the target."""
    return train["source"].nunique() >= MIN_SOURCES and len(evaluable_targets(train)) >= 2


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
        # the inner leave-one-out of `select_kind` (select=False) validates a kind on one remaining target
        enough = can_learn(train) if select else train["source"].nunique() >= 2 and len(evaluable_targets(train)) >= 1
        if enough:
            for kind in kinds:
                orders[kind] = _learned_order(kind, train, features, target, sources)
            if select:
                orders[SELECTED] = orders[select_kind(train, features, kinds)[0]]
        if baselines:
            for name, rank in BASELINES.items():
                orders[name] = rank(features, target, sources)
        best = max(true, key=true.get)
        for name, ranked in orders.items():
            gap = regret(true, ranked)
            rows.append({"target": target, "ranker": name, "ndcg@3": ndcg_at_k(true, ranked), "regret": gap,
                         "hit": float(gap <= TIE), "candidates": len(sources), "top": ranked[0], "best": best,
                         "order": ",".join(ranked)})
        if baselines:
            rows.append({"target": target, "ranker": RANDOM, **random_order_expectation(true),
                         "candidates": len(sources), "top": "", "best": best, "order": ""})
    return pd.DataFrame(rows, columns=["target", "ranker", "ndcg@3", "regret", "hit", "candidates", "top", "best",
                                       "order"])


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
                      regret_std=("regret", "std"), targets=("target", "nunique"), top1=("hit", "mean")).reset_index()
    return out.fillna({"ndcg_std": 0.0, "regret_std": 0.0})


def paired(results: pd.DataFrame, ranker: str, baseline: str) -> dict:
    """`ranker` against `baseline` target by target, on the targets both ranked: on how many its NDCG@3 is higher,
    lower or level, the same for regret (lower is better), and two-sided sign-test p-values (level targets left
    out). The folds share training cells, so targets are not independent tests: read p as a guide. Not for the
    random order's expectation: a random order beats its own mean on regret far from half the time."""
    if RANDOM in (ranker, baseline):
        raise ValueError("a sign test needs a ranker that is better half the time by chance, not an expectation")
    wide = results.pivot(index="target", columns="ranker", values=["ndcg@3", "regret"])
    wide = wide[wide[("ndcg@3", ranker)].notna() & wide[("ndcg@3", baseline)].notna()]
    out = {"targets": len(wide)}
    for metric, better_sign in (("ndcg@3", 1), ("regret", -1)):
        diff = (wide[(metric, ranker)] - wide[(metric, baseline)]) * better_sign
        better, worse = int((diff > TIE).sum()), int((diff < -TIE).sum())
        out[metric] = {"better": better, "worse": worse, "level": len(diff) - better - worse,
                       "p": sign_test(better, worse)}
    return out


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact binomial sign test of `wins` against `losses` (p = 0.5 each)."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(wins, losses) + 1)) / 2**n
    return min(1.0, 2 * tail)


def noise_against_gaps(matrix, cells: pd.DataFrame) -> dict:
    """How far apart the sources a ranker orders are, against how much a cell moves from seed to seed.

    `cells`: `training_cells(matrix)`. Seed noise is the median per-seed std of the cells whose 2+ seeds share a
    precision (a bf16 seed beside a float32 one is not seed noise); two cell means of n seeds each then differ
    by chance by about std·√(2/n). The gap is the median, over targets, of the best source minus the second best.
    """
    cell_keys = zip(cells["source"], cells["target"])
    one_precision = pd.Series([len(matrix.precision.get(cell, [])) == 1 for cell in cell_keys], index=cells.index)
    multi = cells[one_precision & (cells["n"] >= 2)]
    gaps = [float(top.iloc[0] - top.iloc[1]) for _, column in cells.groupby("target")["score"]
            if len(top := column.nlargest(2)) == 2]
    std = float(multi["std"].median()) if len(multi) else None
    n = float(multi["n"].median()) if len(multi) else None
    return {"seeds_per_cell": sorted({int(v) for v in cells["n"]}), "noise_cells": len(multi), "seed_std": std,
            "difference_noise": std * math.sqrt(2 / n) if std is not None else None,
            "gap": float(np.median(gaps)) if gaps else None, "mixed_precision_cells": int((~one_precision).sum())}
