"""Gradio UI wiring (no ML logic here)."""

from __future__ import annotations

from . import callbacks

EXAMPLES_SENTIMENT = [
    ["Ce film était une perte de temps."], ["Ich liebe dieses neue Album!"], ["El servicio fue normal, nada especial."],
    ["هذا المنتج رائع جدا"], ["यह फिल्म बहुत खराब थी"], ["Questo ristorante è fantastico!"],
    ["O atendimento foi péssimo."], ["この映画は本当に素晴らしかった。"],
]


def build_app():
    import gradio as gr

    with gr.Blocks(title="xlt: cross-lingual transfer") as demo:
        gr.Markdown("# xlt: cross-lingual transfer workbench\nModels trained on English, used in any language.")
        with gr.Tab("Predict"):
            with gr.Tab("Sentiment"):
                text = gr.Textbox(label="Text", lines=3)
                run = gr.Button("Predict", variant="primary")
                label = gr.Label(label="Sentiment")
                note = gr.Markdown()
                run.click(callbacks.predict_sentiment, inputs=text, outputs=[label, note], api_name="sentiment")
                gr.Examples(EXAMPLES_SENTIMENT, inputs=text)
            with gr.Tab("NLI"):
                premise = gr.Textbox(label="Premise", lines=2)
                hypothesis = gr.Textbox(label="Hypothesis", lines=2)
                run_nli = gr.Button("Predict", variant="primary")
                nli_label = gr.Label(label="Relation")
                nli_note = gr.Markdown()
                run_nli.click(callbacks.predict_nli, inputs=[premise, hypothesis], outputs=[nli_label, nli_note],
                              api_name="nli")
            with gr.Tab("Zero-shot classification"):
                zs_text = gr.Textbox(label="Text", lines=3)
                zs_labels = gr.Textbox(label="Candidate labels (comma-separated)", value="sports, politics, economy")
                zs_multi = gr.Checkbox(label="Several labels can be true")
                run_zs = gr.Button("Classify", variant="primary")
                zs_out = gr.Label(label="Scores")
                zs_note = gr.Markdown()
                run_zs.click(callbacks.predict_zero_shot, inputs=[zs_text, zs_labels, zs_multi],
                             outputs=[zs_out, zs_note], api_name="zero_shot")
    return demo
