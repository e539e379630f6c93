"""Training throughput: the seed recipe's loader vs xlt's, same model, data and steps, in one run.

The seed recipe pads every example to `max_length` (128) and samples batches at random;
xlt tokenizes without padding, groups batches by length and pads each batch to its own
longest member (`DataCollatorWithPadding`). Both train the same classifier (the default
encoder, full fine-tuning) for the same number of optimizer steps on the same examples.

    python benchmarks/train_throughput.py --task nli --steps 30
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import DataLoader, RandomSampler


def build(task, spec, seed):
    from xlt.config import TrainConfig
    from xlt.training import build_classifier

    torch.manual_seed(seed)
    model = build_classifier(spec, len(task.label_names), TrainConfig())
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-5)
    return model, optimizer


def time_steps(model, optimizer, loader, steps: int, warmup: int = 2) -> float:
    """Examples per second over `steps` training steps (after `warmup` untimed ones)."""
    model.train()
    batches = iter(loader)
    done, examples, start = 0, 0, None
    while done < warmup + steps:
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(loader)
            batch = next(batches)
        if done == warmup:
            start = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if done >= warmup:
            examples += batch["input_ids"].shape[0]
        done += 1
    return examples / (time.perf_counter() - start)


def main() -> None:
    from transformers import DataCollatorWithPadding
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from xlt.data import load_split, texts_of, tokenize_dataset
    from xlt.models.loading import load_tokenizer
    from xlt.models.registry import resolve_model
    from xlt.tasks import get_task

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="nli")
    parser.add_argument("--model", default="multilingual-e5-small")
    parser.add_argument("--examples", type=int, default=512)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    task, spec = get_task(args.task), resolve_model(args.model)
    tokenizer = load_tokenizer(spec)
    ds = load_split(task, "en", task.train_split, max_samples=args.examples, seed=args.seed)
    generator = torch.Generator().manual_seed(args.seed)

    # seed recipe: pad everything to max_length, random batches
    first, second = texts_of(task, ds)
    padded = tokenizer([spec.text_prefix + t for t in first], second, truncation=True, padding="max_length",
                       max_length=args.max_length, return_tensors="pt")
    rows = [{"input_ids": padded["input_ids"][i], "attention_mask": padded["attention_mask"][i],
             "labels": torch.tensor(ds["label"][i])} for i in range(len(ds))]
    seed_loader = DataLoader(rows, batch_size=args.batch_size, sampler=RandomSampler(rows, generator=generator))

    # xlt: no padding at tokenization, length-grouped batches, per-batch dynamic padding
    encoded = tokenize_dataset(ds, task, tokenizer, spec.text_prefix, args.max_length).rename_column("label", "labels")
    lengths = encoded["length"]
    encoded = encoded.remove_columns(["length"]).with_format("python")
    collator = DataCollatorWithPadding(tokenizer)
    xlt_loader = DataLoader(encoded, batch_size=args.batch_size, collate_fn=collator,
                            sampler=LengthGroupedSampler(args.batch_size, lengths=lengths, generator=generator))

    mean_len = sum(lengths) / len(lengths)
    print(f"task={args.task} model={args.model} examples={len(ds)} steps={args.steps} batch={args.batch_size} "
          f"mean_tokens={mean_len:.1f} max_length={args.max_length} threads={torch.get_num_threads()}")
    results = {}
    loaders = (("seed recipe (pad to max_length)", seed_loader), ("xlt (dynamic + length groups)", xlt_loader))
    for name, loader in loaders:
        model, optimizer = build(task, spec, args.seed)
        results[name] = time_steps(model, optimizer, loader, args.steps)
        print(f"{name:<34} {results[name]:8.2f} examples/s")
        del model, optimizer
    seed_eps, xlt_eps = results.values()
    print(f"ratio xlt / seed recipe: {xlt_eps / seed_eps:.2f}x")


if __name__ == "__main__":
    main()
