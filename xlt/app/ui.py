"""Gradio UI wiring: tabs, components and events. No ML logic lives here."""

from __future__ import annotations

import os
from pathlib import Path

import gradio as gr

from ..access import sign_in_required
from ..errors import XltError
from ..jobs import JobRunner, JobStore
from ..leaderboard.table import filter_runs
from . import board, callbacks, finetune, sweeps

EXAMPLES_SENTIMENT = [
    ["Ce film était une perte de temps."], ["Ich liebe dieses neue Album!"], ["El servicio fue normal, nada especial."],
    ["هذا المنتج رائع جدا"], ["यह फिल्म बहुत खराब थी"], ["Questo ristorante è fantastico!"],
    ["O atendimento foi péssimo."], ["この映画は本当に素晴らしかった。"], ["Это был лучший день в моей жизни!"],
]
# Each with the relation a reader would give it: shown beside the model's answer, so a wrong answer reads
# as wrong (the shipped models are right about 2 times in 3 on XNLI, and each answer says so per language).
EXAMPLES_NLI = [
    ["Der Zug ist heute pünktlich angekommen.", "Der Zug hatte Verspätung.", "contradiction"],
    ["Le chat dort sur le canapé.", "Un animal se repose.", "entailment"],
    ["El niño está jugando al fútbol en el parque.", "Un niño practica deporte.", "entailment"],
    ["Мужчина читает газету в кафе.", "Женщина плавает в бассейне.", "neutral"],  # both can be true
    ["他每天早上跑步五公里。", "他经常锻炼身体。", "entailment"],
    ["الطالب نجح في الامتحان.", "الطالب رسب في الامتحان.", "contradiction"],
    ["वह बाज़ार से सब्ज़ियाँ खरीद रही है।", "वह खरीदारी कर रही है।", "entailment"],
    ["Mwalimu anafundisha darasa la hisabati.", "Mwalimu yuko darasani.", "entailment"],
]
EXAMPLES_ZERO_SHOT = [
    ["El Real Madrid ganó la final de la Liga de Campeones con un gol en el último minuto.",
     "sports, politics, economy"],
    ["Le parlement a voté la nouvelle loi sur les retraites.", "sports, politics, economy"],
    ["Die Inflation ist im Oktober auf drei Prozent gestiegen.", "sports, politics, economy"],
    ["新款手机的电池续航时间更长。", "technology, food, travel"],
    ["Этот ресторан готовит лучшую пасту в городе.", "technology, food, travel"],
    ["शेयर बाजार आज भारी गिरावट के साथ बंद हुआ।", "sports, politics, economy"],
    ["ตั๋วเครื่องบินไปเชียงใหม่ราคาถูกมากในเดือนนี้", "technology, food, travel"],
    ["السياح يزورون الأهرامات كل صيف", "technology, food, travel"],
]


def build_app(home: str | Path | None = None, start_runner: bool = True, sync_results: bool = True,
              batch_predictions: bool = True, warm: bool = False) -> gr.Blocks:
    """The multi-tab app. `home` overrides `XLT_HOME` (tests); `sync_results` pulls the results repo in
    the background at start-up and every 10 minutes (never on a page load); `batch_predictions=False`
    answers one prediction request per forward pass (the benchmark's baseline); `warm` loads the default
    predictors in the background (with their one-time ONNX export), so the first visitor does not pay it
    inside the prediction queue."""
    from ..results.store import ResultsStore
    from ..settings import home_dir

    home = Path(home) if home else home_dir()
    jobs = JobStore(home / "jobs")
    results = ResultsStore(home=home)
    runner = JobRunner(jobs)
    if start_runner:
        runner.start()
    if sync_results:
        results.start_schedule()
    roots = callbacks.model_roots(home)
    if warm:
        callbacks.warm_in_background(("sentiment", "nli"))

    # Gradio's upload folder is swept hourly (files over an hour old): scripted uploads cannot fill the disk
    with gr.Blocks(title="xlt: cross-lingual transfer", delete_cache=(3600, 3600)) as demo:
        gr.Markdown("# xlt — cross-lingual transfer workbench\n"
                    "Train on one language, predict and evaluate in many. Offline default: multilingual-e5-small.")
        if sign_in_required():
            gr.LoginButton()
        _predict_tab(jobs, roots, batch_predictions)
        launcher = _finetune_tab(jobs, runner, results)
        _leaderboard_tab(demo, results, launcher)
        _about_tab(results)

    demo.xlt_jobs, demo.xlt_results, demo.xlt_runner = jobs, results, runner
    return demo


def _model_choices(jobs: JobStore, task: str) -> list[tuple[str, str]]:
    """Shipped predictors, this app's trained models and (online) recommended Hub classifiers of a task
    (every task when `task` is empty)."""
    from ..models.registry import HUB_PREDICTORS
    from ..predict import shipped_predictors
    from ..settings import hub_offline

    shipped = shipped_predictors(task)
    trained = [(label, path) for label, path, model_task in finetune.trained_models(jobs)
               if Path(path, "xlt_classifier.json").is_file() and task in ("", model_task)]
    hub = [] if hub_offline() else [(f"{hub_id} (Hub)", hub_id) for t, ids in HUB_PREDICTORS.items()
                                    if task in ("", t) for hub_id in ids]
    return shipped + trained + hub


# launch(css=APP_CSS): right-to-left scripts (Arabic, Hebrew, Urdu) run right to left in text boxes and answers
APP_CSS = "textarea, input[type=text], .prose p, .prose li { unicode-bidi: plaintext; text-align: start; }"

# Predictions share forward passes (Gradio batching) in their own concurrency group: one batch at a
# time on the model, never waiting behind Hub or job events.
PREDICT = {"batch": True, "max_batch_size": 64, "concurrency_limit": 1, "concurrency_id": "predict"}
# zero-shot runs one forward pass per candidate label (up to MAX_LABELS a request): its own group and small
# batches, so a burst of 50-label requests never holds sentiment and NLI answers for minutes
ZERO_SHOT = {**PREDICT, "max_batch_size": 4, "concurrency_id": "predict-zero-shot"}


def _batched(fn, batch: bool):
    """`fn` takes one list per input; unbatched, wrap it to take single values (one request at a time)."""
    if batch:
        return fn

    def single(*values):
        return tuple(out[0] for out in fn(*[[v] for v in values]))

    return single


def _predict_tab(jobs: JobStore, roots: list[Path], batch: bool = True) -> None:
    # unbatched (the benchmark's baseline): the same queues, one request per call
    events, zero_shot_events = ((spec if batch else {k: spec[k] for k in ("concurrency_limit", "concurrency_id")})
                                for spec in (PREDICT, ZERO_SHOT))
    with gr.Tab("Predict", id="predict"):
        with gr.Tab("Sentiment"):
            s_model = gr.Dropdown(_model_choices(jobs, "sentiment"), value="sentiment", label="Model",
                                  allow_custom_value=True, info="a listed model or a Hub id (online)")
            s_text = gr.Textbox(label="Text", lines=3, max_length=200_000)
            s_run = gr.Button("Predict sentiment", variant="primary")
            s_label = gr.Label(label="Sentiment")
            s_note = gr.Markdown()
            s_run.click(_batched(lambda texts, models: callbacks.predict_sentiment_batch(texts, models, roots), batch),
                        inputs=[s_text, s_model], outputs=[s_label, s_note], api_name="sentiment", **events)
            gr.Examples(EXAMPLES_SENTIMENT, inputs=s_text)
        with gr.Tab("NLI"):
            n_model = gr.Dropdown(_model_choices(jobs, "nli"), value="nli", label="Model", allow_custom_value=True)
            n_premise = gr.Textbox(label="Premise", lines=2, max_length=200_000)
            n_hypothesis = gr.Textbox(label="Hypothesis", lines=2, max_length=200_000)
            n_run = gr.Button("Predict relation", variant="primary")
            n_label = gr.Label(label="Relation")
            n_note = gr.Markdown()
            n_run.click(_batched(lambda p, h, models: callbacks.predict_nli_batch(p, h, models, roots), batch),
                        inputs=[n_premise, n_hypothesis, n_model], outputs=[n_label, n_note], api_name="nli",
                        **events)
            n_gold = gr.Textbox(label="Expected relation (a reader's answer to the example)", interactive=False,
                                max_lines=1)
            gr.Examples(EXAMPLES_NLI, inputs=[n_premise, n_hypothesis, n_gold])
            for box in (n_premise, n_hypothesis):  # typing makes it another example: no expected answer
                box.input(lambda: "", outputs=n_gold, api_visibility="private", queue=False)
        with gr.Tab("Zero-shot classification"):
            z_model = gr.Dropdown(_model_choices(jobs, "nli"), value="nli", label="NLI model",
                                  allow_custom_value=True)
            z_text = gr.Textbox(label="Text", lines=3, max_length=200_000)
            z_labels = gr.Textbox(label="Candidate labels (comma-separated)", value="sports, politics, economy")
            with gr.Row():
                z_multi = gr.Checkbox(label="Several labels can be true")
                z_template = gr.Textbox(label="Hypothesis template", value="This example is {}.")
            z_run = gr.Button("Classify", variant="primary")
            z_out = gr.Label(label="Scores")
            z_note = gr.Markdown()
            z_run.click(_batched(lambda t, labels, multi, template, models: callbacks.predict_zero_shot_batch(
                            t, labels, multi, template, models, roots), batch),
                        inputs=[z_text, z_labels, z_multi, z_template, z_model], outputs=[z_out, z_note],
                        api_name="zero_shot", **zero_shot_events)
            gr.Examples(EXAMPLES_ZERO_SHOT, inputs=[z_text, z_labels])
        with gr.Tab("Any model"):
            gr.Markdown("A model of any task (trained here, or a published sequence classifier): the second text "
                        "is used when the model's task takes a pair.")
            a_model = gr.Dropdown(_model_choices(jobs, ""), value=None, label="Model", allow_custom_value=True,
                                  info="a listed model or a Hub id (online)")
            a_first = gr.Textbox(label="Text (or first of a pair)", lines=2, max_length=200_000)
            a_second = gr.Textbox(label="Second text (pair tasks)", lines=2, max_length=200_000)
            a_run = gr.Button("Predict", variant="primary")
            a_out = gr.Label(label="Prediction")
            a_note = gr.Markdown()
            a_run.click(_batched(lambda f, s, models: callbacks.predict_any_batch(f, s, models, roots), batch),
                        inputs=[a_first, a_second, a_model], outputs=[a_out, a_note], api_name="predict_any",
                        **events)
        refresh_models = gr.Button("Refresh model lists", size="sm")
        refresh_models.click(lambda: [gr.Dropdown(choices=_model_choices(jobs, t))
                                      for t in ("sentiment", "nli", "nli", "")],
                             outputs=[s_model, n_model, z_model, a_model], api_visibility="private")


def _input_for(field: finetune.FormField):
    """A Gradio input for one generated form field."""
    info = field.help[:200] or None
    if field.choices:
        return gr.Dropdown(list(field.choices), value=field.default, label=field.label, info=info,
                           allow_custom_value=field.open_choices)
    if field.kind.base == "bool":
        return gr.Checkbox(value=bool(field.default), label=field.label, info=info)
    if field.kind.base in ("int", "float"):
        return gr.Number(value=field.default, label=field.label, info=info,
                         precision=0 if field.kind.base == "int" else None)
    value = field.default
    if isinstance(value, list):
        value = ",".join(map(str, value))
    return gr.Textbox(value="" if value is None else str(value), label=field.label, info=info,
                      placeholder="none" if field.kind.optional else None, max_length=2000)


def _finetune_tab(jobs: JobStore, runner: JobRunner, results) -> dict:
    """The launcher (generated from the config dataclasses) and the jobs list; returns the form's inputs by name."""
    from ..methods import method_names
    from ..models.registry import DEFAULT_MODEL, MODELS
    from ..tasks import TASKS, get_task

    with gr.Tab("Fine-tune", id="finetune"):
        gr.Markdown(finetune.device_notice())
        if sign_in_required():
            gr.Markdown("Training on this Space is for its owner and allowed users: sign in with Hugging Face "
                        "to launch, cancel or resume. Everyone can watch the jobs.")
        inputs: dict[str, gr.components.Component] = {}
        with gr.Row():
            inputs["task"] = gr.Dropdown(TASKS.names(), value="sentiment", label="Task")
            inputs["model"] = gr.Dropdown(MODELS.names(), value=DEFAULT_MODEL, label="Model", allow_custom_value=True,
                                          info="registry name, Hub id (online) or local path")
            inputs["method"] = gr.Dropdown(method_names(), value="zero-shot", label="Method")
        with gr.Row():
            langs = list(get_task("sentiment").languages)
            inputs["sources"] = gr.Dropdown(langs, value=["en"], multiselect=True, label="Source language(s)")
            inputs["targets"] = gr.Dropdown(langs, value=[], multiselect=True, label="Target languages (empty = all)")
        f_sources_hint = gr.Markdown(finetune.SOURCES_HINT)
        fields_by_group: dict[str, list] = {}
        for field in finetune.form_fields():
            fields_by_group.setdefault(field.group, []).append(field)
        with gr.Row():
            for field in fields_by_group.pop("train"):
                inputs[field.name] = _input_for(field)
        with gr.Accordion("Advanced training settings", open=False):
            for field in fields_by_group.pop("experiment") + fields_by_group.pop("advanced"):
                inputs[field.name] = _input_for(field)
        option_boxes = {}
        for group, group_fields in fields_by_group.items():
            method = group.split(":", 1)[1]
            with gr.Accordion(f"Options of method {method}", open=True, visible=method == "zero-shot") as box:
                for field in group_fields:
                    inputs[field.name] = _input_for(field)
            option_boxes[method] = box
        # pushing a model needs a token (the results repo is separate: see the Leaderboard tab)
        push_reason = None if os.environ.get("HF_TOKEN") else "Set HF_TOKEN in the environment to push models."
        f_push = gr.Checkbox(label="Push model + card to the Hub", interactive=push_reason is None,
                             info=push_reason or "uses HF_TOKEN from the environment")
        f_launch = gr.Button("Launch job", variant="primary")
        f_message = gr.Markdown()
        with gr.Accordion("Sweep: queue the cells of a committed grid", open=False):
            gr.Markdown(sweeps.SWEEP_HINT)
            with gr.Row():
                grids = sweeps.grid_choices()
                f_grid = gr.Dropdown(grids, value=grids[0] if grids else None, label="Grid")
                f_only = gr.Textbox(label="Only (optional)", placeholder="method=few-shot seed=42", max_length=1_000)
                f_precision = gr.Radio(list(sweeps.PRECISIONS), value="auto", label="Precision",
                                       info=sweeps.PRECISION_INFO)
            with gr.Row():
                f_preview = gr.Button("Preview cells")
                f_queue = gr.Button("Queue cells still to run")
            f_sweep = gr.Markdown()
        jobs_table = gr.Dataframe(finetune.jobs_frame(jobs), label="Jobs", interactive=False)
        with gr.Row():
            f_job = gr.Textbox(label="Job id", scale=3)
            f_view = gr.Button("Show")
            f_cancel = gr.Button("Cancel", variant="stop")
            f_resume = gr.Button("Resume")
        f_detail = gr.Markdown()
        f_loss = gr.Plot(label="Loss")
        f_log = gr.Textbox(label="Log (tail)", lines=10, max_lines=20, autoscroll=True)

        def on_task(task):
            choices = list(get_task(task).languages)
            source = ["en"] if "en" in choices else choices[:1]
            return gr.Dropdown(choices=choices, value=source), gr.Dropdown(choices=choices, value=[])

        inputs["task"].input(on_task, inputs=inputs["task"], outputs=[inputs["sources"], inputs["targets"]],
                              api_visibility="private")

        def suggest(task, targets, model):
            if not finetune.suggestions_ready(task, targets, model):  # features, and a ranker fit per target
                yield "_Ranking source languages for these targets (the first time reads the data and URIEL) ..._"
            yield finetune.source_suggestions(results, task, targets, model)

        inputs["targets"].change(suggest, inputs=[inputs["task"], inputs["targets"], inputs["model"]],
                                 outputs=f_sources_hint, api_visibility="private", trigger_mode="always_last",
                                 concurrency_id="ranker", show_progress="hidden")
        if option_boxes:
            names = list(option_boxes)
            inputs["method"].change(lambda m: [gr.Accordion(visible=m == name) for name in names],
                                    inputs=inputs["method"], outputs=[option_boxes[n] for n in names],
                                    api_visibility="private")
        names = list(inputs)
        components = [inputs[n] for n in names]

        def launch(*values, profile: gr.OAuthProfile | None = None):
            *form_values, push = values
            message = finetune.launch_job(jobs, dict(zip(names, form_values)), push_to_hub=push, profile=profile)
            runner.step()
            return message, finetune.jobs_frame(jobs)

        def launch_config(config_json: str, push: bool, profile: gr.OAuthProfile | None = None):
            message = finetune.launch_config(jobs, config_json, push_to_hub=push, profile=profile)
            runner.step()
            return message, finetune.jobs_frame(jobs)

        def cancel(job_id: str, profile: gr.OAuthProfile | None = None) -> str:
            return finetune.cancel_job(jobs, job_id, profile)

        def resume(job_id: str, profile: gr.OAuthProfile | None = None) -> str:
            return finetune.resume_job(jobs, job_id, profile)

        def queue(grid: str, only: str, precision: str, profile: gr.OAuthProfile | None = None):
            message = sweeps.queue_sweep(jobs, results, grid, only, profile, precision=precision)
            runner.step()
            return message, finetune.jobs_frame(jobs)

        f_preview.click(lambda grid, only, precision: sweeps.preview_sweep(results, grid, only, precision=precision),
                        inputs=[f_grid, f_only, f_precision], outputs=f_sweep, api_visibility="private",
                        concurrency_id="sweep-preview", concurrency_limit=2)
        f_queue.click(_with_profile(queue, 3), inputs=[f_grid, f_only, f_precision], outputs=[f_sweep, jobs_table],
                      api_visibility="private", concurrency_id="jobs")
        f_launch.click(_with_profile(launch, len(components) + 1), inputs=[*components, f_push],
                       outputs=[f_message, jobs_table], api_visibility="private", concurrency_id="jobs")
        # the API: an experiment config as JSON (ExperimentConfig.to_dict()), not a positional form
        api_config, api_push = gr.Textbox(visible=False), gr.Checkbox(visible=False)
        gr.Button("launch", visible=False).click(launch_config, inputs=[api_config, api_push],
                                                 outputs=[f_message, jobs_table], api_name="launch",
                                                 concurrency_id="jobs")

        def on_select(table, evt: gr.SelectData):
            row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
            return str(table.iloc[row]["id"]) if 0 <= row < len(table) else ""

        jobs_table.select(on_select, inputs=jobs_table, outputs=f_job, api_visibility="private")
        detail = lambda job_id: finetune.job_detail(jobs, job_id)  # noqa: E731
        f_view.click(detail, inputs=f_job, outputs=[f_detail, f_loss, f_log], api_name="job_detail")
        f_job.change(detail, inputs=f_job, outputs=[f_detail, f_loss, f_log], api_visibility="private")
        f_cancel.click(cancel, inputs=f_job, outputs=f_message, api_name="cancel", concurrency_id="jobs")
        f_resume.click(resume, inputs=f_job, outputs=f_message, api_name="resume", concurrency_id="jobs")
        timer = gr.Timer(2.0)
        timer.tick(lambda j: (finetune.jobs_frame(jobs), *finetune.job_detail(jobs, j)), inputs=f_job,
                   outputs=[jobs_table, f_detail, f_loss, f_log], api_visibility="private", show_progress="hidden")
        gr.Button("Jobs table", visible=False).click(lambda: finetune.jobs_frame(jobs), outputs=jobs_table,
                                                     api_name="jobs")
    return inputs


def _with_profile(fn, n_inputs: int):
    """`fn(*values, profile=...)` as a function of exactly `n_inputs` values and an injected OAuth profile
    (Gradio injects `gr.OAuthProfile | None` by type hint and counts positional inputs)."""
    import inspect

    params = [inspect.Parameter(f"value_{i}", inspect.Parameter.POSITIONAL_OR_KEYWORD) for i in range(n_inputs)]
    params.append(inspect.Parameter("profile", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                    annotation=gr.OAuthProfile | None, default=None))

    def wrapper(*args, **kwargs):
        values, profile = list(args[:n_inputs]), kwargs.get("profile", args[n_inputs] if len(args) > n_inputs else None)
        return fn(*values, profile=profile)

    wrapper.__signature__ = inspect.Signature(params)
    wrapper.__annotations__ = {"profile": gr.OAuthProfile | None}
    return wrapper


def _leaderboard_tab(demo: gr.Blocks, results, launcher: dict) -> None:
    with gr.Tab("Leaderboard", id="leaderboard"):
        first_runs, first_cells, _ = board.load_board(results)
        runs_state, cells_state = gr.State(first_runs), gr.State(first_cells)
        with gr.Row():
            l_task = gr.Dropdown([board.ALL], value=board.ALL, label="Task")
            l_method = gr.Dropdown([board.ALL], value=board.ALL, label="Method")
            l_model = gr.Dropdown([board.ALL], value=board.ALL, label="Model")
            l_source = gr.Dropdown([board.ALL], value=board.ALL, label="Source")
            l_protocol = gr.Dropdown([board.ALL], value=board.ALL, label="Protocol",
                                     info="the method charts and the heatmap use one: the most common unless "
                                          "picked here ('(none)': runs that name no protocol)")
        with gr.Row():
            l_search = gr.Textbox(label="Search", placeholder="method, model, language, command ...")
            l_aggregate = gr.Checkbox(label="Aggregate seeds (mean ± std)")
            l_langs = gr.Checkbox(label="Per-language columns")
            l_verified = gr.Checkbox(label="Verified runs only", value=True,
                                     info="untick to see uploads ('⚠ submitted, unverified' until the owner "
                                          "accepts them)")
        l_table = gr.Dataframe(label="Runs", interactive=False, wrap=True)
        with gr.Row():
            l_refresh = gr.Button("Refresh (pull from the Hub in the background)")
            l_csv = gr.DownloadButton("Download CSV")
        l_status = gr.Markdown()
        with gr.Row():
            l_run = gr.Textbox(label="run_id (click a row)", scale=3)
            l_rerun = gr.Button("Re-run this record: fill the Fine-tune launcher")
        with gr.Row():
            l_metric = gr.Dropdown(board.MATRIX_METRICS, value="default", label="Transfer matrix: metric")
            l_view = gr.Radio(board.MATRIX_VIEWS, value="score", label="Transfer matrix: view",
                              info="zero-shot runs with one source language; the diagonal is in-language")
        l_heatmap = gr.Plot(label="Source × target")
        l_matrix_note = gr.Markdown()
        l_methods = gr.Plot(label="Methods")
        l_bars = gr.Plot(label="Per language")
        l_curve = gr.Plot(label="Few-shot learning curve")
        filters = [l_task, l_method, l_model, l_source, l_search, l_aggregate, l_langs, l_verified, l_protocol]

        def render(runs, task, method, model, source, search, aggregate, show_langs, verified, protocol):
            table = board.leaderboard_table(runs, task, method, model, source, search, aggregate, show_langs,
                                            verified, protocol)
            # the figures draw what the filters and the search select
            selected = filter_runs(runs, task, method, model, source, search, verified, protocol)
            return (table, *board.leaderboard_figures(selected, task, method), board.csv_file(table))

        def render_matrix(cells, task, model, metric, view, protocol):
            return board.transfer_view(cells, task, model, metric, view, protocol)

        # the Protocol filter last, in inputs and outputs: the /refresh API keeps its earlier positions
        def reload(pull, task, method, model, source, search, aggregate, show_langs, verified, metric, view,
                   protocol):
            status = board.refresh(results) if pull else results.hub_status()
            runs, cells, errors = board.load_board(results)
            if errors:
                status += f" {len(errors)} malformed record file(s) skipped."
            choices = board.filter_choices(runs)
            names = ("task", "method", "model", "source", "protocol")
            # a choice the new records no longer have falls back to All, in the dropdown and the render alike
            task, method, model, source, protocol = values = [
                v if v in choices[k] else board.ALL for k, v in zip(names, (task, method, model, source, protocol))]
            *filter_dropdowns, protocol_dropdown = [gr.Dropdown(choices=choices[k], value=v)
                                                    for k, v in zip(names, values)]
            return (runs, cells, *filter_dropdowns, status.strip(),
                    *render(runs, task, method, model, source, search, aggregate, show_langs, verified, protocol),
                    *render_matrix(cells, task, model, metric, view, protocol), protocol_dropdown)

        outputs = [runs_state, cells_state, l_task, l_method, l_model, l_source, l_status, l_table,
                   l_methods, l_bars, l_curve, l_csv, l_heatmap, l_matrix_note, l_protocol]
        reload_inputs = [*filters[:-1], l_metric, l_view, l_protocol]
        board_events = {"concurrency_id": "board", "concurrency_limit": 4}
        for component in filters:
            component.change(render, inputs=[runs_state, *filters],
                             outputs=[l_table, l_methods, l_bars, l_curve, l_csv],
                             api_visibility="private",
                             **board_events)
        for component in (l_task, l_model, l_metric, l_view, l_protocol):
            component.change(render_matrix, inputs=[cells_state, l_task, l_model, l_metric, l_view, l_protocol],
                             outputs=[l_heatmap, l_matrix_note], api_visibility="private", **board_events)
        l_refresh.click(lambda *f: reload(True, *f), inputs=reload_inputs, outputs=outputs, api_name="refresh",
                        **board_events)
        board_timer = gr.Timer(60.0)
        board_timer.tick(lambda *f: reload(False, *f), inputs=reload_inputs, outputs=outputs,
                         api_visibility="private", show_progress="hidden", **board_events)
        def on_row(table, evt: gr.SelectData):
            row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
            return str(table.iloc[row]["run_id"]) if "run_id" in table and 0 <= row < len(table) else ""

        l_table.select(on_row, inputs=l_table, outputs=l_run, api_visibility="private")
        names = list(launcher)

        def rerun(run_id):
            from ..tasks import TASKS

            try:
                values = board.rerun_values(results, run_id)
            except XltError as exc:
                return [gr.update() for _ in names] + [f"**Error:** {exc}"]
            langs = list(TASKS.get(values["task"]).languages) if values["task"] in TASKS else []
            updates = []
            for name in names:
                value = values.get(name, gr.update())
                if name in ("sources", "targets"):
                    updates.append(gr.Dropdown(choices=sorted(set(langs) | set(value)), value=value))
                elif isinstance(value, list):
                    updates.append(",".join(map(str, value)))
                else:
                    updates.append(value)
            return updates + [f"Launcher filled from `{run_id}`: open the Fine-tune tab to launch."]

        l_rerun.click(rerun, inputs=l_run, outputs=[*(launcher[n] for n in names), l_status],
                      api_visibility="private")
        # a page load reads the local copy; pulls happen in the background, never per visitor
        demo.load(lambda *f: reload(False, *f), inputs=reload_inputs, outputs=outputs, api_visibility="private",
                  **board_events)
        # API twin of the filters (free text, so clients are not bound to the dropdowns' current choices)
        api_filters = [gr.Textbox(visible=False) for _ in range(5)]
        gr.Button("filtered", visible=False).click(
            lambda task, method, model, source, search: board.leaderboard_table(
                board.load_runs(results)[0], task or board.ALL, method or board.ALL, model or board.ALL,
                source or board.ALL, search or ""),
            inputs=api_filters, outputs=l_table, api_name="leaderboard", **board_events)


def _about_tab(results) -> None:
    with gr.Tab("About / Submit", id="about"):
        gr.Markdown("## Transfer methods\n" + board.methods_markdown())
        gr.Markdown(ABOUT)
        a_file = gr.File(label="Result JSON produced elsewhere", file_types=[".json"], type="filepath")
        a_submit = gr.Button("Submit record", variant="primary")
        a_status = gr.Markdown()

        def submit(file_path, profile: gr.OAuthProfile | None = None, token: gr.OAuthToken | None = None) -> str:
            return board.upload_record(results, file_path, profile, token.token if token is not None else None)

        # their own group: an upload's pull request (up to 20 s on a slow Hub) never holds the board's page loads
        review = {"concurrency_id": "submissions", "concurrency_limit": 2}
        a_submit.click(submit, inputs=a_file, outputs=a_status, api_name="submit_record", **review)
        with gr.Accordion("Owner: accept or reject a submitted record", open=False):
            a_run = gr.Textbox(label="run_id of a '⚠ submitted, unverified' row")
            with gr.Row():
                a_accept = gr.Button("Accept")
                a_reject = gr.Button("Reject (delete)", variant="stop")
            a_accept_status = gr.Markdown()

        def accept(run_id: str, profile: gr.OAuthProfile | None = None) -> str:
            return board.accept_record(results, run_id, profile)

        def reject(run_id: str, profile: gr.OAuthProfile | None = None) -> str:
            return board.reject_record(results, run_id, profile)

        a_accept.click(accept, inputs=a_run, outputs=a_accept_status, api_name="accept_record", **review)
        a_reject.click(reject, inputs=a_run, outputs=a_accept_status, api_name="reject_record", **review)


ABOUT = """
## Reproducing a row
Every run on the leaderboard carries its `command` (shown in the table): run it with the same
data (`XLT_DATA_DIR`, or the Hub) to get the same numbers. Records are JSON files with a
versioned schema (`schema_version`); see `leaderboard/README.md`.

## Data licences
XNLI and MUSE dictionaries: CC BY-NC 4.0. Tatoeba: CC BY 2.0 FR. Tweet sentiment: terms of its
source datasets (cardiffnlp/xlm-t). Fine for research; check before commercial use.

## Submitting a result
Upload a record JSON written by `xlt train` elsewhere. It is validated against the record
schema and rejected with the reason when it does not fit; accepted records are kept locally and
pushed to the results repo when one is configured.
"""
