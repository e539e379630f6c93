"""The Gradio app: callbacks (plain functions) and the UI that wires them."""
