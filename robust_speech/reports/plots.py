"""PNG figures next to the numbers: the training curve and the robustness curves.

matplotlib with the Agg backend (files only, no display needed); imported lazily so nothing else pays for it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


PANELS = {  # panel -> (the row kinds it plots, x-axis label)
    "noise": (("noise",), "SNR (dB)"),
    "babble": (("babble",), "babble SNR (dB)"),
    "reverb": (("reverb",), "RT60 (s)"),
    "speed": (("speed",), "speed factor"),
    "bandlimit": (("bandlimit",), "bandwidth (Hz)"),
    "codec": (("mp3", "opus", "telephone"), "codec (kbit/s)"),
}


def plot_robustness(results: Mapping[str, object], path: str | os.PathLike, title: str = "") -> Path:
    """One panel per perturbation (noise, babble, reverb, ..., codecs), WER against its levels with the clean WER
    as the first point; one line per entry of `results` (a `RobustnessResult` per model or language). A result
    may carry `style` (a matplotlib line style) to tell runs apart, e.g. a baseline drawn dashed."""
    pyplot = _pyplot()
    panels = [name for name, (kinds, _label) in PANELS.items()
              if any(result.by_kind(kind) for result in results.values() for kind in kinds)]
    figure, axes = pyplot.subplots(1, max(1, len(panels)), figsize=(4.2 * max(1, len(panels)), 3.6), squeeze=False)
    for axis, panel in zip(axes[0], panels):
        kinds, xlabel = PANELS[panel]
        labels = None
        for name, result in results.items():
            rows = [result.clean, *(row for kind in kinds for row in result.by_kind(kind))]
            labels = ["clean", *(_tick(row) for row in rows[1:])]
            axis.plot(range(len(rows)), [row.wer for row in rows], marker="o", label=name,
                      linestyle=getattr(result, "style", "-"))
        axis.set_xticks(range(len(labels)), labels)
        axis.set_xlabel(xlabel)
        axis.set_ylabel("WER")
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize="small")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, pyplot, path)


def _tick(row) -> str:
    if row.kind == "telephone":
        return "phone"
    if row.kind in ("mp3", "opus"):
        return f"{row.kind} {row.level:g}"
    return f"{row.level:g}"


def plot_training_curve(trainer_state: str | os.PathLike, path: str | os.PathLike) -> Path | None:
    """Training loss (and eval WER when the run evaluated) against steps, from the Trainer's trainer_state.json.
    None when the run logged no loss."""
    history = json.loads(Path(trainer_state).read_text(encoding="utf-8")).get("log_history", [])
    losses = [(entry["step"], entry["loss"]) for entry in history if "loss" in entry and "step" in entry]
    wers = [(entry["step"], entry["eval_wer"]) for entry in history if "eval_wer" in entry]
    if not losses:
        return None
    pyplot = _pyplot()
    figure, axis = pyplot.subplots(figsize=(6, 3.6))
    axis.plot(*zip(*losses), color="tab:blue", label="training loss")
    axis.set_xlabel("step")
    axis.set_ylabel("CTC loss")
    axis.set_yscale("log")
    axis.grid(alpha=0.3)
    if wers:
        other = axis.twinx()
        other.plot(*zip(*wers), color="tab:red", marker="o", label="eval WER")
        other.set_ylabel("eval WER")
        figure.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    return _save(figure, pyplot, path)


def _save(figure, pyplot, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
    return path
