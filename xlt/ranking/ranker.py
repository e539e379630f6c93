"""Source rankers: learned from measured transfer cells (gradient boosting or a linear model), and the orders
that need no training (features only, always English, typologically nearest).

A learned ranker predicts how much better than the average source a source transfers to a target (the cell
minus the mean of the target's column): a ranking needs only that, and it removes how hard each target is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import XltError
from .features import FEATURES, LABELS, typological_distance

KINDS = ("gradient boosting", "linear")


def make_model(kind: str):
    """An unfitted sklearn pipeline of the named kind (missing features imputed with the training median)."""
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    impute = SimpleImputer(strategy="median", keep_empty_features=True)
    if kind == "gradient boosting":
        return make_pipeline(impute, GradientBoostingRegressor(n_estimators=150, max_depth=2, learning_rate=0.05,
                                                               min_samples_leaf=3, random_state=0))
    if kind == "linear":
        return make_pipeline(impute, StandardScaler(), Ridge(alpha=1.0))
    raise XltError(f"unknown ranker kind {kind!r}; known: {', '.join(KINDS)}")


def training_cells(matrix) -> pd.DataFrame:
    """The off-diagonal cells of a `TransferMatrix` (source, target, score, std, n) with `relative`: the score
    minus the mean of its target's column."""
    cells = matrix.long()
    cells = cells[cells["source"] != cells["target"]].reset_index(drop=True)
    cells["relative"] = cells["score"] - cells.groupby("target")["score"].transform("mean")
    return cells


def without_language(cells: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Cells that hold no measurement of `lang`, as a target or as a source (a held-out language), `relative`
    recomputed without it."""
    kept = cells[(cells["target"] != lang) & (cells["source"] != lang)].reset_index(drop=True)
    kept["relative"] = kept["score"] - kept.groupby("target")["score"].transform("mean")
    return kept


def _matrix(features: pd.DataFrame, pairs) -> np.ndarray:
    return features.loc[list(pairs), list(FEATURES)].to_numpy(dtype=float)


@dataclass
class LearnedRanker:
    """A model of the relative score of (source, target) from the pair's features."""

    kind: str
    model: object = None
    reference: np.ndarray = field(default=None, repr=False)  # per-feature training medians (for drivers)

    def fit(self, cells: pd.DataFrame, features: pd.DataFrame) -> LearnedRanker:
        x = _matrix(features, zip(cells["source"], cells["target"]))
        self.model = make_model(self.kind).fit(x, cells["relative"].to_numpy(dtype=float))
        self.reference = self.model[0].statistics_
        return self

    def predict(self, target: str, sources: list[str], features: pd.DataFrame) -> dict[str, float]:
        if not sources:
            return {}
        x = _matrix(features, [(s, target) for s in sources])
        return dict(zip(sources, self.model.predict(x).tolist()))

    def drivers(self, source: str, target: str, features: pd.DataFrame, top: int = 3) -> list[tuple[str, float]]:
        """The features that moved this pair's prediction most: (feature, change in prediction when the feature
        is set to its training median instead of this pair's value), largest first."""
        x = _matrix(features, [(source, target)])
        base = float(self.model.predict(x)[0])
        probes = np.repeat(x, len(FEATURES), axis=0)
        for j in range(len(FEATURES)):
            probes[j, j] = self.reference[j]
        effects = base - self.model.predict(probes)
        ranked = sorted(zip(FEATURES, effects.tolist()), key=lambda kv: -abs(kv[1]))
        return [(name, effect) for name, effect in ranked[:top] if abs(effect) > 1e-9]


def order(scores: dict[str, float]) -> list[str]:
    """Sources by score, highest first (NaN last; ties by code)."""
    return sorted(scores, key=lambda s: (-scores[s] if np.isfinite(scores[s]) else np.inf, s))


def nearest_order(features: pd.DataFrame, target: str, sources: list[str]) -> list[str]:
    """The typologically nearest sources first (mean syntax/phonology/inventory distance to the target)."""
    distance = typological_distance(features.loc[[(s, target) for s in sources]])
    return order({s: -float(d) for s, d in zip(sources, distance)})


def english_order(features: pd.DataFrame, target: str, sources: list[str]) -> list[str]:
    """English first, then the others typologically nearest first."""
    rest = nearest_order(features, target, [s for s in sources if s != "en"])
    return (["en"] if "en" in sources else []) + rest


# Features-only score: closeness signals, each scaled to [0, 1] over the candidates, averaged
CLOSENESS = {"typological closeness": lambda f: 1.0 - typological_distance(f),
             "subword overlap": lambda f: f["subword_overlap"], "same script": lambda f: f["script_match"],
             "source in pre-training": lambda f: f["source_covered"]}


def features_only_scores(features: pd.DataFrame, target: str, sources: list[str]) -> dict[str, tuple[float, dict]]:
    """{source: (score in [0, 1], {signal: scaled value})} without any measured transfer: the mean of the
    closeness signals that differ among the candidates, each min-max scaled (not a predicted metric)."""
    rows = features.loc[[(s, target) for s in sources]]
    parts = {}
    for name, signal in CLOSENESS.items():
        values = pd.Series(signal(rows).to_numpy(dtype=float), index=sources)
        low, high = values.min(skipna=True), values.max(skipna=True)
        if pd.notna(low) and high > low:
            parts[name] = ((values - low) / (high - low)).fillna(0.0)
    out = {}
    for s in sources:
        signals = {name: float(v[s]) for name, v in parts.items()}
        out[s] = (float(np.mean(list(signals.values()))) if signals else 0.0, signals)
    return out


def feature_text(name: str, value: float) -> str:
    """`subword overlap 0.31`, `same script yes`."""
    if not np.isfinite(value):
        return f"{LABELS.get(name, name)} unknown"
    if name in ("script_match", "source_covered", "target_covered"):
        return f"{LABELS[name]} {'yes' if value >= 0.5 else 'no'}"
    return f"{LABELS.get(name, name)} {value:.2f}"
