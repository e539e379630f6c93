"""Export a trained xlt classifier as a transformers sequence-classification folder.

The folder loads anywhere transformers does, without xlt:

    AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)
    pipeline("text-classification", model=folder, trust_remote_code=True)

LoRA adapters are merged into the encoder's weights, the head becomes the model's `classifier`
with `id2label` from the task's labels, and the model's text prefix (e5's ``"query: "``) is
folded into the tokenizer's template, so raw text in gives the same probabilities as xlt's
predictor. The pooling xlt trained with has no standard transformers head, so the folder carries
its model class (`xlt.models.exported_model`), hence `trust_remote_code`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..errors import XltError

PREFIX_TOKEN = "<xlt-text-prefix>"  # the name of the prefix's pieces in the tokenizer template
# encoder settings that describe this machine or the bare encoder, not the exported model
DROPPED_ENCODER_KEYS = ("_name_or_path", "architectures", "id2label", "label2id", "transformers_version")


def export_classifier(folder: str | Path, out_dir: str | Path) -> Path:
    """Write the classifier saved in `folder` as a sequence-classification folder `out_dir`.

    Args:
        folder: an xlt classifier folder (`xlt_classifier.json` of kind `classifier`).
        out_dir: where to write; must not hold another model already.
    """
    import torch
    from transformers.utils import logging as hf_logging

    from .exported_model import XltClassifierConfig, XltClassifierForSequenceClassification
    from .loading import load_classifier, read_classifier_info

    info = read_classifier_info(folder)
    if info.kind != "classifier":
        raise XltError(f"{folder} holds a model of kind {info.kind!r}; only encoder + head classifiers (kind "
                       "'classifier') export to a sequence-classification folder")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise XltError(f"{out} is a file: export into a new folder")
    if out.exists() and any(out.iterdir()):
        raise XltError(f"{out} is not empty: export into a new folder")
    model, tokenizer, info = load_classifier(folder, merge=True)
    encoder = model.encoder
    encoder_settings = {k: v for k, v in encoder.config.to_dict().items() if k not in DROPPED_ENCODER_KEYS}
    config = XltClassifierConfig(
        encoder=encoder_settings, pooling=info.pooling, normalize=info.normalize,
        id2label=dict(enumerate(info.label_names)), label2id={name: i for i, name in enumerate(info.label_names)},
        xlt={"task": info.task, "base_model": info.base_model, "text_fields": info.text_fields,
             "text_prefix_in_tokenizer": info.text_prefix, "max_length": info.max_length, "run_id": info.run_id,
             "languages_trained": info.languages_trained, "model_fingerprint": info.model_fingerprint},
    )
    exported = XltClassifierForSequenceClassification(config)
    # a fully fine-tuned encoder may carry a pooler xlt never used; every other weight must fit exactly
    missing, unexpected = exported.encoder.load_state_dict(encoder.state_dict(), strict=False)
    unexpected = [key for key in unexpected if not key.startswith("pooler.")]
    if missing or unexpected:
        raise XltError(f"{folder}: the encoder's weights do not fit its config (missing {missing[:3]}, "
                       f"unexpected {unexpected[:3]})")
    exported.classifier.load_state_dict(model.head.state_dict())
    exported.to(torch.float32).eval()
    config.register_for_auto_class()
    exported.register_for_auto_class("AutoModelForSequenceClassification")
    out.mkdir(parents=True, exist_ok=True)
    hf_logging.disable_progress_bar()
    try:
        exported.save_pretrained(str(out))  # also copies exported_model.py and writes the auto_map
    finally:
        hf_logging.enable_progress_bar()
    tokenizer.model_max_length = info.max_length  # the pipeline truncates where xlt did (truncation=True)
    tokenizer.save_pretrained(str(out))
    if info.text_prefix:
        fold_prefix_into_tokenizer(out, tokenizer, info.text_prefix)
    return out


def _prefix_ids(tokenizer, prefix: str) -> list[int]:
    """The token ids `prefix` adds in front of any text (checked on a few texts: it must not merge into them)."""
    found = None
    for probe in ("x", "Hello world", "¿Qué tal?", "  spaced", "日本語"):
        with_prefix = tokenizer(prefix + probe, add_special_tokens=False)["input_ids"]
        alone = tokenizer(probe, add_special_tokens=False)["input_ids"]
        head = with_prefix[: len(with_prefix) - len(alone)]
        if with_prefix[len(head):] != alone or (found is not None and head != found):
            raise XltError(f"the text prefix {prefix!r} does not tokenize apart from the text; it cannot be folded "
                           "into the tokenizer")
        found = head
    return found


def fold_prefix_into_tokenizer(out: Path, tokenizer, prefix: str) -> None:
    """Put the prefix's pieces right after the start token of the saved `tokenizer.json` template."""
    path = out / "tokenizer.json"
    if not path.is_file():
        raise XltError("only fast tokenizers (tokenizer.json) can carry the text prefix")
    ids = _prefix_ids(tokenizer, prefix)
    spec = json.loads(path.read_text(encoding="utf-8"))
    processor = spec.get("post_processor") or {}
    if processor.get("type") in ("RobertaProcessing", "BertProcessing"):
        (cls_token, cls_id), (sep_token, sep_id) = processor["cls"], processor["sep"]
        seps = [sep_token, sep_token] if processor["type"] == "RobertaProcessing" else [sep_token]
        processor = {"type": "TemplateProcessing",
                     "single": [_special(cls_token), _sequence("A"), _special(sep_token)],
                     "pair": [_special(cls_token), _sequence("A"), *map(_special, seps), _sequence("B", 0),
                              _special(sep_token)],
                     "special_tokens": {cls_token: _special_entry(cls_token, cls_id),
                                        sep_token: _special_entry(sep_token, sep_id)}}
    if processor.get("type") != "TemplateProcessing":
        raise XltError(f"cannot fold the text prefix into a {processor.get('type')!r} tokenizer template")
    for template in ("single", "pair"):
        first = next(i for i, piece in enumerate(processor[template]) if piece.get("Sequence", {}).get("id") == "A")
        processor[template].insert(first, _special(PREFIX_TOKEN))
    processor["special_tokens"][PREFIX_TOKEN] = {"id": PREFIX_TOKEN, "ids": ids,
                                                 "tokens": tokenizer.convert_ids_to_tokens(ids)}
    spec["post_processor"] = processor
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    shutil.move(tmp, path)


def _special(token: str) -> dict:
    return {"SpecialToken": {"id": token, "type_id": 0}}


def _sequence(name: str, type_id: int = 0) -> dict:
    return {"Sequence": {"id": name, "type_id": type_id}}


def _special_entry(token: str, token_id: int) -> dict:
    return {"id": token, "ids": [token_id], "tokens": [token]}
