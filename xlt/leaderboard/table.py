"""Records -> tables: one row per run, or seeds aggregated as mean ± std."""

from __future__ import annotations

import pandas as pd

from ..protocols import protocol_label
from ..results.records import training_precision

BASE_COLUMNS = ["status", "task", "method", "recipe", "model", "source", "metric", "target_avg", "target_ci95",
                "premise_shuffled_avg", "transfer_gap", "source_score", "seed", "hardware", "precision", "n_targets",
                "eval_n", "eval_rows", "flags", "run_id", "created", "command"]
STATUS_BADGES = {"verified": "✓ verified", "submitted, unverified": "⚠ submitted, unverified"}


def _mean(values: list) -> float | None:
    """The mean when every value is there (a partial control would average other languages), else None."""
    return sum(values) / len(values) if values and all(v is not None for v in values) else None


def hardware_label(record: dict) -> str:
    """Where a run trained, short: the GPU's name, or CPU (runs of one setting may come from both)."""
    hardware = record.get("hardware") or {}
    if hardware.get("device") == "cuda":
        return str(hardware.get("gpu") or "GPU").replace("NVIDIA ", "")
    return "CPU"


def method_variant(record: dict) -> str:
    """What a run compares as: its method, few-shot split by K, translate-train by its target (one model per
    target), the translate methods by their translator when one is named (`translate-test via gold`, the human
    translations' upper bound, apart from MT), any other method option set (`embedding-alignment,
    mapping=center`), and the sources when they are not English alone
    (`multi-source (en+es+de)`). A run trained in half precision is its own variant (`zero-shot [bf16 on H100
    80GB HBM3]`): precision moves a cell about as much as a seed does, once by 1.6 points
    (`leaderboard/hardware-check/`), so the two are never averaged together; fp32 runs on a GPU sit beside CPU
    ones."""
    method = record["method"]
    config = record.get("config") or {}
    sources = config.get("source_languages") or record.get("source_languages") or []
    if method == "few-shot":
        shots = (config.get("method_options") or {}).get("shots")
        key = f"few-shot K={shots if shots is not None else 10}"
    else:
        key = method
    if method == "translate-train":
        key += " → " + ",".join(t for t in config.get("target_languages") or [] if t not in sources)
    options = dict(config.get("method_options") or {})
    translator = options.get("translator")
    if method.startswith("translate-") and translator:  # gold (human) translations are not MT: never one mean
        key += f" via {translator}"
    named = {"shots"} if method == "few-shot" else {"translator"} if method.startswith("translate-") else set()
    # any other non-default option makes another variant (embedding-alignment's mapping): never one mean
    rest = [f"{k}={'+'.join(map(str, v)) if isinstance(v, list) else v}" for k, v in sorted(options.items())
            if k not in named]
    if rest:
        key += ", " + ", ".join(rest)
    if list(sources) != ["en"]:
        key += f" ({'+'.join(sources)})"
    precision = training_precision(record)
    return key if precision == "fp32" else f"{key} [{precision} on {hardware_label(record)}]"


def runs_frame(records: list[dict]) -> pd.DataFrame:
    """One row per run (duplicate run ids shown once), per-language scores as `lang:<code>` columns."""
    rows, seen = [], set()
    for r in records:
        if r["run_id"] in seen:
            continue
        seen.add(r["run_id"])
        summary = r.get("summary", {})
        metric = summary.get("metric", "accuracy")
        targets = summary.get("target_languages") or []
        cis = [r["metrics"][t]["ci95"] for t in targets if r["metrics"].get(t, {}).get("ci95")]
        protocol = protocol_label(r)
        row = {
            "status": STATUS_BADGES.get(r.get("status", "verified"), "⚠ submitted, unverified"),
            "task": r["task"], "method": r["method"], "recipe": r.get("recipe") or "", "model": r["model"],
            "source": "+".join(r["source_languages"]), "metric": metric,
            "target_avg": summary.get("target_average"),
            # the mean of per-language interval bounds: a simple, conservative band for the average
            "target_ci95": (f"[{sum(c[0] for c in cis) / len(cis):.3f}, {sum(c[1] for c in cis) / len(cis):.3f}]"
                            if cis else ""),
            # NLI's hypothesis-only control over the same targets: how much of the score needs no premise
            "premise_shuffled_avg": _mean([r["metrics"].get(t, {}).get("premise_shuffled_accuracy")
                                           for t in targets]),
            "transfer_gap": summary.get("transfer_gap"), "source_score": summary.get("source_score"),
            "seed": r["seed"], "hardware": hardware_label(r), "precision": training_precision(r),
            "n_targets": len(targets),
            # the smallest per-language sample: a 100-example debug run does not pass for a full one
            "eval_n": min((m.get("n") or 0 for m in r["metrics"].values()), default=0),
            # which test rows it scored: the capped subset's digest(s) ("" for whole test files)
            "eval_rows": ",".join(sorted({m["rows"] for m in r["metrics"].values() if m.get("rows")})),
            "flags": " ".join(flag for flag, on in (("⚠ collapsed", r.get("collapsed")),
                                                    (f"⚠ protocol:{protocol}" if protocol != r.get("protocol")
                                                     else f"protocol:{protocol}", protocol))
                              if on),
            "run_id": r["run_id"], "created": r["created"], "protocol": protocol,
            "targets": ",".join(targets),
            "variant": method_variant(r),
            "shots": ((r.get("config") or {}).get("method_options") or {}).get("shots", 10)
            if r["method"] == "few-shot" else None,
            "command": r["command"],
        }
        for lang, m in r["metrics"].items():
            row[f"lang:{lang}"] = m.get(metric)
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=BASE_COLUMNS)
    # verified runs first: an unverified upload never outranks them
    return frame.sort_values(["task", "status", "target_avg"], ascending=[True, False, False],
                             na_position="last").reset_index(drop=True)


def aggregate_seeds(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over seeds of runs that share task, method variant, recipe, model, source and protocol."""
    if runs.empty:
        return runs
    # few-shot K and translate-train targets are variants of one method: never averaged together
    keys = [k for k in ("status", "task", "method", "variant", "recipe", "model", "source", "metric", "protocol")
            if k in runs.columns]
    lang_cols = [c for c in runs.columns if c.startswith("lang:")]
    grouped = runs.groupby(keys, dropna=False)
    extra = {"premise_shuffled_avg": ("premise_shuffled_avg", "mean")} if "premise_shuffled_avg" in runs else {}
    out = grouped.agg(target_avg=("target_avg", "mean"), target_std=("target_avg", "std"),
                      transfer_gap=("transfer_gap", "mean"), seeds=("seed", "nunique"),
                      command=("command", "first"), **extra).reset_index()
    if lang_cols:
        out = out.merge(grouped[lang_cols].mean().reset_index(), on=keys)
    out["target_std"] = out["target_std"].fillna(0.0)
    return out.sort_values(["task", "target_avg"], ascending=[True, False]).reset_index(drop=True)


NO_PROTOCOL = "(none)"  # the protocol filter's value for runs that name no protocol (a user's own runs)


def protocol_choices(runs: pd.DataFrame) -> list[str]:
    """The protocols of the runs, then `NO_PROTOCOL` when some runs name none."""
    if "protocol" not in runs or runs.empty:
        return []
    named = runs["protocol"].fillna("")
    return sorted(set(named) - {""}) + ([NO_PROTOCOL] if (named == "").any() else [])


def filter_runs(runs: pd.DataFrame, task: str | None = None, method: str | None = None, model: str | None = None,
                source: str | None = None, search: str = "", verified_only: bool = False,
                protocol: str | None = None) -> pd.DataFrame:
    """Filters of the leaderboard tab: exact matches (None/'All' = any; protocol `NO_PROTOCOL` = runs without
    one), verified runs only, a free-text search."""
    out = runs
    for column, value in (("task", task), ("method", method), ("model", model), ("source", source),
                          ("protocol", protocol)):
        if value and value != "All" and column in out:
            wanted = "" if (column, value) == ("protocol", NO_PROTOCOL) else value
            out = out[out[column].fillna("") == wanted]
    if verified_only and "status" in out:
        out = out[out["status"] == STATUS_BADGES["verified"]]
    if search and search.strip() and not out.empty:
        needle = search.strip().lower()
        columns = [c for c in ("task", "method", "variant", "recipe", "model", "source", "hardware", "precision",
                               "flags", "command") if c in out]
        text = out[columns].astype(str).agg(" ".join, axis=1).str.lower()
        # a target language is found by its code: rows that have a score for it
        langs = [c for c in out.columns if c.startswith("lang:")]
        text = text + " " + out[langs].notna().apply(lambda row: " ".join(c[5:] for c, v in row.items() if v),
                                                     axis=1) if langs else text
        out = out[text.str.contains(needle, regex=False)]
    return out.reset_index(drop=True)
