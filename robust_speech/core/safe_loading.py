"""Loading weights safely: safetensors only unless pickle weights are explicitly allowed."""

from __future__ import annotations

import os
from pathlib import Path

from robust_speech.core.errors import ConfigurationError

PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")


def weights_options(model_id: str | os.PathLike, allow_pickle_weights: bool = False) -> dict:
    """`from_pretrained` options that load safetensors only, unless pickle weights are explicitly allowed.

    A pickle (`pytorch_model.bin`) can run arbitrary code when unpickled. By default only safetensors are
    read (`use_safetensors=True`; a Hub repo without them is converted by the Hub's bot when online); a local
    folder with only a pickle is refused here with the fix. Allowed, the pickle is read with
    `torch.load(weights_only=True)`, which unpickles tensors and plain containers and nothing else.
    """
    folder = Path(model_id)
    if not allow_pickle_weights and folder.is_dir() and not any(folder.glob("*.safetensors*")):
        pickles = [name for name in PICKLE_WEIGHTS if (folder / name).is_file()]
        if pickles:
            raise ConfigurationError(
                f"{folder} holds only pickle weights ({pickles[0]}), which can run code when loaded: convert them to "
                "safetensors, or pass --allow_pickle_weights to load them with torch.load(weights_only=True)"
            )
    return {"use_safetensors": None if allow_pickle_weights else True, "weights_only": True}


def refused_pickle(model_id: str | os.PathLike) -> ConfigurationError:
    """The error for a pickle that `torch.load(weights_only=True)` refused: it holds objects, not only tensors."""
    return ConfigurationError(
        f"{model_id}: its pickle weights hold more than tensors and were refused (torch.load weights_only=True); "
        "get safetensors weights from a source you trust"
    )
