"""Owner-only training on a public Space; everything open locally."""

import pytest

from tests.test_app_callbacks import form
from xlt import access
from xlt.app import finetune
from xlt.jobs import JobStore

OWNER = {"preferred_username": "owner", "name": "Owner", "profile": "", "picture": ""}
VISITOR = {"preferred_username": "mallory", "name": "M", "profile": "", "picture": ""}


@pytest.fixture
def on_space(monkeypatch):
    monkeypatch.setenv("SPACE_ID", "owner/xlt")
    monkeypatch.setenv("SPACE_AUTHOR_NAME", "owner")
    for name in ("XLT_ALLOWED_USERS", "XLT_OPEN_TRAINING", "XLT_OAUTH", "XLT_SPACE_OWNER"):
        monkeypatch.delenv(name, raising=False)


def test_locally_everything_stays_open(monkeypatch, tmp_path):
    for name in ("SPACE_ID", "XLT_OAUTH"):
        monkeypatch.delenv(name, raising=False)
    assert access.training_refusal(None) is None and access.is_owner(None)
    store = JobStore(tmp_path)
    assert "Not started" not in finetune.launch_job(store, form())
    assert store.list()[0].launched_by is None


def test_on_a_space_only_the_owner_trains(on_space, tmp_path):
    store = JobStore(tmp_path)
    for profile in (None, VISITOR):
        assert finetune.launch_job(store, form(), profile=profile).startswith("**Not started:**")
    assert store.list() == []
    assert "sign in" in access.training_refusal(None) and "mallory" in access.training_refusal(VISITOR)
    message = finetune.launch_job(store, form(), profile=OWNER)
    assert "Job" in message and "Not started" not in message
    job = store.list()[0]
    assert job.launched_by == "owner"
    for profile in (None, VISITOR):
        assert finetune.cancel_job(store, job.id, profile).startswith("**Refused:**")
        assert finetune.resume_job(store, job.id, profile).startswith("**Refused:**")
    assert store.get(job.id).state == "queued"
    assert "cancelled" in finetune.cancel_job(store, job.id, OWNER)
    assert "queued again" in finetune.resume_job(store, job.id, OWNER)


def test_allow_list_organisations_and_the_open_flag(on_space, monkeypatch):
    assert access.training_refusal({"preferred_username": "Owner"}) is None  # usernames are case-insensitive
    monkeypatch.setenv("XLT_ALLOWED_USERS", "alice, bob")
    assert access.training_refusal({"preferred_username": "bob"}) is None
    monkeypatch.setenv("SPACE_AUTHOR_NAME", "xlt-org")
    member = {"preferred_username": "carol", "orgs": [{"preferred_username": "xlt-org"}]}
    assert access.training_refusal(member) is None
    assert access.training_refusal(VISITOR) is not None
    monkeypatch.setenv("XLT_OPEN_TRAINING", "1")
    assert access.training_refusal(VISITOR) is None
    # anonymous visitors share one identity (None): with open training they could cancel each other's jobs
    assert "sign in" in access.training_refusal(None)


def test_served_app_refuses_anonymous_job_control(monkeypatch, tmp_path):
    """With OAuth on (XLT_OAUTH=1 off a Space: Gradio's local login mock, whose whoami is patched offline),
    the public endpoints refuse an anonymous caller."""
    import gradio.oauth
    from gradio_client import Client

    from tests.app_server import served_app

    monkeypatch.setenv("XLT_OAUTH", "1")
    monkeypatch.setenv("SPACE_AUTHOR_NAME", "owner")
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.setattr(gradio.oauth, "get_token", lambda: "hf_fake")
    monkeypatch.setattr(gradio.oauth, "whoami", lambda *a, **k: {"type": "user", "name": "owner",
                                                                  "fullname": "Owner", "avatarUrl": ""})
    with served_app(tmp_path / "home") as (demo, url):
        client = Client(url, verbose=False)
        config = finetune.build_config(form()).to_dict()
        message, _ = client.predict(__import__("json").dumps(config), False, api_name="/launch")
        assert message.startswith("**Not started:**") and "sign in" in message.lower()
        assert demo.xlt_jobs.list() == []
        job = demo.xlt_jobs.submit(finetune.build_config(form()))
        assert client.predict(job.id, api_name="/cancel").startswith("**Refused:**")
        assert client.predict(job.id, api_name="/resume").startswith("**Refused:**")
        assert demo.xlt_jobs.get(job.id).state in ("queued", "running")
        demo.xlt_jobs.cancel(job.id)


def test_open_training_still_keeps_pushes_and_other_peoples_jobs_to_the_owner(on_space, monkeypatch, tmp_path):
    monkeypatch.setenv("XLT_OPEN_TRAINING", "1")
    monkeypatch.setenv("HF_TOKEN", "hf_space_token")
    store = JobStore(tmp_path)
    assert "only the Space owner can push" in finetune.launch_job(store, form(), push_to_hub=True, profile=VISITOR)
    finetune.launch_job(store, form(), profile=OWNER)
    owners_job = store.list()[0]
    assert finetune.cancel_job(store, owners_job.id, VISITOR).startswith("**Refused:**")
    finetune.launch_job(store, form(), profile=VISITOR)
    visitors_job = next(j for j in store.list() if j.launched_by == "mallory")
    assert "cancelled" in finetune.cancel_job(store, visitors_job.id, VISITOR)


def test_on_a_space_the_model_field_takes_only_the_spaces_hub_models(on_space, monkeypatch):
    from xlt.app.callbacks import allowed_hub_models, app_model
    from xlt.errors import XltError

    with pytest.raises(XltError, match="not one of this Space's Hub models"):
        app_model("someone/private-or-huge-model")
    assert app_model(allowed_hub_models()[0]) == allowed_hub_models()[0]
    monkeypatch.setenv("XLT_ALLOWED_HUB_MODELS", "someone/extra")
    assert app_model("someone/extra") == "someone/extra"


def test_open_training_limits_what_a_visitor_launches_and_files_their_record_unverified(on_space, monkeypatch,
                                                                                         tmp_path):
    """A visitor on an open Space may not make the Space's token fetch any Hub id, train a folder on disk,
    load a task file by path, or queue without end; their job's record is a submission, not a verified run."""
    import json

    monkeypatch.setenv("XLT_OPEN_TRAINING", "1")
    store = JobStore(tmp_path / "jobs")
    config = finetune.build_config(form()).to_dict()
    for model in ("someone/private-or-huge-model", "/etc", str(tmp_path)):
        message = finetune.launch_config(store, json.dumps({**config, "model": model}), profile=VISITOR)
        assert message.startswith("**Not started:**") and "listed models" in message, (model, message)
    task_file = tmp_path / "task.yaml"
    task_file.write_text("name: mytask\n")
    message = finetune.launch_config(store, json.dumps({**config, "task": str(task_file)}), profile=VISITOR)
    assert message.startswith("**Not started:**") and "registered tasks" in message, message
    assert store.list() == []
    for _ in range(access.VISITOR_ACTIVE_JOBS):
        assert "Not started" not in finetune.launch_job(store, form(), profile=VISITOR)
    assert "at once" in finetune.launch_job(store, form(), profile=VISITOR)
    assert all(j.unverified and j.launched_by == "mallory" and j.time_limit_s == 3600 for j in store.list())
    finetune.cancel_job(store, store.list()[0].id, VISITOR)
    assert "Not started" not in finetune.launch_job(store, form(), profile=VISITOR)  # a freed place
    assert "Not started" not in finetune.launch_job(store, form(), profile=OWNER)  # the owner is not limited
    owners = next(j for j in store.list() if j.launched_by == "owner")
    assert not owners.unverified and owners.time_limit_s is None
    monkeypatch.setenv("XLT_VISITOR_MAX_MINUTES", "15")
    finetune.cancel_job(store, next(j.id for j in store.list() if j.launched_by == "mallory" and j.state == "queued"),
                        VISITOR)
    assert "stopped after 15 min" in finetune.launch_job(store, form(), profile=VISITOR)
    monkeypatch.setenv("XLT_VISITOR_MAX_MINUTES", "forever")  # a typo keeps the default, not no limit
    assert access.visitor_time_limit_s() == 3600


def test_a_visitor_is_refused_before_validation_reads_anything_they_name(on_space, monkeypatch, tmp_path):
    """The form's path validated first (reading a folder's config.json, or a Hub config with the Space's
    token) and its message showed what it found; a translator option could name any model or path."""
    import json

    import xlt.experiment

    monkeypatch.setenv("XLT_OPEN_TRAINING", "1")
    store = JobStore(tmp_path / "jobs")
    secret = tmp_path / "secret-model"
    secret.mkdir()
    (secret / "config.json").write_text(json.dumps({"architectures": ["BertForSequenceClassification"],
                                                    "id2label": {"0": "TOP-SECRET-LABEL", "1": "b"}}))
    validated = []
    monkeypatch.setattr(xlt.experiment, "validate", lambda config, *a, **k: validated.append(config))
    for values in (form(model=str(secret), method="pretrained"), form(model="someone/private")):
        message = finetune.launch_job(store, values, profile=VISITOR)
        assert message.startswith("**Not started:**") and "SECRET" not in message, message
    config = finetune.build_config(form(), check=False).to_dict()
    for translator in ("nllb:model=someone/private", "marian:model=/root", "../../etc"):
        data = {**config, "method": "translate-test", "target_languages": ["es"],
                "method_options": {"translator": translator}}
        message = finetune.launch_config(store, json.dumps(data), profile=VISITOR)
        assert message.startswith("**Not started:**") and "plain values" in message, message
    assert validated == [] and store.list() == []
    data = {**config, "method": "translate-test", "target_languages": ["es"],
            "method_options": {"translator": "apertium:pivot=es"}}
    assert "Not started" not in finetune.launch_config(store, json.dumps(data), profile=VISITOR)


def test_resuming_counts_towards_a_visitors_jobs_at_once(on_space, monkeypatch, tmp_path):
    monkeypatch.setenv("XLT_OPEN_TRAINING", "1")
    store = JobStore(tmp_path / "jobs")
    for _ in range(access.VISITOR_ACTIVE_JOBS):
        finetune.launch_job(store, form(), profile=VISITOR)
    first = store.list()[-1]
    finetune.cancel_job(store, first.id, VISITOR)
    finetune.launch_job(store, form(), profile=VISITOR)  # its place taken by a new job
    assert finetune.resume_job(store, first.id, VISITOR).startswith("**Refused:**")
    assert store.get(first.id).state == "cancelled"
    assert "queued again" in finetune.resume_job(store, first.id, OWNER)  # the owner is not limited


def _slow_count(monkeypatch):
    """Widen the gap between counting a visitor's jobs and queueing one, as a slow disk or validation does."""
    import time

    real = finetune._job_limit_refusal
    monkeypatch.setattr(finetune, "_job_limit_refusal", lambda *a: (real(*a), time.sleep(0.05))[0])


def _at_once(calls):
    import threading

    barrier, out = threading.Barrier(len(calls)), []

    def run(call):
        barrier.wait()
        out.append(call())

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return out


def test_parallel_launches_of_a_visitor_stay_within_their_jobs_at_once(on_space, monkeypatch, tmp_path):
    """The count and the queueing were two steps: six launches sent together each counted none of the others and
    all were queued, beyond the limit of two."""
    import json

    monkeypatch.setenv("XLT_OPEN_TRAINING", "1")
    _slow_count(monkeypatch)
    store = JobStore(tmp_path / "jobs")
    config = json.dumps(finetune.build_config(form()).to_dict())
    out = _at_once([lambda: finetune.launch_config(store, config, profile=VISITOR)] * 6)
    assert sum("Not started" not in m for m in out) == access.VISITOR_ACTIVE_JOBS, out
    assert len(store.list()) == access.VISITOR_ACTIVE_JOBS


def test_parallel_resumes_of_a_visitor_stay_within_their_jobs_at_once(on_space, monkeypatch, tmp_path):
    monkeypatch.setenv("XLT_OPEN_TRAINING", "1")
    store = JobStore(tmp_path / "jobs")
    for _ in range(access.VISITOR_ACTIVE_JOBS + 1):  # queued one after another, within the limit, then cancelled
        finetune.launch_job(store, form(), profile=VISITOR)
        finetune.cancel_job(store, next(j.id for j in store.list() if j.state == "queued"), VISITOR)
    _slow_count(monkeypatch)
    out = _at_once([lambda job_id=j.id: finetune.resume_job(store, job_id, VISITOR) for j in store.list()])
    assert sum("queued again" in m for m in out) == access.VISITOR_ACTIVE_JOBS, out
    assert sum(j.state == "queued" for j in store.list()) == access.VISITOR_ACTIVE_JOBS
