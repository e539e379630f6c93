"""Publishing trained models: a model card with per-language results, pushed with the folder to a Hub model repo."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import redact


def model_card(record: dict, base_hub_id: str) -> str:
    """A model card with `model-index` per-language results of the record."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    from ..tasks import get_task

    task = get_task(record["task"])
    results = [
        EvalResult(task_type="text-classification", dataset_type=task.hub_dataset, dataset_name=task.hub_dataset,
                   dataset_config=task.hub_config(lang), dataset_split=task.eval_split,
                   metric_type=task.metric if task.metric != "macro_f1" else "f1", metric_name=task.metric,
                   metric_value=round(m[task.metric], 4))
        for lang, m in record["metrics"].items()
    ]
    data = ModelCardData(language=list(record["metrics"]), license="apache-2.0", library_name="peft",
                         base_model=base_hub_id, datasets=[task.hub_dataset], eval_results=results,
                         model_name=f"xlt-{record['task']}-{record['method']}-{'+'.join(record['source_languages'])}",
                         tags=["xlt", "cross-lingual-transfer", record["method"]])
    body = (f"\n# {data.model_name}\n\nTrained with [xlt](https://github.com) method `{record['method']}` from "
            f"{', '.join(record['source_languages'])}.\n\nReproduce:\n\n```bash\n{record['command']}\n```\n")
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}").content


def push_job_outputs(job, record: dict) -> str:
    """Push a finished job's classifier folder + model card to a Hub model repo."""
    from huggingface_hub import create_repo, upload_folder, whoami

    from ..models.registry import resolve_model

    token = os.environ.get("HF_TOKEN")
    if not token:
        return "Not pushed: set HF_TOKEN to push models."
    try:
        user = whoami(token=token)["name"]
        repo_id = f"{user}/xlt-{record['task']}-{record['method']}-{'-'.join(record['source_languages'])}-{job.id}"
        folder = Path(job.model_dir)
        (folder / "README.md").write_text(model_card(record, resolve_model(record["model"]).hub_id))
        create_repo(repo_id, token=token, exist_ok=True, private=True)
        upload_folder(folder_path=str(folder), repo_id=repo_id, token=token, commit_message="xlt: trained model")
    except Exception as exc:
        return f"Model not pushed ({redact(exc)})."
    return f"Model pushed to https://huggingface.co/{repo_id}"
