"""A corpus of hostile inputs over the CLI, the library and the app's callbacks.

Each case must end in one clear message (CLI: one line, exit code 2; library: `XltError`; app: a
message in the page) or in a normal answer that carries the notices it needs: never a traceback,
never a hang, never a prediction of a truncated or language-less text without its notice.
"""

from __future__ import annotations

import json
import signal
from contextlib import contextmanager
from pathlib import Path

import pytest

from xlt import cli
from xlt.errors import XltError

LONG = "Great movie, loved it. " * 400  # ~2,400 tokens: truncated to the predictor's 128
TEXTS = [
    "", "   ", "\n\t", None, 42, 3.5, ["a list"], {"a": 1}, b"bytes", "x" * 200_001, "\ud800", "abc \udfff def",
    "caf\udce9", "\x00\x01\x02\x03\x04\x05\x06\x07", "\x00", "\u200b\u200b\u200b", "\u0301\u0301", "...", "!!!",
    "😀😀😀", "12345", "ok", "a", "Ω", LONG, "مرحبا بالعالم", "שלום עולם", "こんにちは世界", "Hello\u202eworld",
    "<script>alert(1)</script>", "{}", "{0.__class__}", "%s%s%n", "' OR 1=1 --", "../../etc/passwd",
    "\ufeffBOM text", "Zalgo t̷̢̛e̴x̵t", "a\nb\nc" * 1000, "🏳️‍🌈" * 50, "I love it!",
    "\r\n\r\n", "\x7f\x7f\x7f\x7f", "\U0001f600" * 60_000, "a" * 10_000, "word " * 5000, "\t\tindent",
    "NULL", "null", "None", "true", "0", "-1", "1e309", "NaN", "ﷺ", "\ue000\ue001\ue002\ue003", "ｆｕｌｌｗｉｄｔｈ",
    "ⓒⓘⓡⓒⓛⓔⓓ", "𝕮𝖔𝖒𝖕𝖑𝖊𝖝", "Ελληνικά κείμενα", "हिन्दी पाठ", "ไทย", "a\u0000b",
]

# what each refused text's message says (every other text in TEXTS must be answered)
REFUSED = {
    "": "is empty", "   ": "is empty", "\n\t": "is empty", "\r\n\r\n": "is empty", "x" * 200_001: "the limit is",
    "\ud800": "invalid characters", "abc \udfff def": "invalid characters", "caf\udce9": "invalid characters",
    "\x00\x01\x02\x03\x04\x05\x06\x07": "binary data", "\x7f\x7f\x7f\x7f": "binary data",
    "\ue000\ue001\ue002\ue003": "binary data", "\x00": "no letters", "\u200b\u200b\u200b": "no letters",
    "\u0301\u0301": "no letters", "...": "no letters", "!!!": "no letters", "{}": "no letters",
}


def refusal(text) -> str | None:
    """The message a text must be refused with, None where it must be answered."""
    if text is None:
        return "is missing"
    if not isinstance(text, str):
        return "must be a string"
    return REFUSED.get(text)


@contextmanager
def deadline(seconds: int = 60):
    """A case that hangs fails instead of blocking the suite."""

    def on_alarm(signum, frame):
        raise TimeoutError(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def assert_prediction_has_its_notices(text: str, prediction) -> None:
    if isinstance(prediction, list):  # a list of texts is a valid batch
        for one in prediction:
            assert_prediction_has_its_notices(None, one)
        return
    notices = " ".join(prediction.notices if hasattr(prediction, "notices") else prediction["notices"])
    language = prediction.language if hasattr(prediction, "language") else prediction["language"]
    truncated = prediction.truncated if hasattr(prediction, "truncated") else prediction["truncated"]
    if truncated:
        assert "truncated" in notices
    if text is LONG:
        assert truncated and "truncated" in notices
    if language == "und":
        assert "No language could be detected" in notices


# --- library -----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def predictors():
    from xlt.predict import load_predictor

    return load_predictor("sentiment"), load_predictor("nli")


@pytest.mark.parametrize("text", TEXTS, ids=lambda t: repr(t)[:30])
def test_library_predict(predictors, text):
    sentiment, nli = predictors
    with deadline():
        for call, takes_lists in ((lambda: sentiment.predict(text), True),  # predict also takes a batch of texts
                                  (lambda: nli.predict_pairs([text], ["A hypothesis."])[0], False),
                                  (lambda: nli.predict_pairs(["A premise."], [text])[0], False),
                                  (lambda: nli.zero_shot(text, ["sports", "politics"]), False)):
            batch = takes_lists and isinstance(text, list)
            message = None if batch else refusal(text)
            if message:
                with pytest.raises(XltError, match=message) as refused:
                    call()
                assert "\n" not in str(refused.value)
                continue
            result = call()
            assert_prediction_has_its_notices(text, result)
            if batch:
                assert len(result) == len(text)
                result = result[0]
            if isinstance(result, dict):  # zero-shot: both labels ranked, scores a distribution
                assert sorted(result["labels"]) == ["politics", "sports"]
                assert sum(result["scores"]) == pytest.approx(1.0, abs=1e-5)
            else:
                model = sentiment if set(result.probabilities) == set(sentiment.labels) else nli
                assert result.label in model.labels and set(result.probabilities) == set(model.labels)
                assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("labels, template, message", [
    ([], "This is {}.", "at least one"), ([" ", ""], "This is {}.", "at least one"),
    (["a"] * 3, "This is {}.", None), (["only"], "This is {}.", None), ([str(i) for i in range(10_000)], "{}", "limit"),
    (["a", "b"], "no slot", "exactly once"), (["a", "b"], "{} and {}", "exactly once"),
    (["a", "b"], "{0.__class__.__init__}", "exactly once"), (["a", "b"], "{ stray {}", None),
    (["a", "b"], "{}}", None), (["a", "b"], None, "exactly once"), (["x" * 5000, "b"], "{}", "limited"),
    (["a", "b"], "{}" + "x" * 600, "limited"),
    ([None, 5, "b"], "{}", None),
])
def test_library_zero_shot_options(predictors, labels, template, message):
    _, nli = predictors
    with deadline():
        if message:
            with pytest.raises(XltError, match=message):
                nli.zero_shot("El Real Madrid ganó.", labels, template=template)
            return
        result = nli.zero_shot("El Real Madrid ganó.", labels, template=template)
    if len(set(str(x).strip() for x in labels if str(x).strip())) == 1:
        assert any("single label" in n for n in result["notices"])  # no bare 1.000 without a word
        assert result["scores"][0] < 1.0
    if len(labels) != len(set(labels)):
        assert any("Repeated" in n for n in result["notices"])


# --- damaged model folders ---------------------------------------------------------------------------------------

def _damage(folder, how):
    import shutil

    info_path = folder / "xlt_classifier.json"
    info = json.loads(info_path.read_text())
    if how == "no head":
        (folder / "head.safetensors").unlink()
    elif how == "truncated head":
        data = (folder / "head.safetensors").read_bytes()
        (folder / "head.safetensors").write_bytes(data[: len(data) // 2])
    elif how == "garbage head":
        (folder / "head.safetensors").write_bytes(b"not safetensors at all")
    elif how == "no adapter":
        shutil.rmtree(folder / "adapter")
    elif how == "truncated adapter":
        path = folder / "adapter" / "adapter_model.safetensors"
        path.write_bytes(path.read_bytes()[:1000])
    elif how == "info not json":
        info_path.write_text("{not json")
    elif how == "info wrong types":
        info_path.write_text(json.dumps({**info, "label_names": "abc"}))
    elif how == "info unknown field":
        info_path.write_text(json.dumps({**info, "surprise": 1}))
    elif how == "label count":
        info_path.write_text(json.dumps({**info, "label_names": ["a", "b", "c", "d"]}))
    elif how == "max length":
        info_path.write_text(json.dumps({**info, "max_length": 9000}))
    elif how == "unknown kind":
        info_path.write_text(json.dumps({**info, "kind": "quantum"}))
    elif how == "unknown base model":
        info_path.write_text(json.dumps({**info, "base_model": "no-such-model"}))
    elif how == "info deep":
        info_path.write_text("[" * 50_000 + "]" * 50_000)


DAMAGES = ["no head", "truncated head", "garbage head", "no adapter", "truncated adapter", "info not json",
           "info wrong types", "info unknown field", "label count", "max length", "unknown kind", "unknown base model",
           "info deep"]


@pytest.mark.parametrize("how", DAMAGES)
def test_damaged_model_folders(tmp_path, how, capsys):
    import shutil

    from xlt.predict import SHIPPED_DIR, Predictor

    folder = tmp_path / "model"
    shutil.copytree(SHIPPED_DIR / "sentiment", folder)
    _damage(folder, how)
    with deadline(), pytest.raises(XltError):
        Predictor(folder)
    assert cli.main(["predict", "--model-dir", str(folder), "fine"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xlt: error:") and "Traceback" not in err and err.count("\n") == 1


# --- the command line -------------------------------------------------------------------------------------------

def _train(*extra):
    return ["train", "--task", "sentiment", "--max-train-samples", "8", *extra]


CLI_CASES = [
    ["predict", ""], ["predict", "   "], ["predict", "x" * 200_001], ["predict", "\ud800"],
    ["predict", "\x00\x01\x02\x03"],
    ["predict", "--task", "nli", "--premise", "a"], ["predict", "--task", "nli", "--premise", "", "--hypothesis", "b"],
    ["predict", "--task", "zero-shot", "text"], ["predict", "--task", "zero-shot", "text", "--labels", " , "],
    ["predict", "--task", "zero-shot", "text", "--labels", "a,b", "--template", "{}{}"],
    ["predict", "--task", "zero-shot", "text", "--labels", ",".join(map(str, range(100)))],
    ["predict", "--task", "no-such-task", "hello"], ["predict", "--task", "nli", "hello"],
    ["predict", "--model-dir", "/nonexistent", "hi"], ["predict", "--model-dir", "/root/.ssh", "hi"],
    ["predict", "--model-dir", "../../../etc", "hi"], ["predict", "--model-dir", "", "hi"],
    ["predict", "--task", "sentiment", "--model-dir", "nli", "hi"], ["predict"],
    _train("--epochs", "nan"), _train("--epochs", "inf"), _train("--epochs", "-1"), _train("--epochs", "0"),
    _train("--epochs", "abc"), _train("--batch-size", "0"), _train("--batch-size", "-1"),
    _train("--batch-size", "1e9"), _train("--batch-size", "2.5"), _train("--max-length", "4"),
    _train("--max-length", "1000000"), _train("--seed", "-1"), _train("--seed", str(2**32)),
    _train("--lora-r", "100000"), _train("--lora-r", "0"), _train("--learning-rate", "0"),
    _train("--learning-rate", "5"), _train("--learning-rate", "nan"), _train("--max-eval-samples", "0"),
    _train("--max-train-samples", "-5"), _train("--warmup-ratio", "2"), _train("--dropout", "1"),
    _train("--finetune", "qlora"), _train("--precision", "fp8"), _train("--precision", "bf16"),
    _train("--head-init", "magic"), _train("--loss", "mse"), _train("--average-last-epochs", "99"),
    _train("--freeze-layers", "300"), _train("--encoder-layers", "-1"), _train("--temperature", "0"),
    _train("--gradient-accumulation-steps", "0"), _train("--save-steps", "0"), _train("--method", "magic"),
    _train("--protocol", "cpu v1"), _train("--protocol", "../x"),
    _train("--method", "few-shot", "--opt-shots", "999999", "--targets", "de"),
    _train("--method", "few-shot", "--opt-shot-languages", "xx"), _train("--method", "few-shot", "--opt-mode", "x"),
    _train("--method", "multi-source"), _train("--method", "multi-source", "--source", "en,de", "--opt-sampling", "x"),
    _train("--option", "novalue"), _train("--option", "shots=3"), _train("--source", "xx"), _train("--source", ""),
    _train("--source", "en,xx"), _train("--targets", "xx"), _train("--targets", "../.."), _train("--model", "nope"),
    _train("--model", ""), _train("--train-split", ""), _train("--task", "../../x"),
    ["train", "--task", "no-task"], ["train", "--task", "sentiment", "--task", ""],
    ["evaluate", "--model-dir", "sentiment", "--batch-size", "0"],
    ["evaluate", "--model-dir", "sentiment", "--batch-size", "-1"],
    ["evaluate", "--model-dir", "sentiment", "--max-samples", "0"],
    ["evaluate", "--model-dir", "sentiment", "--task", "nli"], ["evaluate", "--model-dir", "/nonexistent"],
    ["evaluate", "--model-dir", "sentiment", "--languages", "xx"], ["evaluate", "--model-dir", "sentiment", "--split",
                                                                     "nosplit", "--languages", "de"],
    ["prepare", "--model", "../../x"], ["prepare", "--model", "xlm-roberta-base"], ["prepare", "--model", ""],
    ["sweep", "/nonexistent.yaml"], ["tasks", "--extra"], ["nonsense-command"], [],
    ["rank", "--task", "sentiment", "--target", "de", "--top", "0"],
    ["rank", "--task", "sentiment", "--target", "de", "--top", "-2"],
]


@pytest.mark.parametrize("argv", CLI_CASES, ids=lambda a: " ".join(a)[:60])
def test_cli_refuses_with_one_line(argv, capsys):
    usage = False
    with deadline():
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:  # argparse's own errors: one line that points at the command's --help
            code, usage = exc.code, True
    err = capsys.readouterr().err
    assert code == 2, (code, err)
    assert "Traceback" not in err and err.count("\n") == 1, err
    if usage:
        assert err.startswith("xlt") and "error:" in err and err.rstrip().endswith("--help`)"), err
    else:
        assert err.startswith("xlt: error:"), err


@pytest.mark.parametrize("name, content, message", [
    ("grid.yaml", "[unclosed", "not a YAML grid"), ("grid.yaml", "- a list", "must hold a mapping"),
    ("grid.yaml", "base: {task: sentiment}\ncolour: red", "unknown key"),
    ("grid.yaml", "base: {task: sentiment}\ngrid: {wat: [1]}", "unknown grid key"),
    ("grid.yaml", "base: {task: sentiment}\ngrid: {seed: []}", "at least one value"),
    ("grid.yaml", "base: {task: sentiment}\ngrid: {seed: [-1]}", "seed"),
    ("grid.yaml", "base: {task: sentiment, method: few-shot}\ngrid: {method_options.shots: [100000]}", "shots"),
    ("grid.yaml", "base: {task: sentiment}\ngrid: {train.nope: [1]}", "unknown training setting"),
    ("grid.yaml", "base: {task: sentiment}\ncells: [1]", "must be a mapping"),
    ("grid.yaml", "\x00\x01", "YAML"),
    ("grid.yaml", "base: {task: sentiment}\ngrid: {1: [2]}", "grid keys are names"),
    ("grid.yaml", "1: x\nbase: {task: sentiment}", "unknown key"),
    # a protocol the records would refuse: once passed --dry-run, then failed as the run began
    ("grid.yaml", "protocol: 2026\nbase: {task: sentiment}", "protocol must be a name"),
    ("grid.yaml", "protocol: [a, b]\nbase: {task: sentiment}", "protocol must be a name"),
    # a repeated key once dropped the first silently (here: the seeds)
    ("grid.yaml", "base: {task: sentiment}\ngrid: {seed: [1, 2]}\ngrid: {method: [zero-shot]}",
     "the key 'grid' is given twice (line 3"),
    ("grid.yaml", "base: {task: sentiment}\ncells: []", "'cells' is empty"),
    ("grid.yaml", "base: &b {task: sentiment}\ncells:\n  - {<<: *b, target_languages: [de]}\n"
                  "  - {<<: *b, target_languages: [fr]}", None),  # YAML merge keys repeat legitimately
    ("grid.yaml", "base: {task: sentiment, method: zero-shot, method_options: {shots: 5}}",
     "method 'zero-shot' has no option(s) ['shots']; its options: none"),
    # split names and result folders are checked by --dry-run, not when the first cell has trained
    ("grid.yaml", "base: {task: sentiment, eval_split: tset}", "no sentiment/tset/<lang>.jsonl for ar, de"),
    ("grid.yaml", "base: {task: sentiment, train_split: trian}",
     "no sentiment/trian/en.jsonl (its sentiment splits: test, train"),
    ("grid.yaml", "base: {task: sentiment, method: few-shot, target_languages: [de], train_split: validation, "
                  "method_options: {shots: 10}}\ngrid: {seed: [1]}", None),
    ("grid.yaml", "results_dir: blocker/inside\nbase: {task: sentiment}", "is a file"),
])
def test_sweep_grid_files(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    (tmp_path / "blocker").write_text("x")
    with deadline():
        code = cli.main(["sweep", str(path), "--dry-run"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if message is None:  # a well-formed grid among the bad ones: the checks refuse only what is wrong
        assert code == 0, err
    else:
        assert code == 2 and message in err, err


@pytest.mark.parametrize("setup, message", [
    ("missing", "does not exist"),  # a typo'd XLT_DATA_DIR once passed --dry-run and skipped few-shot's K check
    ("partial", "no sentiment/train/de.jsonl"),  # few-shot's target rows checked, not taken for Hub data
])
def test_local_data_folder_checked_before_training(tmp_path, monkeypatch, capsys, data_dir, setup, message):
    import shutil

    root = tmp_path / "data"
    if setup == "partial":
        shutil.copytree(data_dir / "sentiment", root / "sentiment")
        (root / "sentiment" / "train" / "de.jsonl").unlink()
    monkeypatch.setenv("XLT_DATA_DIR", str(root))
    with deadline():
        code = cli.main(_train("--method", "few-shot", "--targets", "de", "--opt-shots", "10",
                               "--output-dir", str(tmp_path / "run")))
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "run").exists()


def test_hub_data_cells_are_not_checked_against_the_local_folder(tmp_path):
    from xlt.sweep import prepare

    grid = tmp_path / "grid.yaml"  # XNLI has a train split on the Hub, not in the local folder
    grid.write_text(f"results_dir: {tmp_path / 'results'}\nbase: {{task: nli, train_split: train}}")
    with pytest.raises(XltError, match="no xnli/train/en.jsonl"):
        prepare(grid)
    assert len(prepare(grid, hub_data=True).cells) == 1  # `xlt sweep --backend hf-jobs`


@pytest.mark.parametrize("variable", ["XLT_HOME", "XLT_CACHE"])
def test_home_and_cache_that_are_files(tmp_path, monkeypatch, capsys, variable):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv(variable, str(blocker))
    with deadline():
        code = cli.main(["prepare"] if variable == "XLT_CACHE" else _train())
    err = capsys.readouterr().err
    assert code == 2 and f"({variable}) is a file, not a folder" in err.strip().splitlines()[-1], err
    if variable == "XLT_CACHE":  # the ONNX graph lookup says so too, not "damaged graph, export again"
        from xlt.models.loading import read_classifier_info
        from xlt.models.onnx_runtime import cached_classifier
        from xlt.predict import SHIPPED_DIR

        with pytest.raises(XltError, match="is a file, not a folder"):
            cached_classifier(SHIPPED_DIR / "sentiment", read_classifier_info(SHIPPED_DIR / "sentiment"))


def test_save_model_replaces_only_a_model(tmp_path, capsys):
    import shutil

    from xlt.experiment import check_model_folder, save_model
    from xlt.predict import SHIPPED_DIR

    others = tmp_path / "mine"
    others.mkdir()
    (others / "thesis.tex").write_text("years of work")
    with deadline():
        code = cli.main(_train("--save-model", str(others), "--output-dir", str(tmp_path / "run")))
    assert code == 2 and "not an xlt model's (thesis.tex)" in capsys.readouterr().err
    assert (others / "thesis.tex").read_text() == "years of work"
    assert not (tmp_path / "run").exists()  # refused before training

    class Artifact:  # saves like a classifier: an info file and a weights folder
        def save(self, folder):
            folder.mkdir(parents=True)
            shutil.copy(SHIPPED_DIR / "sentiment" / "xlt_classifier.json", folder)
            (folder / "encoder").mkdir()
            return folder

    model = tmp_path / "model"
    shutil.copytree(SHIPPED_DIR / "sentiment", model)
    check_model_folder(model)  # an earlier model's folder: replaced, as a predictor is retrained
    assert save_model(Artifact(), model) == model
    assert sorted(p.name for p in model.iterdir()) == ["encoder", "xlt_classifier.json"]  # no adapter/ left over
    # through a symlink and as "." (the working folder): the model lands in the folder, the link stays a link
    link = tmp_path / "link"
    link.symlink_to(model)
    assert save_model(Artifact(), link) == model.resolve() and link.is_symlink()
    assert sorted(p.name for p in model.iterdir()) == ["encoder", "xlt_classifier.json"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(empty)
        assert save_model(Artifact(), Path(".")) == empty.resolve()
    assert sorted(p.name for p in empty.iterdir()) == ["encoder", "xlt_classifier.json"]
    # a model folder that also holds a published model's weights (the pretrained method's reference) is refused
    (model / "model.safetensors").write_text("weights")
    with pytest.raises(XltError, match="model.safetensors"):
        check_model_folder(model)


@pytest.mark.parametrize("kind", ["results-dir", "save-model", "output-dir"])
def test_output_paths_that_are_files_fail_before_training(tmp_path, capsys, kind):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for target in (blocker, blocker / "inside"):
        with deadline():
            code = cli.main(_train(f"--{kind}", str(target)))
        err = capsys.readouterr().err
        assert code == 2 and "is a file" in err and "Traceback" not in err


# --- the app's callbacks -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", TEXTS, ids=lambda t: repr(t)[:30])
def test_app_predict_callbacks(text):
    from xlt.app import callbacks

    with deadline():
        labels, notes = callbacks.predict_any_batch([text], [text], ["nli"])
        for label, note in (callbacks.predict_sentiment(text, "sentiment"),
                            callbacks.predict_nli(text, "A hypothesis.", "nli"),
                            callbacks.predict_zero_shot(text, "sports, politics", False, "This is {}.", "nli"),
                            (labels[0], notes[0])):
            assert isinstance(note, str)
            message = refusal(text)
            if message:
                assert label == {} and note.startswith("**Error:**") and message in note, note
            else:
                assert "Detected language" in note and sum(label.values()) == pytest.approx(1.0, abs=1e-5), note


MODEL_FIELD = [None, "", " ", "sentiment ", " sentiment", "/root/.ssh", "/nonexistent", "/etc/passwd", "../../..",
               "~", "x" * 1000, "a\x00b", 5, ["sentiment"], "owner/name/extra", "http://evil/x", "nli/../sentiment"]


@pytest.mark.parametrize("model", MODEL_FIELD, ids=lambda m: repr(m)[:30])
def test_app_model_field_does_not_probe_the_disk(model):
    from xlt.app import callbacks

    with deadline():
        label, note = callbacks.predict_sentiment("I love it", model)
    if isinstance(model, str) and model.strip() == "sentiment":
        assert label  # one canonical model whatever the spacing
        return
    assert label == {} and note.startswith("**Error:**")
    assert "does not exist" not in note and "is not an xlt classifier folder" not in note


FORM_VALUES = [("train.epochs", float("nan")), ("train.epochs", float("inf")), ("train.epochs", "abc"),
               ("train.batch_size", 10**12), ("train.batch_size", -1), ("train.batch_size", 2.5),
               ("train.max_length", float("nan")), ("train.lora_r", 10**6), ("train.seed", -3),
               ("train.seed", 2**40), ("train.max_train_samples", float("inf")), ("train.learning_rate", "1e-3; rm"),
               ("train.finetune", "qlora"), ("sources", ["xx"]), ("sources", []), ("targets", ["../.."]),
               ("task", "../../x"), ("task", None), ("method", "magic"), ("model", ""), ("train_split", "../x"),
               ("option.few-shot.shots", 10**7), ("train.precision", "bf16")]


@pytest.mark.parametrize("name, value", FORM_VALUES, ids=lambda v: repr(v)[:30])
def test_app_launch_form(tmp_path, name, value):
    from tests.test_app_callbacks import form
    from xlt.app import finetune
    from xlt.jobs import JobStore

    values = form()
    values[name] = value
    if name.startswith("option.few-shot"):
        values["method"] = "few-shot"
    store = JobStore(tmp_path)
    with deadline():
        message = finetune.launch_job(store, values)
    assert message.startswith("**Not started:**"), message
    assert store.list() == []


@pytest.mark.parametrize("payload", ["", "not json", "[]", "{}", '{"task": "sentiment", "evil": 1}',
                                     "[" * 100_000, '{"task": "sentiment", "train": {"epochs": -1}}',
                                     '{"task": "sentiment", "source_languages": ["xx"]}', "x" * 60_000, None,
                                     '{"task": "sentiment", "train": {"seed": 1.5}}',
                                     '{"task": "sentiment", "train": {"seed": ' + "9" * 4500 + "}}"],
                         ids=lambda v: repr(v)[:30])
def test_app_launch_api(tmp_path, payload):
    from xlt.app import finetune
    from xlt.jobs import JobStore

    store = JobStore(tmp_path)
    with deadline():
        message = finetune.launch_config(store, payload)
    assert message.startswith("**Not started:**") and store.list() == []


TRAVERSING_CODES = ["../../../../tmp/x", "/etc/x", "en/../../x", "..", "en/", "e n", "EN", "en\x00", "x" * 50]


@pytest.mark.parametrize("code", TRAVERSING_CODES, ids=repr)
def test_language_codes_that_would_name_a_file_elsewhere_are_refused(tmp_path, monkeypatch, code):
    """A visitor's `target_languages=["../../tmp/x"]` through the launch API read (or probed for) any .jsonl file
    on the server: every language list of a config, and a task file's, holds codes only."""
    from xlt.app import finetune
    from xlt.config import ExperimentConfig
    from xlt.jobs import JobStore
    from xlt.tasks.spec import TaskSpec

    monkeypatch.setenv("XLT_OAUTH", "1")
    monkeypatch.setenv("XLT_OPEN_TRAINING", "1")
    monkeypatch.setenv("XLT_SPACE_OWNER", "owner")
    store = JobStore(tmp_path / "jobs")
    for key in ("source_languages", "target_languages"):
        data = {"task": "sentiment", "source_languages": ["en"], key: [code]}
        with pytest.raises(XltError, match="not language codes"):
            ExperimentConfig.from_dict(data)
        message = finetune.launch_config(store, json.dumps(data), profile={"preferred_username": "eve"})
        assert message.startswith("**Not started:**") and "not language codes" in message, message
    assert store.list() == []
    spec = {"name": "mytask", "text_fields": ["text"], "label_names": ["a", "b"], "languages": ["en", code]}
    with pytest.raises(XltError, match="not language codes"):
        TaskSpec.from_dict(spec)


def test_an_upper_case_language_code_is_refused_with_its_lower_case_spelling():
    from xlt.config import ExperimentConfig

    with pytest.raises(XltError, match=r"\['EN', 'PT-BR'\].*in lower case: \['en', 'pt-BR'\]"):
        ExperimentConfig.from_dict({"task": "sentiment", "source_languages": ["EN", "PT-BR"]})
    with pytest.raises(XltError) as info:
        ExperimentConfig.from_dict({"task": "sentiment", "source_languages": ["../x"]})
    assert "lower case" not in str(info.value)


def test_a_data_file_path_never_leaves_the_data_folder(tmp_path):
    """The last guard, below every config check: whatever names reach it, no file outside the data folder is
    named (a task spec's `local_dir`, a language given to a library function directly)."""
    from xlt.data import load_split, local_split_path
    from xlt.tasks import get_task

    task = get_task("sentiment")
    (tmp_path / "secret.jsonl").write_text('{"text": "secret", "label": 0}\n')
    data = tmp_path / "data"
    (data / "sentiment" / "test").mkdir(parents=True)
    assert local_split_path(task, "en", "test", data) == data / "sentiment" / "test" / "en.jsonl"
    for lang in ("../../../secret", str(tmp_path / "secret")):
        with pytest.raises(XltError, match="outside the data folder"):
            local_split_path(task, lang, "test", data)
        with pytest.raises(XltError, match="outside the data folder"):
            load_split(task, lang, "test", data_dir=data)
    escaping = type(task)(**{**task.to_dict(), "name": "escaping", "local_dir": "../elsewhere"})
    with pytest.raises(XltError, match="outside the data folder"):
        local_split_path(escaping, "en", "test", data)


@pytest.mark.parametrize("job_id", ["", " ", "../../etc/passwd", "x" * 10_000, "a/b", None, "\x00", "nope"])
def test_app_job_controls(tmp_path, job_id):
    from xlt.app import finetune
    from xlt.jobs import JobStore

    store = JobStore(tmp_path)
    with deadline():
        assert finetune.cancel_job(store, job_id).startswith("**Error:**")
        assert finetune.resume_job(store, job_id).startswith("**Error:**")
        text, _, log = finetune.job_detail(store, job_id)
    assert ("Error" in text or "Select a job" in text) and log == ""


@pytest.mark.parametrize("search", ["(", "[", "*", "\\", "a" * 10_000, "\x00", "%", ".*", "fr", "de"])
def test_leaderboard_search_never_breaks(search):
    from xlt.app import board
    from xlt.results.store import ResultsStore

    store = ResultsStore(repo="")
    runs, _ = board.load_runs(store)
    with deadline():
        table = board.leaderboard_table(runs, search=search)
    if search in ("fr", "de"):  # a target language's code finds the runs that score it (translate-train -> es: not)
        scored = set(runs.loc[runs[f"lang:{search}"].notna(), "run_id"])
        assert scored <= set(table["run_id"]) and len(scored) > len(runs) / 2  # 'de' also finds '--model'
    elif search in ("(", "["):  # taken as the character itself: the runs whose text holds it
        assert 0 < len(table) < len(runs)
    else:  # never as a pattern (".*" would match all): no run's text holds these
        assert table.empty
