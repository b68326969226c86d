"""'+'-joined datasets whose sources name one split differently (`validation` in one, `dev` in another)."""

import numpy as np
import pytest
import soundfile as sf

from robust_speech.core.errors import ConfigurationError
from robust_speech.data.sources import TEXT_COLUMN, load_speech_split, parse_sources


def audio_folder(root, split, sentences):
    """An audio folder whose `split/` subfolder holds clips and their metadata.csv."""
    folder = root / split
    folder.mkdir(parents=True)
    rows = ["file_name,sentence"]
    for index, sentence in enumerate(sentences):
        sf.write(folder / f"{index}.wav", np.zeros(1600, dtype=np.float32), 16000)
        rows.append(f"{index}.wav,{sentence}")
    (folder / "metadata.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (root / "train").mkdir()
    (root / "train" / "metadata.csv").write_text("file_name,sentence\n", encoding="utf-8")
    return root


@pytest.mark.parametrize("asked", ["validation", "dev"])
def test_each_source_reads_its_own_name_of_the_dev_split(tmp_path, asked):
    with_dev = audio_folder(tmp_path / "a", "dev", ["from the dev folder"])
    with_validation = audio_folder(tmp_path / "b", "validation", ["from the validation folder"])
    notes = []
    joined = load_speech_split(parse_sources(f"{with_dev}+{with_validation}"), asked, notes=notes)
    assert joined[TEXT_COLUMN] == ["from the dev folder", "from the validation folder"]
    other = "dev" if asked == "validation" else "validation"
    assert any(f"no split {asked!r}, using its {other!r} split" in note for note in notes)


def test_a_split_with_no_equivalent_is_still_refused(tmp_path):
    with_dev = audio_folder(tmp_path / "a", "dev", ["a sentence"])
    with pytest.raises(ConfigurationError, match="has no split 'test'"):
        load_speech_split(parse_sources(str(with_dev)), "test")
