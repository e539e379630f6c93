"""Checkpoint averaging: the final model is the uniform mean of the weights at the last N epoch ends.

Zero-shot transfer scores swing from epoch to epoch far more than source scores do; the mean
of a run's late checkpoints is steadier and usually better on the target languages
(Schmidt et al., 2023, "Free Lunch: Robust Cross-Lingual Transfer via Model Checkpoint
Averaging"). Only trainable tensors are averaged (LoRA matrices and the head, or the unfrozen
encoder weights). The running sum is written into every checkpoint, so a resumed run ends with
the same average as one that was never stopped.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from transformers import TrainerCallback

STATE_FILE = "xlt_weight_average.pt"


class CheckpointAverager(TrainerCallback):
    """Adds the trainable weights at each of the last `last_epochs` epoch ends; averages them at the end."""

    def __init__(self, model: torch.nn.Module, epochs: float, last_epochs: int):
        self.model = model
        self.first_epoch = max(1, math.ceil(epochs) - last_epochs + 1)  # epoch ends 1..ceil(epochs)
        self.sum: dict[str, torch.Tensor] = {}
        self.epochs_added: list[int] = []

    def _trainable(self):
        return {name: p for name, p in self.model.named_parameters() if p.requires_grad}

    def resume_from(self, checkpoint: str | None) -> None:
        path = Path(checkpoint) / STATE_FILE if checkpoint else None
        if path is not None and path.is_file():
            state = torch.load(path, map_location="cpu", weights_only=True)
            self.sum, self.epochs_added = state["sum"], list(state["epochs_added"])

    def _add(self, epoch: int) -> None:
        if epoch < self.first_epoch or epoch in self.epochs_added:
            return
        with torch.no_grad():
            for name, p in self._trainable().items():
                value = p.detach().float().cpu()
                self.sum[name] = self.sum[name] + value if name in self.sum else value.clone()
        self.epochs_added.append(epoch)

    def on_step_end(self, args, state, control, **kwargs):
        # the last step of an epoch: state.epoch is a whole number here, before any save at this step
        epoch = round(state.epoch)
        if abs(state.epoch - epoch) < 1e-6:
            self._add(epoch)
        if control.should_save and self.epochs_added:  # goes into the checkpoint the Trainer writes next
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            folder.mkdir(parents=True, exist_ok=True)
            torch.save({"sum": self.sum, "epochs_added": self.epochs_added}, folder / STATE_FILE)

    def on_train_end(self, args, state, control, **kwargs):
        self._add(math.ceil(state.epoch - 1e-6))  # a fractional last epoch (epochs=2.5) ends here
        if not self.epochs_added:
            return
        n = len(self.epochs_added)
        with torch.no_grad():
            for name, p in self._trainable().items():
                p.copy_((self.sum[name] / n).to(p.dtype))

    def stats(self) -> dict:
        return {"checkpoint_average_epochs": list(self.epochs_added)}
