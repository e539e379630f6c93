"""Messages that name the real problem: a folder given as a task, an encoder given to `pretrained`."""

from xlt import cli


def test_a_folder_or_missing_file_as_the_task(tmp_path, capsys, monkeypatch):
    (tmp_path / "spec.yaml").mkdir()
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    for task, message in ((str(tmp_path), "is a folder: give a task name or a YAML or JSON task spec file"),
                          ("data", "task data is a folder"),
                          (str(tmp_path / "spec.yaml"), "is a folder: give a YAML or JSON task spec file"),
                          (str(tmp_path / "none.yaml"), "does not exist")):
        assert cli.main(["train", "--task", task, "--max-train-samples", "4"]) == 2
        err = capsys.readouterr().err
        assert message in err and "unknown task" not in err, err


def test_pretrained_names_an_encoder(capsys):
    """The default model is an encoder with no classifier head: say so, and name a published classifier."""
    assert cli.main(["train", "--task", "sentiment", "--method", "pretrained"]) == 2
    err = capsys.readouterr().err
    assert "is an encoder" in err and "cardiffnlp/twitter-xlm-roberta-base-sentiment-multilingual" in err, err


def test_an_unwritable_results_folder_is_refused_before_training(tmp_path):
    """Tried with a file, not os.access: as root, os.access says /proc is writable."""
    from pathlib import Path

    import pytest

    from xlt.errors import XltError
    from xlt.experiment import check_writable_folder

    with pytest.raises(XltError, match="/proc is not writable"):
        check_writable_folder(Path("/proc/xlt-results"), "results folder")
    check_writable_folder(tmp_path / "new" / "results", "results folder")
    assert not list(tmp_path.iterdir())  # the probe leaves nothing behind
