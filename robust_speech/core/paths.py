"""Where robust-speech keeps what it builds once and reuses: `$ROBUST_SPEECH_CACHE`, else
`$XDG_CACHE_HOME/robust-speech`, else `~/.cache/robust-speech`; and where a command writes its results when not
told otherwise."""

from __future__ import annotations

import os
from pathlib import Path

# Results go to the folder the command runs in unless told otherwise, as the challenge's eval.py writes them.
WORKING_DIRECTORY = "."


def cache_root() -> Path:
    root = os.environ.get("ROBUST_SPEECH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "robust-speech"
    )
    return Path(root)
