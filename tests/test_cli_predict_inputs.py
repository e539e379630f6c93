"""`xlt predict`'s inputs: refused before any model loads where the task says what it takes; `--file` and
standard input, one input per line (tab-separated pairs for NLI); notes on very long text."""

import io
import sys

import pytest

from xlt import cli, predict


@pytest.fixture
def no_model_load(monkeypatch):
    """A refusal that needs the model would fail here instead of waiting for a load."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded for input that should have been refused first")

    monkeypatch.setattr(predict, "load_predictor", refuse)


@pytest.mark.parametrize("argv, message", [
    (["predict", "--task", "nli", "a text"], "not a text argument"),
    (["predict", "--task", "nli", "--premise", "  ", "--hypothesis", "b"], "premise is empty"),
    (["predict", "--task", "nli", "--premise", "a"], "--hypothesis (hypothesis), both"),
    (["predict", "--task", "nli"], "or a --file of tab-separated pairs"),
    (["predict", "--premise", "a", "--hypothesis", "b", "some text"], "classifies single texts"),
    (["predict", "--task", "sentiment", "--premise", "a", "--hypothesis", "b", "x"], "classifies single texts"),
    (["predict", "--task", "zero-shot", "x", "--labels", "a,b", "--template", "no slot"], "exactly once"),
    (["predict", "--task", "zero-shot", "x", "--labels", "a,b", "--premise", "p"], "not --premise"),
    (["predict", "--task", "zero-shot", "x", "--labels", ",".join(map(str, range(60)))], "the limit is 50"),
    (["predict", "--task", "klingon", "x"], "unknown task 'klingon'"),
    (["predict", "--file", "/nonexistent/in.txt"], "cannot read --file /nonexistent/in.txt"),
])
def test_refused_before_loading(no_model_load, argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_file_refusals(no_model_load, tmp_path, capsys):
    cases = {"folder": (tmp_path, "is a folder"),
             "blank": (tmp_path / "blank.txt", "holds no text"),
             "latin1": (tmp_path / "latin1.txt", "is not UTF-8"),
             "many": (tmp_path / "many.txt", "the limit is 10,000"),
             # line numbers are the file's own, blank lines counted
             "pairs": (tmp_path / "pairs.txt", "line 4: task 'nli' takes a pair per line: premise, a tab, hypothesis "
                                               "(found 2 tabs)"),
             "pair-empty": (tmp_path / "pair-empty.txt", "line 2: hypothesis is empty"),
             "text": (tmp_path / "text.txt", "--file line 3: text has no letters")}
    (tmp_path / "blank.txt").write_text("\n  \n\t\n")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "many.txt").write_text("x\n" * 10_001)
    (tmp_path / "pairs.txt").write_text("a premise\ta hypothesis\n\n\nan extra\ttab\there\n")
    (tmp_path / "pair-empty.txt").write_text("a premise\ta hypothesis\r\nonly a premise\t \r\n")
    (tmp_path / "text.txt").write_text("fine\n\n:-)\n")
    for name, (path, message) in cases.items():
        task = ["--task", "nli"] if name.startswith("pair") else []
        assert cli.main(["predict", *task, "--file", str(path)]) == 2, name
        assert message in capsys.readouterr().err, name


def test_lines_end_at_newlines_only(tmp_path):
    """A form feed or a Unicode line separator inside a text keeps it one input; CRLF files read as LF ones."""
    from xlt.cli import _read_inputs

    path = tmp_path / "texts.txt"
    path.write_bytes("one\u2028still one\x0cand still\r\n\r\ntwo\x85too\n".encode())
    assert _read_inputs(str(path)) == [(1, "one\u2028still one\x0cand still"), (3, "two\x85too")]


def test_file_and_stdin_inputs(tmp_path, monkeypatch, capsys):
    """Lines of a file (a BOM and blank lines ignored) and of standard input are predicted in order."""
    path = tmp_path / "texts.txt"
    path.write_text("\ufeffCe film était une perte de temps.\n\nI love this, best day ever!\n", encoding="utf-8")
    assert cli.main(["predict", "--file", str(path), "--json"]) == 0
    out = capsys.readouterr().out
    import json

    results = json.loads(out)
    assert [r["label"] for r in results] == ["negative", "positive"]
    assert [r["language"] for r in results] == ["fr", "en"]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(
        "Der Zug ist heute pünktlich angekommen.\tDer Zug kam pünktlich an.\n".encode())))
    assert cli.main(["predict", "--task", "nli", "--file", "-", "--premise", "Es regnet.",
                     "--hypothesis", "Es ist nicht trocken.", "--json"]) == 0
    pairs = json.loads(capsys.readouterr().out)
    assert len(pairs) == 2 and pairs[0]["label"] == "entailment"  # the file's pair first, then the flags'


def test_long_text_notes():
    """A text cut before tokenizing says how long it was; an unsure guess on a long text is not blamed on
    its length."""
    sentiment = predict.load_predictor("sentiment")
    long_mixed = "ab cd " * 20_000
    [result] = sentiment.predict([long_mixed])
    notes = " ".join(result.notices)
    assert result.truncated and f"it has {len(long_mixed):,} characters" in notes
    assert "unsure" in notes and "may mix languages" in notes and "short texts" not in notes
    [short] = sentiment.predict(["hmm ok"])  # py3langid: Swedish at 4%
    assert "unsure ('sv'" in " ".join(short.notices) and "short texts are hard" in " ".join(short.notices)
