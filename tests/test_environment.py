"""The installed environment: the numpy trap, and the requirement lists that must agree."""

import re
from pathlib import Path

import numpy as np
import tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_numpy_2_works_with_datasets_and_pyctcdecode():
    assert int(np.__version__.split(".")[0]) >= 2
    import datasets
    import pyarrow
    from pyctcdecode import build_ctcdecoder

    table = datasets.Dataset.from_dict({"sentence": ["a b", "b"], "value": np.arange(2)})
    assert table.with_format("numpy")[:]["value"].tolist() == [0, 1]
    assert int(pyarrow.__version__.split(".")[0]) >= 1
    decoder = build_ctcdecoder(["", "a", "b", " "])
    frames = np.full((6, 4), -10.0, dtype=np.float32)
    for frame, label in enumerate([1, 0, 3, 2, 2, 0]):
        frames[frame, label] = 0.0
    assert decoder.decode(frames) == "a b"


def _names(requirements):
    return {re.split(r"[<>=!~\[ ;]", line.strip(), maxsplit=1)[0].lower().replace("_", "-") for line in requirements}


def test_requirements_txt_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert _names(listed) == _names(project["dependencies"])
    assert "pyctcdecode" not in _names(project["dependencies"])  # it would drag numpy below 2


def test_pyctcdecode_is_installed_without_its_numpy_pin():
    makefile = (ROOT / "Makefile").read_text()
    assert "--no-deps -r requirements-nodeps.txt" in makefile
    assert "pyctcdecode" in (ROOT / "requirements-nodeps.txt").read_text()
    assert makefile.index("torch==2.13.0") < makefile.index('-e ".[test]"')  # torch first, pinned
