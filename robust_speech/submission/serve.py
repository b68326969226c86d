"""`robust-speech serve DIR`: the model folder's own web demo (its app.py) on this machine.

The folder's app.py runs as it would on a Hugging Face Space (`python app.py`), so what is tried here is what
is pushed; robust-speech only adds the files where the folder lacks them and picks the address. Gradio reads the
address from GRADIO_SERVER_NAME and GRADIO_SERVER_PORT, the variables a Space sets too.
"""

from __future__ import annotations

import os
import runpy
import sys
from dataclasses import dataclass
from pathlib import Path

from robust_speech.core.errors import ConfigurationError, MissingDependencyError
from robust_speech.core.logs import LOGGER
from robust_speech.core.space import APP_FILE, REQUIREMENTS_FILE, write_space_app

# What the demo imports beyond the challenge's packages.
SERVE_EXTRA = "pip install 'robust-speech[serve]'"


@dataclass(frozen=True)
class ServeOptions:
    model_dir: str  # the model folder; its app.py is written first when it has none
    host: str = "127.0.0.1"  # this machine only; 0.0.0.0 serves every network interface
    port: int = 7860  # Gradio's own default


def serve(options: ServeOptions) -> None:
    """Run `model_dir/app.py` until interrupted, serving http://host:port."""
    folder = Path(options.model_dir)
    if not folder.is_dir():
        raise ConfigurationError(f"{folder}: no such model folder")
    for written in write_space_app(folder):
        LOGGER.info(f"wrote {written} (the folder had none)")
    os.environ.update(GRADIO_SERVER_NAME=options.host, GRADIO_SERVER_PORT=str(options.port))
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves this machine
    app = folder.resolve() / APP_FILE
    LOGGER.info(f"serving {app} on http://{options.host}:{options.port} (Ctrl+C stops it)")
    sys.path.insert(0, str(app.parent))  # as `python app.py` would: the app may import its neighbours (eval.py)
    try:
        runpy.run_path(str(app), run_name="__main__")
    except ModuleNotFoundError as error:
        raise MissingDependencyError(f"{app} needs {error.name}: {SERVE_EXTRA} (or pip install -r "
                                     f"{folder / REQUIREMENTS_FILE})") from error
    except OSError as error:
        if "port" not in str(error):
            raise
        raise ConfigurationError(f"cannot serve on {options.host}:{options.port} ({error}): give another --port") from error
    finally:
        sys.path.remove(str(app.parent))
