"""Beyond one GPU: one job per GPU in the runner, multi-GPU runs through accelerate, refused where GPUs lack."""

import os

from tests.test_app_callbacks import form
from xlt import cli
from xlt.app import finetune
from xlt.jobs import JobRunner, JobStore


class FakeProcess:
    def __init__(self, argv, env=None, **kwargs):
        # a live process group (a job process leads its own): the job counts as running
        self.argv, self.env, self.pid = argv, env, os.getpgrp()

    def poll(self):
        return None


def test_the_runner_pins_one_job_per_gpu(tmp_path, monkeypatch):
    started = []

    def fake_popen(argv, **kwargs):
        started.append(FakeProcess(argv, **kwargs))
        return started[-1]

    monkeypatch.setattr("xlt.jobs.subprocess.Popen", fake_popen)
    store = JobStore(tmp_path)
    for _ in range(3):
        store.submit(finetune.build_config(form()))
    runner = JobRunner(store, gpus=2)
    first, second, third = runner.step(), runner.step(), runner.step()
    assert third is None  # both GPUs busy: the third job waits
    assert {first.device, second.device} == {"cuda:0", "cuda:1"}
    assert sorted(p.env["CUDA_VISIBLE_DEVICES"] for p in started) == ["0", "1"]
    assert [j.state for j in store.list()].count("queued") == 1


def test_without_a_gpu_jobs_run_one_at_a_time(tmp_path, monkeypatch):
    monkeypatch.setattr("xlt.jobs.subprocess.Popen", lambda argv, **kw: FakeProcess(argv, **kw))
    store = JobStore(tmp_path)
    for _ in range(2):
        store.submit(finetune.build_config(form()))
    runner = JobRunner(store, gpus=0)
    job = runner.step()
    assert job.device == "cpu" and runner.step() is None


def test_a_multi_gpu_run_is_refused_where_the_gpus_are_missing(capsys):
    code = cli.main(["train", "--task", "sentiment", "--num-gpus", "2", "--max-train-samples", "8"])
    err = capsys.readouterr().err
    assert code == 2 and "asks for 2 GPUs; this machine has 0" in err
    assert cli.main(["train", "--task", "sentiment", "--num-gpus", "0"]) == 2
    assert "--num-gpus must be >= 1, got 0" in capsys.readouterr().err


def test_multi_gpu_runs_go_through_accelerate_and_only_rank_zero_files(monkeypatch):
    from xlt.experiment import is_main_process

    argv = ["train", "--task", "nli", "--num-gpus", "4"]
    command = cli.accelerate_command(4, argv)
    assert command[1:4] == ["-m", "accelerate.commands.launch", "--multi_gpu"]
    assert command[command.index("--num_processes") + 1] == "4" and command[-len(argv):] == argv
    launched = []  # `xlt train --num-gpus 4` on a 4-GPU machine hands itself to that command
    monkeypatch.setattr(cli, "_check_gpus", lambda n: None)
    monkeypatch.setattr("subprocess.call", lambda cmd: launched.append(cmd) or 0)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert cli.main(argv) == 0 and launched == [command]
    assert is_main_process()
    monkeypatch.setenv("RANK", "1")
    assert not is_main_process()


def test_a_non_zero_rank_trains_and_evaluates_but_files_and_saves_nothing(tiny_model_dir, tmp_path, monkeypatch):
    from xlt.config import ExperimentConfig, TrainConfig
    from xlt.experiment import run_and_file

    monkeypatch.setenv("RANK", "1")
    config = ExperimentConfig(task="sentiment", model=str(tiny_model_dir), target_languages=["en", "de"],
                              train=TrainConfig(finetune="full", max_train_samples=8, max_eval_samples=8, epochs=1,
                                                batch_size=8, max_length=32))
    record = run_and_file(config, results_dir=tmp_path / "results", save_model_to=tmp_path / "model",
                          output_dir=tmp_path / "run", show_progress=False)
    assert set(record["metrics"]) == {"en", "de"} and "path" not in record
    assert not list((tmp_path / "results").rglob("*.json")) and not (tmp_path / "model").exists()
