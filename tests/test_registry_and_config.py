import pytest

from xlt.cli import build_parser
from xlt.config import TrainConfig
from xlt.errors import XltError
from xlt.experiment import ExperimentConfig
from xlt.methods import METHODS
from xlt.models.registry import MODELS, resolve_model
from xlt.registry import Registry
from xlt.tasks import TASKS, get_task


def test_registry_rejects_duplicates_and_suggests_names():
    reg = Registry("thing")
    reg.register("alpha", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("alpha", 2)
    with pytest.raises(XltError, match="Did you mean 'alpha'"):
        reg.get("alpah")


def test_shipped_registries():
    assert {"nli", "sentiment"} <= set(TASKS.names())
    assert "zero-shot" in METHODS.names()
    assert MODELS.get("multilingual-e5-small").text_prefix == "query: "
    assert resolve_model("xlm-roberta-base").hub_id == "xlm-roberta-base"
    assert resolve_model("someone/some-encoder").hub_id == "someone/some-encoder"
    with pytest.raises(XltError, match="unknown model"):
        resolve_model("not-a-model")
    nli = get_task("nli")
    assert nli.is_pair and len(nli.languages) == 15 and nli.metric == "accuracy"
    assert get_task("sentiment").hub_config("de") == "german"


@pytest.mark.parametrize("bad", [
    {"learning_rate": 0}, {"learning_rate": 5}, {"batch_size": 0}, {"epochs": 0}, {"max_length": 4},
    {"finetune": "qlora"}, {"lora_r": 0}, {"dropout": 1.5}, {"precision": "fp8"}, {"max_train_samples": 0},
])
def test_train_config_rejects_bad_values(bad):
    with pytest.raises(XltError, match="bad training settings"):
        TrainConfig(**bad)


def test_experiment_config_validation():
    from xlt.experiment import validate

    with pytest.raises(XltError, match="no language"):
        validate(ExperimentConfig(task="sentiment", source_languages=["sw"]))
    with pytest.raises(XltError, match="unknown method"):
        validate(ExperimentConfig(task="nli", method="magic"))
    with pytest.raises(XltError, match=r"method 'zero-shot' has no option\(s\) \['shots'\]; its options: none"):
        validate(ExperimentConfig(task="nli", method_options={"shots": 3}))
    with pytest.raises(XltError, match="at least one source"):
        ExperimentConfig(task="nli", source_languages=[])


def test_config_round_trips_through_dict_and_command():
    config = ExperimentConfig(task="nli", source_languages=["en", "de"], target_languages=["fr", "sw"],
                              train=TrainConfig(finetune="lora", lora_targets="all-linear", epochs=2.5,
                                                max_train_samples=100, freeze_embeddings=False))
    again = ExperimentConfig.from_dict(config.to_dict())
    assert again.fingerprint() == config.fingerprint()
    # the record's command, parsed by the real CLI, rebuilds the very same experiment
    argv = __import__("shlex").split(config.to_command())[1:]
    args = build_parser().parse_args(argv)
    from dataclasses import fields

    train = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    rebuilt = ExperimentConfig(task=args.task, method=args.method, model=args.model,
                               source_languages=args.source.split(","), target_languages=args.targets.split(","),
                               train=train)
    assert rebuilt.fingerprint() == config.fingerprint()
    # a protocol run's command carries its label and its premise control, and is still the same experiment
    labelled = build_parser().parse_args(__import__("shlex").split(
        config.to_command(protocol="cpu-v1", premise_control=True))[1:])
    assert labelled.protocol == "cpu-v1" and labelled.premise_control and labelled.source == args.source
