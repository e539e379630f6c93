"""Plotly figures of the leaderboard. A figure that cannot be drawn shows its error instead."""

from __future__ import annotations

import functools

import pandas as pd
import plotly.graph_objects as go

from ..protocols import NOT_FOLLOWED


def error_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"size": 14, "color": "#b00020"})
    fig.update_layout(xaxis={"visible": False}, yaxis={"visible": False}, height=300)
    return fig


def safe_figure(build):
    """Decorator: any exception (or empty data) becomes a placeholder figure with the reason."""

    @functools.wraps(build)
    def wrapper(*args, **kwargs):
        try:
            return build(*args, **kwargs)
        except Exception as exc:  # a figure must never break the tab
            return error_figure(f"{build.__name__.replace('_', ' ')} unavailable: {type(exc).__name__}: {exc}")

    return wrapper


def _lang_columns(runs: pd.DataFrame) -> list[str]:
    return [c for c in runs.columns if c.startswith("lang:")]


@safe_figure
def transfer_heatmap(matrix, view: str = "score") -> go.Figure:
    """A `TransferMatrix` as a source × target heatmap: the diagonal (in-language cells) outlined, each cell's
    seeds and spread on hover. `view="gap"` shows each cell minus its target's in-language score."""
    if view not in ("score", "gap"):
        raise ValueError(f"view must be 'score' or 'gap', got {view!r}")
    own = matrix.in_language()
    z = matrix.gap() if view == "gap" else matrix.mean
    metric = matrix.metric.replace("macro_f1", "macro-F1")
    hover = []
    for s in matrix.sources:
        row = []
        for t in matrix.targets:
            n = int(matrix.n.at[s, t])
            if not n:
                row.append(f"source {s} → target {t}: not measured")
                continue
            seeds = ", ".join(f"{seed}: {value:.3f}" for seed, value in matrix.seeds.get((s, t), []))
            spread = f"std {matrix.std.at[s, t]:.3f} over {n} seeds" if n > 1 else "1 seed (no spread yet)"
            text = f"source {s} → target {t}<br>{metric} {matrix.mean.at[s, t]:.3f} ({spread})<br>seeds: {seeds}"
            if matrix.hardware.get((s, t)):
                text += f"<br>trained on: {', '.join(matrix.hardware[(s, t)])}"
                if matrix.precision.get((s, t)):  # a bf16 seed beside a float32 one is not seed noise
                    text += f" in {', '.join(matrix.precision[(s, t)])}"
            if view == "gap":
                text += (f"<br>in-language {t}: {own[t]:.3f}, gap {z.at[s, t]:+.3f}" if pd.notna(own[t])
                         else f"<br>no run trained on {t}: no gap")
            row.append(text)
        hover.append(row)
    colors = {"colorscale": "RdBu", "zmid": 0.0} if view == "gap" else {"colorscale": "Viridis"}
    fig = go.Figure(go.Heatmap(z=z.values, x=matrix.targets, y=matrix.sources, customdata=hover,
                               hovertemplate="%{customdata}<extra></extra>", texttemplate="%{z:.2f}",
                               colorbar={"title": "gap" if view == "gap" else metric}, **colors))
    for lang in matrix.sources:  # the diagonal: each in-language cell outlined (category axes count cells 0, 1, ...)
        if lang in matrix.targets:
            x, y = matrix.targets.index(lang), matrix.sources.index(lang)
            fig.add_shape(type="rect", x0=x - 0.5, x1=x + 0.5, y0=y - 0.5, y1=y + 0.5, name=f"in-language {lang}",
                          line={"color": "black", "width": 3})
    title = f"{matrix.task}: source × target {metric}" if view == "score" else \
        f"{matrix.task}: transfer gap (cell − target's in-language {metric})"
    notes = [f"{matrix.setting_label}; {matrix.runs} run(s)"]
    if len(matrix.sources) == 1:
        notes.append(f"only source {matrix.sources[0]} measured so far")
    if view == "gap":
        have = int(own.notna().sum())
        if have < len(matrix.targets):
            notes.append(f"{have} of {len(matrix.targets)} targets have an in-language run")
    fig.update_layout(title={"text": f"{title}<br><sup>{'; '.join(notes)}</sup>"}, xaxis_title="target language",
                      yaxis_title="source language", height=max(300, 170 + 40 * len(matrix.sources)),
                      xaxis={"type": "category"}, yaxis={"type": "category", "autorange": "reversed"})
    return fig


def comparison_runs(sel: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The runs a method comparison may put side by side, and a note naming that setting: one protocol (the
    most common named one; runs without a protocol only where none has one, e.g. when filtered to them) and,
    of `zero-shot`, only the runs from the baseline source (the single source the other methods use, else
    English): zero-shot runs from other languages are the transfer matrix, and a target's own in-language
    run is no baseline. `scripts/methods_table.py` selects the README's table with it too."""
    notes = []
    if "protocol" in sel and (sel["protocol"].fillna("") != "").any():
        named = sel[sel["protocol"].fillna("") != ""]
        kept = named[~named["protocol"].str.endswith(NOT_FOLLOWED)]  # never a protocol's broken runs by default
        protocol = (kept if len(kept) else named)["protocol"].value_counts().idxmax()
        left_out = int((sel["protocol"] != protocol).sum())
        sel = sel[sel["protocol"] == protocol]
        notes.append(f"protocol {protocol}" + (f" ({left_out} other run(s): pick them with the Protocol filter)"
                                               if left_out else ""))
    zero = sel["method"] == "zero-shot"
    single = [s for s in sel.loc[~zero, "source"] if "+" not in s]
    zero_sources = sel.loc[zero, "source"]
    if single:
        base = pd.Series(single).value_counts().idxmax()
    elif (zero_sources == "en").any():
        base = "en"
    else:
        base = zero_sources.value_counts().idxmax() if len(zero_sources) else None
    if base is not None:
        sel = sel[~zero | (sel["source"] == base)]
        notes.append(f"zero-shot from {base}")
    return sel, "; ".join(notes)


@safe_figure
def method_comparison(runs: pd.DataFrame, task: str) -> go.Figure:
    """Target average per method variant (few-shot by K, translate-train by target, multi-source by sources)
    and model, mean over seeds with std error bars, within one comparison setting (`comparison_runs`)."""
    sel = runs[runs["task"] == task]
    if sel.empty:
        raise ValueError(f"no runs for task {task!r}")
    sel, note = comparison_runs(sel)
    sel = sel[sel["target_avg"].notna()]
    if sel.empty:
        raise ValueError(f"no {task} run has a target-language average")
    label = "variant" if "variant" in sel else "method"
    recipe = sel["recipe"] if "recipe" in sel else pd.Series("", index=sel.index)
    # a bar is one training recipe, each seed once (its newest run): runs outside a protocol mix recipes, and a
    # cell run again counted its seed twice
    sel = sel.assign(recipe=recipe.fillna(""))
    if "seed" in sel and "created" in sel:
        sel = sel.sort_values("created").drop_duplicates([label, "model", "recipe", "seed"], keep="last")
    several = sel.groupby([label, "model"])["recipe"].transform("nunique") > 1
    sel = sel.assign(bar=sel[label].where(~several, sel[label] + " · " + _short_recipes(sel["recipe"])))
    grouped = sel.groupby(["bar", "model"]).agg(mean=("target_avg", "mean"), std=("target_avg", "std"),
                                                seeds=("target_avg", "count"), targets=("n_targets", "max"),
                                                recipe=("recipe", "first")).reset_index()
    fig = go.Figure()
    for model, part in grouped.groupby("model"):
        fig.add_trace(go.Bar(x=part["bar"], y=part["mean"], name=model,
                             error_y={"type": "data", "array": part["std"].fillna(0.0)},
                             customdata=part[["seeds", "targets", "recipe"]].to_numpy(),
                             hovertemplate="%{x}: %{y:.3f} (%{customdata[0]} seed(s), average over "
                                           "%{customdata[1]} target languages)<br>%{customdata[2]}<extra>"
                                           + model + "</extra>"))
    title = f"{task}: target-language average by method"
    fig.update_layout(title={"text": title + (f"<br><sup>{note}; each bar averages its own targets "
                                              "(hover)</sup>" if note else "")},
                      barmode="group", yaxis_title=sel["metric"].iloc[0], height=380)
    return fig


def _short_recipes(recipes: pd.Series) -> pd.Series:
    """Each recipe as the settings in which it differs from the others of the chart (the whole one: hover)."""
    split = {r: dict(part.split("=", 1) for part in r.split() if "=" in part) for r in recipes.unique()}
    keys = sorted({k for d in split.values() for k in d})
    differ = [k for k in keys if len({d.get(k) for d in split.values()}) > 1]
    return recipes.map(lambda r: " ".join(f"{k}={split[r][k]}" for k in differ if k in split[r]) or r or "default")


@safe_figure
def per_language_bars(runs: pd.DataFrame, run_ids: list[str] | None = None, task: str | None = None) -> go.Figure:
    """Per-language scores of a few runs side by side (default: the best run of the task)."""
    sel = runs if task is None else runs[runs["task"] == task]
    if run_ids:
        sel = sel[sel["run_id"].isin(run_ids)]
    else:
        sel = sel.sort_values("target_avg", ascending=False).head(1)
    if sel.empty:
        raise ValueError("no runs selected")
    fig = go.Figure()
    for _, row in sel.iterrows():
        langs = [c for c in _lang_columns(sel) if pd.notna(row[c])]
        fig.add_trace(go.Bar(x=[c.split(":", 1)[1] for c in langs], y=[row[c] for c in langs],
                             name=f"{row.get('variant') or row['method']} · {row['model']} · {row['source']}"))
    fig.update_layout(title="per-language scores", yaxis_title=sel["metric"].iloc[0], barmode="group", height=360)
    return fig


@safe_figure
def learning_curve(runs: pd.DataFrame, task: str) -> go.Figure:
    """Few-shot runs as curves: target-language score against K (shots per language), mean over seeds,
    with the zero-shot runs of the task at K = 0."""
    sel = runs[runs["task"] == task]
    few = sel[sel["method"] == "few-shot"] if "shots" in sel else sel.iloc[0:0]
    if few.empty:
        raise ValueError(f"no few-shot runs for task {task!r} yet")
    sel, note = comparison_runs(sel[sel["method"].isin(["few-shot", "zero-shot"])])
    if "precision" in sel and sel["precision"].nunique() > 1:  # one curve never mixes bf16 and fp32 training
        common = sel["precision"].value_counts().idxmax()
        left_out = int((sel["precision"] != common).sum())
        sel = sel[sel["precision"] == common]
        note = "; ".join(x for x in (note, f"{common} training only ({left_out} other run(s) left out)") if x)
    few, zero = sel[sel["method"] == "few-shot"], sel[sel["method"] == "zero-shot"]
    if few.empty:
        raise ValueError(f"no few-shot runs of {note or 'one setting'} for task {task!r} yet")
    langs = [c for c in _lang_columns(few) if few[c].notna().any()]
    sources = set("+".join(s.split("+")) for s in few["source"])
    fig = go.Figure()
    for col in langs:
        lang = col.split(":", 1)[1]
        if lang in sources:
            continue
        points = few.groupby("shots")[col].agg(["mean", "std"]).reset_index()
        if not zero.empty and col in zero:
            points = pd.concat([pd.DataFrame({"shots": [0], "mean": [zero[col].mean()], "std": [zero[col].std()]}),
                                points])
        fig.add_trace(go.Scatter(x=points["shots"], y=points["mean"], mode="lines+markers", name=lang,
                                 error_y={"type": "data", "array": points["std"].fillna(0.0)}))
    fig.update_layout(title={"text": f"{task}: few-shot learning curve (K target examples per language)"
                                     + (f"<br><sup>{note}</sup>" if note else "")},
                      xaxis_title="K (0 = zero-shot)", yaxis_title=sel["metric"].iloc[0], height=360)
    return fig
