"""A data error names the flags of the command that printed it: the training script's and the verbs'
`--dataset_name`/`--audio_column_name`, eval.py's `--dataset`/`--config` and no audio-column flag (it has none)."""

import subprocess
import sys
from pathlib import Path

import datasets
import pytest

from robust_speech.core.errors import ConfigurationError
from robust_speech.data.sources import EVAL_FLAGS, load_speech_split, parse_sources

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def table_without_audio(tmp_path):
    folder = tmp_path / "saved"
    datasets.DatasetDict({"test": datasets.Dataset.from_dict({"speech": ["a.wav"], "sentence": ["hello"]})}
                         ).save_to_disk(str(folder))
    return folder


def test_joined_parts_that_disagree_are_named_as_the_command_spells_them():
    with pytest.raises(ConfigurationError, match=r"^--dataset_name has 2 '\+'-joined parts but --dataset_config_name"):
        parse_sources("a+b", "x+y+z")
    with pytest.raises(ConfigurationError, match=r"^--dataset has 2 '\+'-joined parts but --config has 3"):
        parse_sources("a+b", "x+y+z", flags=EVAL_FLAGS)
    with pytest.raises(ConfigurationError, match=r"^--dataset 'a\+\+b' has an empty part"):
        parse_sources("a++b", flags=EVAL_FLAGS)


def test_a_missing_audio_column_names_a_flag_only_where_the_command_has_one(table_without_audio):
    with pytest.raises(ConfigurationError, match="pass --audio_column_name"):
        load_speech_split(parse_sources(str(table_without_audio)), "test")
    with pytest.raises(ConfigurationError) as raised:
        load_speech_split(parse_sources(str(table_without_audio), flags=EVAL_FLAGS), "test")
    assert "--audio_column_name" not in str(raised.value) and "rename its audio column 'audio'" in str(raised.value)


def test_eval_py_names_its_own_flags(tmp_path):
    from model_folders import save_random_model

    model = save_random_model(tmp_path / "model")
    result = subprocess.run([sys.executable, str(ROOT / "eval.py"), "--model_id", str(model),
                             "--dataset", "a++b", "--config", "en", "--split", "test"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "--dataset 'a++b' has an empty part" in result.stderr and "--dataset_name" not in result.stderr
