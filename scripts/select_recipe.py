"""Choose a fine-tuning recipe on development data, never on the test split.

Trains the zero-shot model with a candidate recipe and, at the end of every epoch, scores it
on development data in every language:

- sentiment: each language's own validation split (the tweets are not parallel);
- nli: XNLI validation rows are translations of each other, so the English training rows
  and the development rows must be disjoint *by row index*: the last `--holdout` rows are
  held out in all languages and the model trains on the rest of the English rows.

Prints one line per epoch: source score, target average, per-language scores; then the same for
uniform averages of the last k epochs' weights (checkpoint averaging). The chosen
recipe is then trained on the full source data with `xlt train` (see leaderboard/README.md).

    python scripts/select_recipe.py --task sentiment --recipe '{"finetune": "lora", "epochs": 3}'
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def main() -> None:
    from transformers import TrainerCallback

    from xlt.config import TrainConfig
    from xlt.data import load_split, texts_of
    from xlt.evaluation import dev_report
    from xlt.models.registry import resolve_model
    from xlt.tasks import get_task
    from xlt.training import TrainedClassifier, fit_linear_probe, train_classifier

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True)
    parser.add_argument("--model", default="multilingual-e5-small")
    parser.add_argument("--source", default="en")
    parser.add_argument("--recipe", default="{}", help="TrainConfig settings as JSON")
    parser.add_argument("--train-split", default=None,
                        help="sentiment: source split(s) to train on, e.g. train+validation (the source's own "
                             "dev score then means nothing; the target average still does)")
    parser.add_argument("--holdout", type=int, default=300, help="nli: development rows held out by index")
    parser.add_argument("--output-dir", default="/tmp/xlt-select")
    parser.add_argument("--init-from", default=None,
                        help="start from the encoder of this saved classifier (LoRA merged), e.g. "
                             "xlt/predictors/nli-en for English NLI as an intermediate task")
    parser.add_argument("--save-probs", default=None,
                        help="write every epoch's development probabilities here (.npz, key '<label>/<lang>'), "
                             "to score ensembles of runs afterwards")
    args = parser.parse_args()

    task, spec = get_task(args.task), resolve_model(args.model)
    config = TrainConfig(**json.loads(args.recipe))
    if task.parallel:
        full = load_split(task, args.source, task.train_split)
        n_train = len(full) - args.holdout
        train_ds = full.select(range(n_train))
        dev = {lang: load_split(task, lang, task.train_split).select(range(n_train, len(full)))
               for lang in task.languages}
    else:
        train_ds = load_split(task, args.source, args.train_split or task.train_split)
        dev = {lang: load_split(task, lang, "validation") for lang in task.languages}
    train_ds = train_ds.shuffle(seed=config.seed)

    holder: dict = {"snapshots": [], "probs": {}}

    def dev_scores(model, label: str) -> None:
        if config.loss == "supcon":  # the head is fit on the embeddings, as at the end of training
            fit_linear_probe(model, holder["tokenizer"], task, train_ds, spec.text_prefix, config.max_length,
                             config.eval_batch_size)
        trained = TrainedClassifier(model=model, tokenizer=holder["tokenizer"], info=holder["info"])
        predictions = {}
        for lang, ds in dev.items():
            first, second = texts_of(task, ds)
            probs = trained.predict_proba(first, second, batch_size=64)
            holder["probs"][f"{label}/{lang}"] = probs
            predictions[lang] = (probs, ds["label"])
        print(f"\n{label} {dev_report(task, args.source, predictions)}", flush=True)

    class EpochDev(TrainerCallback):
        def on_epoch_end(self, args_, state, control, model=None, **kwargs):
            holder["model"] = model
            holder["snapshots"].append({k: p.detach().clone() for k, p in model.named_parameters()
                                        if p.requires_grad})
            dev_scores(model, f"epoch {state.epoch:.2f}")
            model.train()

    from xlt.models.loading import ClassifierInfo, load_tokenizer

    holder["tokenizer"] = load_tokenizer(spec)
    holder["info"] = ClassifierInfo(base_model=spec.name, task=task.name, label_names=list(task.label_names),
                                    text_fields=list(task.text_fields), pooling=spec.pooling,
                                    text_prefix=spec.text_prefix, max_length=config.max_length,
                                    finetune=config.finetune)
    start = time.time()
    print(f"recipe {config.to_dict()} train={len(train_ds)} dev={ {k: len(v) for k, v in dev.items()} }", flush=True)
    encoder = None
    if args.init_from:
        from xlt.models.loading import load_classifier

        encoder = load_classifier(args.init_from, merge=True)[0].encoder
    train_classifier(task, spec, train_ds, config, f"{args.output_dir}/{int(start)}", callbacks=[EpochDev()],
                     resume=False, encoder=encoder)
    print(f"done in {time.time() - start:.0f}s", flush=True)
    # checkpoint averaging (uniform mean of the weights at the end of the last k epochs)
    model, snapshots = holder["model"], holder["snapshots"]
    model.eval()
    for k in range(2, len(snapshots) + 1):
        with torch.no_grad():
            params = dict(model.named_parameters())
            for name in snapshots[-1]:
                params[name].copy_(torch.stack([snap[name] for snap in snapshots[-k:]]).mean(0))
        dev_scores(model, f"average of last {k} epochs")
    if args.save_probs:
        import numpy as np

        labels = {f"labels/{lang}": np.asarray(ds["label"]) for lang, ds in dev.items()}
        np.savez_compressed(args.save_probs, **holder["probs"], **labels)


if __name__ == "__main__":
    main()
