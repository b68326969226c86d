"""The web demo every model folder holds: app.py (a Gradio page decoding with the folder's LM) and the
requirements.txt a Hugging Face Space installs. Their templates are the files of `space_app/`.

They are written beside eval.py when training writes a folder and when build_ngram.py installs an LM, and by
`robust-speech serve` into a folder that lacks them; a file already there is kept (a participant may have
edited the demo, or the folder may hold a requirements.txt of its own).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

APP_FILE = "app.py"
REQUIREMENTS_FILE = "requirements.txt"
TEMPLATE_DIR = Path(__file__).with_name("space_app")


def write_space_app(model_dir: str | os.PathLike) -> list[Path]:
    """Copy the demo's files into `model_dir` where they are missing; returns the files written."""
    written = []
    for name in (APP_FILE, REQUIREMENTS_FILE):
        target = Path(model_dir) / name
        if not target.exists():
            shutil.copyfile(TEMPLATE_DIR / name, target)
            written.append(target)
    return written
