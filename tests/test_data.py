import pytest

from xlt.data import load_split, tokenize_dataset
from xlt.errors import XltError
from xlt.tasks import get_task


def test_local_splits_load_through_datasets(data_dir):
    nli = get_task("nli")
    ds = load_split(nli, "sw", "test", data_dir)
    assert len(ds) == 5010 and ds.column_names == ["premise", "hypothesis", "label"]
    assert set(ds["label"]) == {0, 1, 2}
    sample = load_split(get_task("sentiment"), "hi", "train", data_dir, max_samples=50, seed=3)
    assert len(sample) == 50 and sample.column_names == ["text", "label"]
    again = load_split(get_task("sentiment"), "hi", "train", data_dir, max_samples=50, seed=3)
    assert sample["text"] == again["text"]  # seeded sample
    joined = load_split(get_task("sentiment"), "en", "train+validation", data_dir)
    assert len(joined) == 1839 + 324


def test_missing_data_gives_a_clear_message(tmp_path, data_dir):
    with pytest.raises(XltError, match="does not exist"):
        load_split(get_task("nli"), "en", "test", tmp_path / "nowhere")
    (tmp_path / "xnli" / "test").mkdir(parents=True)
    with pytest.raises(XltError, match="has no xnli/test/en.jsonl"):
        load_split(get_task("nli"), "en", "test", tmp_path)
    (tmp_path / "xnli" / "test" / "en.jsonl").write_text('{"premise": "a", "hypothesis": "b", "label": 0}\n')
    with pytest.raises(XltError, match="has no xnli/validation/en.jsonl"):
        load_split(get_task("nli"), "en", "test+validation", tmp_path)
    with pytest.raises(XltError, match="has no language 'xx'"):
        load_split(get_task("nli"), "xx", "test", data_dir)


def test_tokenize_dataset_prefixes_and_does_not_pad(data_dir, reference_tokenizer_file):
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_file=str(reference_tokenizer_file), pad_token="<pad>")
    task = get_task("nli")
    ds = load_split(task, "en", "validation", data_dir, max_samples=8)
    enc = tokenize_dataset(ds, task, tok, "query: ", 128)
    assert set(enc.column_names) >= {"input_ids", "attention_mask", "length", "label"}
    lengths = [len(x) for x in enc["input_ids"]]
    assert lengths == enc["length"] and len(set(lengths)) > 1  # dynamic: no padding here
    assert tok.decode(enc["input_ids"][0]).startswith("<s> query:")
