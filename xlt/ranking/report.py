"""Rankings and leave-one-out results as text: the CLI's table, the app's compact note, the README's table."""

from __future__ import annotations

import pandas as pd

from ..models.languages import language_label
from .recommend import Ranking


def _header(ranking: Ranking) -> str:
    if ranking.mode == "learned":
        scores = ", ".join(f"{kind} {ndcg:.2f}" for kind, (ndcg, _) in sorted(ranking.validation.items()))
        return (f"learned ranker: {ranking.kind} (leave-one-target-out NDCG@3 {scores}); predicted "
                f"{ranking.metric}")
    return "features only: closeness score in [0, 1], not a predicted metric"


def ranking_text(ranking: Ranking, top: int | None = None) -> str:
    """The `xlt rank` output: a header, the notes, one line per source."""
    lines = [f"Source languages for {ranking.task} → {language_label(ranking.target)}: {_header(ranking)}",
             f"measured matrix: {ranking.matrix}"]
    lines += [f"note: {note}" for note in ranking.notes]
    score_name = f"predicted {ranking.metric}" if ranking.mode == "learned" else "closeness"
    lines.append(f"{'rank':>4}  {'source':<18}{score_name:>18}{'measured':>10}  driven by")
    for i, entry in enumerate(ranking.sources[:top] if top else ranking.sources, 1):
        measured = f"{entry.measured:.3f}" if entry.measured is not None else "-"
        lines.append(f"{i:>4}  {language_label(entry.source):<18}{entry.score:>18.3f}{measured:>10}  "
                     f"{'; '.join(entry.drivers)}")
    return "\n".join(lines)


def ranking_markdown(ranking: Ranking, top: int = 3, notes: bool = True) -> str:
    """A compact note for the app: the best few sources, what drove the first, the notes (`notes=False`: the
    caller shows them once for several rankings)."""
    score = "predicted " + ranking.metric.replace("macro_f1", "macro-F1") if ranking.mode == "learned" \
        else "closeness (features only)"
    best = " · ".join(f"**{e.source}** {e.score:.2f}" + (f" (measured {e.measured:.2f})" if e.measured is not None
                                                          else "") for e in ranking.sources[:top])
    lines = [f"**Sources for {language_label(ranking.target)}** — {score}: {best}"]
    if ranking.sources and ranking.sources[0].drivers:
        lines.append(f"<small>{ranking.sources[0].source}: {'; '.join(ranking.sources[0].drivers)}</small>")
    if notes:
        lines += [f"<small>{note}</small>" for note in ranking.notes[:2]]
    return "  \n".join(lines)


def loo_markdown(task: str, table: pd.DataFrame) -> str:
    """`evaluation.summary` of one task as markdown rows (mean ± std over held-out targets)."""
    lines = ["| task | ranker | NDCG@3 | regret | top-1 hits | held-out targets |", "|---|---|---|---|---|---|"]
    for _, row in table.iterrows():
        lines.append(f"| {task} | {row['ranker']} | {row['ndcg']:.3f} ± {row['ndcg_std']:.3f} | "
                     f"{row['regret']:.4f} ± {row['regret_std']:.4f} | {row['top1']:.0%} | {int(row['targets'])} |")
    return "\n".join(lines)
