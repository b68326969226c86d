"""Where robust-speech keeps what it builds once and reuses: `$ROBUST_SPEECH_CACHE`, else
`$XDG_CACHE_HOME/robust-speech`, else `~/.cache/robust-speech`."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    root = os.environ.get("ROBUST_SPEECH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "robust-speech"
    )
    return Path(root)
