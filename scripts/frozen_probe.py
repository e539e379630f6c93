"""Reference point for recipe search: logistic regression on frozen, unit-length encoder embeddings.

Embeds the source training split and every language's validation split with the frozen
encoder (mean pooling of layer `--layer`, 0 = last; several layers, e.g. `6,9,12`, are pooled,
normalised each, and put side by side), fits scikit-learn's logistic regression on the source
rows, and prints the task metric per language and the target average. No fine-tuning: what
fine-tuning recipes have to beat.

    python scripts/frozen_probe.py --task sentiment --layer 9
    python scripts/frozen_probe.py --task sentiment --layer 6,9,12 --save-probs /tmp/frozen.npz
"""

from __future__ import annotations

import argparse


def main() -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from xlt.data import load_split, texts_of
    from xlt.evaluation import dev_report
    from xlt.inference import pooled_features
    from xlt.models.classifier import SequenceClassifier
    from xlt.models.loading import load_encoder, load_tokenizer
    from xlt.models.registry import resolve_model
    from xlt.tasks import get_task

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="sentiment")
    parser.add_argument("--model", default="multilingual-e5-small")
    parser.add_argument("--source", default="en")
    parser.add_argument("--layer", default="0", help="read this layer (0 = the last), or several: 6,9,12")
    parser.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the regression")
    parser.add_argument("--save-probs", default=None,
                        help="write the validation probabilities here (.npz, as select_recipe.py --save-probs, "
                             "label 'frozen'), to score with scripts/score_ensemble.py")
    args = parser.parse_args()

    task, spec = get_task(args.task), resolve_model(args.model)
    if task.parallel:
        raise SystemExit("parallel tasks (nli) need the held-out split of select_recipe.py; use sentiment")
    encoder = load_encoder(spec)
    n_layers = encoder.config.num_hidden_layers
    try:
        layers = [int(x) or n_layers for x in args.layer.split(",")]
    except ValueError:
        raise SystemExit(f"--layer takes layer numbers separated by commas, got {args.layer!r}") from None
    if not all(1 <= x <= n_layers for x in layers):
        raise SystemExit(f"--layer: {spec.name} has layers 1-{n_layers}, got {args.layer}")
    model, tokenizer = SequenceClassifier(encoder, len(task.label_names), normalize=True), load_tokenizer(spec)

    def embed(ds):
        first, second = texts_of(task, ds)
        return pooled_features(model, tokenizer, first, second, prefix=spec.text_prefix, max_length=128,
                               layers=layers)

    train = load_split(task, args.source, task.train_split)
    clf = LogisticRegression(C=args.C, max_iter=3000).fit(embed(train), train["label"])
    predictions, saved = {}, {}
    for lang in task.languages:
        dev = load_split(task, lang, "validation")
        probs = clf.predict_proba(embed(dev))
        saved[f"frozen/{lang}"], saved[f"labels/{lang}"] = probs, np.asarray(dev["label"])
        predictions[lang] = (probs, dev["label"])
    print(f"layer={args.layer} C={args.C} {dev_report(task, args.source, predictions)}")
    if args.save_probs:
        np.savez_compressed(args.save_probs, **saved)


if __name__ == "__main__":
    main()
