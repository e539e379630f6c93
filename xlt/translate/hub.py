"""`marian` and `nllb`: neural MT from the Hugging Face Hub through transformers (what a Space uses).

- `marian`: the OPUS-MT models (Tiedemann & Thottingal, 2020), one small Marian model per direction,
  `Helsinki-NLP/opus-mt-{src}-{tgt}`; a direction is served when that repository (or local folder)
  exists, other pairs go through English (the default pivot).
- `nllb`: `facebook/nllb-200-distilled-600M` (NLLB Team, 2022), one many-to-many model for 200
  languages; xlt's ISO 639-1 codes are mapped onto its FLORES-200 codes (`eng_Latn`, ...).

Both load with `AutoTokenizer` + `AutoModelForSeq2SeqLM` and generate in batches (greedy by default,
`beams` for beam search) on a GPU when there is one. The `model` option points at another checkpoint
or a local folder (`marian:model=/models/opus-mt-{src}-{tgt}`). Offline (no Hub, no local copy) both
report themselves unavailable with the Hub's reason.

A leg's version (in records' `translator_versions` and in the cache key) is the model's revision and the
transformers version: the Hub commit the model resolved to (and is then loaded at), or `folder-<hash>`
of a local folder's files, so new weights under the same name never serve the old weights' cached output.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import version as package_version
from pathlib import Path

from ..errors import XltError
from .base import Translator, TranslatorOptions
from .registry import register_translator

MARIAN_MODEL = "Helsinki-NLP/opus-mt-{src}-{tgt}"
NLLB_MODEL = "facebook/nllb-200-distilled-600M"
NLLB_CODES = {
    "af": "afr_Latn", "am": "amh_Ethi", "ar": "arb_Arab", "az": "azj_Latn", "be": "bel_Cyrl", "bg": "bul_Cyrl",
    "bn": "ben_Beng", "bs": "bos_Latn", "ca": "cat_Latn", "cs": "ces_Latn", "cy": "cym_Latn", "da": "dan_Latn",
    "de": "deu_Latn", "el": "ell_Grek", "en": "eng_Latn", "eo": "epo_Latn", "es": "spa_Latn", "et": "est_Latn",
    "eu": "eus_Latn", "fa": "pes_Arab", "fi": "fin_Latn", "fr": "fra_Latn", "ga": "gle_Latn", "gl": "glg_Latn",
    "gu": "guj_Gujr", "ha": "hau_Latn", "he": "heb_Hebr", "hi": "hin_Deva", "hr": "hrv_Latn", "hu": "hun_Latn",
    "hy": "hye_Armn", "id": "ind_Latn", "ig": "ibo_Latn", "is": "isl_Latn", "it": "ita_Latn", "ja": "jpn_Jpan",
    "ka": "kat_Geor", "kk": "kaz_Cyrl", "km": "khm_Khmr", "kn": "kan_Knda", "ko": "kor_Hang", "ky": "kir_Cyrl",
    "lo": "lao_Laoo", "lt": "lit_Latn", "lv": "lvs_Latn", "mk": "mkd_Cyrl", "ml": "mal_Mlym", "mn": "khk_Cyrl",
    "mr": "mar_Deva", "ms": "zsm_Latn", "mt": "mlt_Latn", "my": "mya_Mymr", "ne": "npi_Deva", "nl": "nld_Latn",
    "no": "nob_Latn", "pa": "pan_Guru", "pl": "pol_Latn", "pt": "por_Latn", "ro": "ron_Latn", "ru": "rus_Cyrl",
    "si": "sin_Sinh", "sk": "slk_Latn", "sl": "slv_Latn", "so": "som_Latn", "sq": "als_Latn", "sr": "srp_Cyrl",
    "sv": "swe_Latn", "sw": "swh_Latn", "ta": "tam_Taml", "te": "tel_Telu", "th": "tha_Thai", "tl": "tgl_Latn",
    "tr": "tur_Latn", "uk": "ukr_Cyrl", "ur": "urd_Arab", "uz": "uzn_Latn", "vi": "vie_Latn", "xh": "xho_Latn",
    "yo": "yor_Latn", "zh": "zho_Hans", "zu": "zul_Latn",
}
LOADED_MODELS = 2  # models kept in memory (one Marian model per direction)


@dataclass
class MarianOptions(TranslatorOptions):
    pivot: str | None = field(default="en", metadata={
        "help": "language to translate through when there is no opus-mt model for the pair"})
    model: str = field(default=MARIAN_MODEL, metadata={
        "help": "Hub id or folder of the model per direction, with {src} and {tgt} in it"})
    beams: int = field(default=1, metadata={"help": "beam size (1 = greedy, fastest)"})
    batch_size: int = field(default=16, metadata={"help": "sentences per generate call"})
    max_new_tokens: int = field(default=256, metadata={"help": "longest translation in tokens"})


@dataclass
class NllbOptions(TranslatorOptions):
    model: str = field(default=NLLB_MODEL, metadata={"help": "Hub id or folder of an NLLB (M2M100) checkpoint"})
    beams: int = field(default=1, metadata={"help": "beam size (1 = greedy, fastest)"})
    batch_size: int = field(default=16, metadata={"help": "sentences per generate call"})
    max_new_tokens: int = field(default=256, metadata={"help": "longest translation in tokens"})


def _reachable(model: str) -> tuple[str | None, str]:
    """(why `model` cannot be used here or None, its revision): a folder with a config (revision: a hash
    of its files' contents) or a Hub repository whose config can be fetched (revision: the commit the
    config came from)."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            return f"{model} has no config.json", ""
        return None, ""  # hashed only when a record or the cache asks (`folder_revision`)
    if "{" in model or model.startswith((".", "/", "~")):
        return f"{model} is not a folder", ""
    try:
        from huggingface_hub import hf_hub_download

        path = Path(hf_hub_download(model, "config.json", etag_timeout=10))
        commit = path.parent.name if path.parent.parent.name == "snapshots" else ""
        return None, commit
    except Exception as exc:  # offline, missing repository, auth: all mean "cannot use it here"
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        return f"{model} is not reachable ({type(exc).__name__}{': ' + first if first else ''})", ""


@lru_cache(maxsize=16)
def _hash_files(files: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for name, _size, _mtime in files:
        digest.update(Path(name).name.encode() + b"\0")
        with open(name, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


def folder_revision(folder: str | Path) -> str:
    """`folder-<sha256 of its files' contents, 12 hex>`: a local model's version (retrained weights of the
    same shape change it); hashed once per process while the files stay unchanged."""
    root = Path(folder).expanduser()
    files = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in sorted(root.rglob("*"))
                  if f.is_file() and not any(part.startswith(".") for part in f.relative_to(root).parts))
    return "folder-" + _hash_files(files)


class HubSeq2SeqTranslator(Translator):
    """A sequence-to-sequence translation model loaded through transformers."""

    kind = "neural"
    identity_options = ("model", "beams", "max_new_tokens")
    chunk_size = 128

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._models: OrderedDict[str, tuple] = OrderedDict()
        self._reasons: dict[str, tuple[str | None, str]] = {}

    def check_options(self) -> None:
        opts = self.options
        if opts.beams < 1 or opts.batch_size < 1 or opts.max_new_tokens < 1:
            raise XltError(f"translator {self.name}: beams, batch_size and max_new_tokens must be >= 1")

    def reachable(self, model: str) -> str | None:
        if model not in self._reasons:
            self._reasons[model] = _reachable(model)
        return self._reasons[model][0]

    def revision(self, model: str) -> str:
        """The Hub commit `model` resolves to, or `folder-<hash>` for a local folder ("" when unknown)."""
        if self.reachable(model) is not None:
            return ""
        return self._reasons[model][1] or (folder_revision(model) if Path(model).expanduser().is_dir() else "")

    def leg_version(self, src: str, tgt: str) -> str:
        """`<model's revision>,transformers=<version>`: new weights or a new generate give new translations."""
        revision = self.revision(self.model_for(src, tgt))
        return f"{revision},transformers={package_version('transformers')}" if revision else ""

    def load(self, model: str):
        """(tokenizer, model, device), the last `LOADED_MODELS` kept."""
        if model in self._models:
            self._models.move_to_end(model)
            return self._models[model]
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a weight-loading bar per direction is noise in a run's log
        pinned = {"revision": self._reasons[model][1]} if self._reasons.get(model, (None, ""))[1] else {}
        try:  # a Hub model at the commit its reachability check resolved: the one its records name
            tokenizer = AutoTokenizer.from_pretrained(model, **pinned)
            network = AutoModelForSeq2SeqLM.from_pretrained(model, **pinned).eval()
        except (OSError, ValueError) as exc:
            raise XltError(f"could not load translation model {model!r}: {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:160] if str(exc) else ''}") from None
        finally:
            hf_logging.enable_progress_bar()
        device = "cuda" if torch.cuda.is_available() else "cpu"
        network.to(device)
        self._models[model] = (tokenizer, network, device)
        while len(self._models) > LOADED_MODELS:
            self._models.popitem(last=False)
        return self._models[model]

    def model_for(self, src: str, tgt: str) -> str:
        raise NotImplementedError

    def generation_settings(self, tokenizer, src: str, tgt: str) -> dict:
        """Per-direction settings: the tokenizer's source language, the forced first target token."""
        return {}

    def _translate_direct(self, texts: list[str], src: str, tgt: str) -> list[str]:
        import torch

        self.check_options()
        tokenizer, network, device = self.load(self.model_for(src, tgt))
        extra = self.generation_settings(tokenizer, src, tgt)
        out: list[str] = []
        size = self.options.batch_size
        for start in range(0, len(texts), size):
            batch = tokenizer(texts[start:start + size], return_tensors="pt", padding=True, truncation=True,
                              max_length=512).to(device)
            with torch.inference_mode():
                generated = network.generate(**batch, num_beams=self.options.beams,
                                             max_new_tokens=self.options.max_new_tokens, **extra)
            out.extend(tokenizer.batch_decode(generated, skip_special_tokens=True))
        return out


class MarianTranslator(HubSeq2SeqTranslator):
    name = "marian"
    description = "OPUS-MT Marian models from the Hub, one per direction (Helsinki-NLP/opus-mt-{src}-{tgt})."
    options_cls = MarianOptions
    default_pivot = "en"

    def model_for(self, src: str, tgt: str) -> str:
        return self.options.model.format(src=src, tgt=tgt)

    def can_translate(self, src: str, tgt: str) -> bool:
        return self.reachable(self.model_for(src, tgt)) is None

    def serves(self) -> str:
        last = [r for r, _ in self._reasons.values() if r]
        return (f"the directions with a model at {self.options.model}"
                + (f" (last lookup: {last[-1]}; offline, give a local folder)" if last else ""))


class NllbTranslator(HubSeq2SeqTranslator):
    name = "nllb"
    description = "NLLB-200 (facebook/nllb-200-distilled-600M) from the Hub: one model, 200 languages."
    options_cls = NllbOptions

    def unavailable(self) -> str | None:
        reason = self.reachable(self.options.model)
        return f"{reason}; offline, give a local folder (nllb:model=/path)" if reason else None

    def can_translate(self, src: str, tgt: str) -> bool:
        return src in NLLB_CODES and tgt in NLLB_CODES

    def serves(self) -> str:
        return f"any two of {', '.join(sorted(NLLB_CODES))}"

    def model_for(self, src: str, tgt: str) -> str:
        return self.options.model

    def generation_settings(self, tokenizer, src: str, tgt: str) -> dict:
        tokenizer.src_lang = NLLB_CODES[src]
        token = tokenizer.convert_tokens_to_ids(NLLB_CODES[tgt])
        if token is None or token == tokenizer.unk_token_id:
            raise XltError(f"the tokenizer of {self.options.model} has no language token {NLLB_CODES[tgt]}")
        return {"forced_bos_token_id": token}


register_translator(MarianTranslator)
register_translator(NllbTranslator)
