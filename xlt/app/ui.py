"""Gradio UI wiring: tabs, components and events. No ML logic lives here."""

from __future__ import annotations

import os
from pathlib import Path

from ..jobs import JobRunner, JobStore
from . import board, callbacks, finetune

EXAMPLES_SENTIMENT = [
    ["Ce film était une perte de temps."], ["Ich liebe dieses neue Album!"], ["El servicio fue normal, nada especial."],
    ["هذا المنتج رائع جدا"], ["यह फिल्म बहुत खराब थी"], ["Questo ristorante è fantastico!"],
    ["O atendimento foi péssimo."], ["この映画は本当に素晴らしかった。"], ["Это был лучший день в моей жизни!"],
]
EXAMPLES_NLI = [
    ["Der Zug ist heute pünktlich angekommen.", "Der Zug hatte Verspätung."],
    ["Le chat dort sur le canapé.", "Un animal se repose."],
    ["El niño está jugando al fútbol en el parque.", "Un niño practica deporte."],
    ["Мужчина читает газету в кафе.", "Женщина плавает в бассейне."],
    ["他每天早上跑步五公里。", "他经常锻炼身体。"],
    ["الطالب نجح في الامتحان.", "الطالب رسب في الامتحان."],
    ["वह बाज़ार से सब्ज़ियाँ खरीद रही है।", "वह खरीदारी कर रही है।"],
    ["Mwalimu anafundisha darasa la hisabati.", "Mwalimu yuko darasani."],
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


def build_app(home: str | Path | None = None, start_runner: bool = True):
    """The multi-tab app. `home` overrides `XLT_HOME` (tests)."""
    import gradio as gr

    from ..hub import ResultsStore
    from ..methods import METHODS
    from ..models.registry import DEFAULT_MODEL, MODELS
    from ..settings import home_dir
    from ..tasks import TASKS, get_task

    home = Path(home) if home else home_dir()
    jobs = JobStore(home / "jobs")
    results = ResultsStore(home=home)
    runner = JobRunner(jobs)
    if start_runner:
        runner.start()

    def model_choices(task: str) -> list[tuple[str, str]]:
        shipped = [(f"shipped {task} model (English-trained, LoRA)", task)]
        return shipped + [(label, path) for label, path in finetune.trained_models(jobs)
                          if Path(path, "xlt_classifier.json").is_file() and task in label]

    with gr.Blocks(title="xlt: cross-lingual transfer") as demo:
        gr.Markdown("# xlt — cross-lingual transfer workbench\n"
                    "Train on one language, predict and evaluate in many. Offline default: multilingual-e5-small.")

        with gr.Tab("Predict", id="predict"):
            with gr.Tab("Sentiment"):
                s_model = gr.Dropdown(model_choices("sentiment"), value="sentiment", label="Model",
                                      allow_custom_value=True, info="a listed model, a folder, or a Hub id (online)")
                s_text = gr.Textbox(label="Text", lines=3, max_length=200_000)
                s_run = gr.Button("Predict sentiment", variant="primary")
                s_label = gr.Label(label="Sentiment")
                s_note = gr.Markdown()
                s_run.click(callbacks.predict_sentiment, inputs=[s_text, s_model], outputs=[s_label, s_note],
                            api_name="sentiment")
                gr.Examples(EXAMPLES_SENTIMENT, inputs=s_text)
            with gr.Tab("NLI"):
                n_model = gr.Dropdown(model_choices("nli"), value="nli", label="Model", allow_custom_value=True)
                n_premise = gr.Textbox(label="Premise", lines=2, max_length=200_000)
                n_hypothesis = gr.Textbox(label="Hypothesis", lines=2, max_length=200_000)
                n_run = gr.Button("Predict relation", variant="primary")
                n_label = gr.Label(label="Relation")
                n_note = gr.Markdown()
                n_run.click(callbacks.predict_nli, inputs=[n_premise, n_hypothesis, n_model],
                            outputs=[n_label, n_note], api_name="nli")
                gr.Examples(EXAMPLES_NLI, inputs=[n_premise, n_hypothesis])
            with gr.Tab("Zero-shot classification"):
                z_model = gr.Dropdown(model_choices("nli"), value="nli", label="NLI model", allow_custom_value=True)
                z_text = gr.Textbox(label="Text", lines=3, max_length=200_000)
                z_labels = gr.Textbox(label="Candidate labels (comma-separated)", value="sports, politics, economy")
                with gr.Row():
                    z_multi = gr.Checkbox(label="Several labels can be true")
                    z_template = gr.Textbox(label="Hypothesis template", value="This example is {}.")
                z_run = gr.Button("Classify", variant="primary")
                z_out = gr.Label(label="Scores")
                z_note = gr.Markdown()
                z_run.click(callbacks.predict_zero_shot, inputs=[z_text, z_labels, z_multi, z_template, z_model],
                            outputs=[z_out, z_note], api_name="zero_shot")
                gr.Examples(EXAMPLES_ZERO_SHOT, inputs=[z_text, z_labels])
            refresh_models = gr.Button("Refresh model lists", size="sm")
            refresh_models.click(lambda: [gr.Dropdown(choices=model_choices(t)) for t in ("sentiment", "nli", "nli")],
                                 outputs=[s_model, n_model, z_model], api_visibility="private")

        with gr.Tab("Fine-tune", id="finetune"):
            gr.Markdown(finetune.device_notice())
            with gr.Row():
                f_task = gr.Dropdown(TASKS.names(), value="sentiment", label="Task")
                f_model = gr.Dropdown(MODELS.names(), value=DEFAULT_MODEL, label="Model", allow_custom_value=True,
                                      info="registry name, Hub id (online) or local path")
                f_method = gr.Dropdown(METHODS.names(), value="zero-shot", label="Method")
                f_finetune = gr.Radio(["lora", "full"], value="lora", label="Fine-tuning")
            with gr.Row():
                langs = list(get_task("sentiment").languages)
                f_sources = gr.Dropdown(langs, value=["en"], multiselect=True, label="Source language(s)")
                f_targets = gr.Dropdown(langs, value=[], multiselect=True, label="Target languages (empty = all)")
            with gr.Row():
                f_lr = gr.Number(5e-4, label="Learning rate")
                f_epochs = gr.Number(1, label="Epochs")
                f_batch = gr.Number(16, label="Batch size", precision=0)
                f_maxlen = gr.Number(128, label="Max length", precision=0)
                f_seed = gr.Number(42, label="Seed", precision=0)
                f_rank = gr.Number(8, label="LoRA rank", precision=0)
                f_train_n = gr.Number(200, label="Train-sample limit (0 = all)", precision=0)
                f_eval_n = gr.Number(200, label="Eval-sample limit per language (0 = all)", precision=0)
            # pushing a model needs a token (the results repo is separate: see the Leaderboard tab)
            push_reason = None if os.environ.get("HF_TOKEN") else "Set HF_TOKEN in the environment to push models."
            f_push = gr.Checkbox(label="Push model + card to the Hub", interactive=push_reason is None,
                                 info=push_reason or "uses HF_TOKEN from the environment")
            f_launch = gr.Button("Launch job", variant="primary")
            f_message = gr.Markdown()
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

            f_task.change(on_task, inputs=f_task, outputs=[f_sources, f_targets], api_visibility="private")
            form = [f_task, f_model, f_method, f_sources, f_targets, f_finetune, f_lr, f_epochs, f_batch, f_maxlen,
                    f_seed, f_rank, f_train_n, f_eval_n]

            def launch(*values):
                *form_values, push = values
                message = finetune.launch_job(jobs, *form_values, push_to_hub=push)
                runner.step()
                return message, finetune.jobs_frame(jobs)

            f_launch.click(launch, inputs=[*form, f_push], outputs=[f_message, jobs_table], api_name="launch")

            def on_select(table, evt: gr.SelectData):
                row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
                return str(table.iloc[row]["id"]) if 0 <= row < len(table) else ""

            jobs_table.select(on_select, inputs=jobs_table, outputs=f_job, api_visibility="private")
            detail = lambda job_id: finetune.job_detail(jobs, job_id)  # noqa: E731
            f_view.click(detail, inputs=f_job, outputs=[f_detail, f_loss, f_log], api_name="job_detail")
            f_job.change(detail, inputs=f_job, outputs=[f_detail, f_loss, f_log], api_visibility="private")
            f_cancel.click(lambda j: finetune.cancel_job(jobs, j), inputs=f_job, outputs=f_message,
                           api_name="cancel")
            f_resume.click(lambda j: finetune.resume_job(jobs, j), inputs=f_job, outputs=f_message,
                           api_name="resume")
            timer = gr.Timer(2.0)
            timer.tick(lambda j: (finetune.jobs_frame(jobs), *finetune.job_detail(jobs, j)), inputs=f_job,
                       outputs=[jobs_table, f_detail, f_loss, f_log], api_visibility="private", show_progress="hidden")
            gr.Button("Jobs table", visible=False).click(lambda: finetune.jobs_frame(jobs), outputs=jobs_table,
                                                         api_name="jobs")

        with gr.Tab("Leaderboard", id="leaderboard"):
            runs_state = gr.State(board.load_runs(results)[0])
            with gr.Row():
                l_task = gr.Dropdown([board.ALL], value=board.ALL, label="Task")
                l_method = gr.Dropdown([board.ALL], value=board.ALL, label="Method")
                l_model = gr.Dropdown([board.ALL], value=board.ALL, label="Model")
                l_source = gr.Dropdown([board.ALL], value=board.ALL, label="Source")
            with gr.Row():
                l_search = gr.Textbox(label="Search", placeholder="method, model, language, command ...")
                l_aggregate = gr.Checkbox(label="Aggregate seeds (mean ± std)")
                l_langs = gr.Checkbox(label="Per-language columns")
            l_table = gr.Dataframe(label="Runs", interactive=False, wrap=True)
            with gr.Row():
                l_refresh = gr.Button("Refresh (pull from the Hub)")
                l_csv = gr.DownloadButton("Download CSV")
            l_status = gr.Markdown()
            l_heatmap = gr.Plot(label="Source × target")
            l_methods = gr.Plot(label="Methods")
            l_bars = gr.Plot(label="Per language")
            filters = [l_task, l_method, l_model, l_source, l_search, l_aggregate, l_langs]

            def render(runs, task, method, model, source, search, aggregate, show_langs):
                table = board.leaderboard_table(runs, task, method, model, source, search, aggregate, show_langs)
                return (table, *board.leaderboard_figures(runs, task, method), board.csv_file(table))

            def reload(pull, task, method, model, source, search, aggregate, show_langs):
                status = board.refresh(results) if pull else ""
                runs, errors = board.load_runs(results)
                if errors:
                    status += f" {len(errors)} malformed record file(s) skipped."
                choices = board.filter_choices(runs)
                dropdowns = [gr.Dropdown(choices=choices[k], value=v if v in choices[k] else board.ALL)
                             for k, v in (("task", task), ("method", method), ("model", model), ("source", source))]
                return (runs, *dropdowns, status.strip(),
                        *render(runs, task, method, model, source, search, aggregate, show_langs))

            outputs = [runs_state, l_task, l_method, l_model, l_source, l_status, l_table, l_heatmap, l_methods,
                       l_bars, l_csv]
            for component in filters:
                component.change(render, inputs=[runs_state, *filters],
                                 outputs=[l_table, l_heatmap, l_methods, l_bars, l_csv], api_visibility="private")
            l_refresh.click(lambda *f: reload(True, *f), inputs=filters, outputs=outputs, api_name="refresh")
            board_timer = gr.Timer(60.0)
            board_timer.tick(lambda *f: reload(False, *f), inputs=filters, outputs=outputs, api_visibility="private",
                             show_progress="hidden")
            demo.load(lambda *f: reload(True, *f), inputs=filters, outputs=outputs, api_visibility="private")
            # API twin of the filters (free text, so clients are not bound to the dropdowns' current choices)
            api_filters = [gr.Textbox(visible=False) for _ in range(5)]
            gr.Button("filtered", visible=False).click(
                lambda task, method, model, source, search: board.leaderboard_table(
                    board.load_runs(results)[0], task or board.ALL, method or board.ALL, model or board.ALL,
                    source or board.ALL, search or ""),
                inputs=api_filters, outputs=l_table, api_name="leaderboard")

        with gr.Tab("About / Submit", id="about"):
            gr.Markdown("## Transfer methods\n" + board.methods_markdown())
            gr.Markdown(ABOUT)
            a_file = gr.File(label="Result JSON produced elsewhere", file_types=[".json"], type="filepath")
            a_submit = gr.Button("Submit record", variant="primary")
            a_status = gr.Markdown()
            a_submit.click(lambda f: board.upload_record(results, f), inputs=a_file, outputs=a_status,
                           api_name="submit_record")

    demo.xlt_jobs, demo.xlt_results, demo.xlt_runner = jobs, results, runner
    return demo


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
