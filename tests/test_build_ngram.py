"""build_ngram.py's sources: text files and a dataset's transcripts go into one n-gram."""

import numpy as np
import soundfile as sf


def dataset_folder(folder, sentences):
    """An audio folder with metadata.csv: one short clip per sentence."""
    folder.mkdir()
    rows = ["file_name,sentence"]
    for index, sentence in enumerate(sentences):
        sf.write(folder / f"{index}.wav", np.zeros(1600, dtype=np.float32), 16000)
        rows.append(f"{index}.wav,{sentence}")
    (folder / "metadata.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def test_text_files_and_a_dataset_go_into_one_lm(tmp_path, capsys):
    from robust_speech.cli.build_ngram import main

    text = tmp_path / "text.txt"
    text.write_text("textfile sentence one\ntextfile sentence two\n", encoding="utf-8")
    data = dataset_folder(tmp_path / "data", ["dataset words here", "another dataset line"])
    assert main(["--output_dir", str(tmp_path / "lm"), "--text", str(text), "--dataset_name", str(data),
                 "--order", "2"]) == 0
    words = set((tmp_path / "lm" / "unigrams.txt").read_text(encoding="utf-8").split())
    assert {"textfile", "one", "two"} <= words and {"dataset", "another", "here"} <= words
    out = capsys.readouterr().out
    assert "LM text: 4 of 4 sentences kept" in out  # said through the logger, which main shows


def test_build_takes_its_options_alone_and_says_nothing_unless_asked(tmp_path, capsys):
    """A Python caller gets the same LM from `build(options)`; what it reports goes to the `robust_speech`
    logger (silent unless the caller configures logging)."""
    import logging

    from robust_speech.core.logs import LOGGER
    from robust_speech.lm.build import LMBuildOptions, build
    from robust_speech.lm.ngram import NgramOptions

    text = tmp_path / "text.txt"
    text.write_text("a b c\nb c d\n", encoding="utf-8")
    state = (LOGGER.level, list(LOGGER.handlers), LOGGER.propagate)
    LOGGER.handlers[:] = []
    LOGGER.propagate = False
    try:
        binary = build(LMBuildOptions(output_dir=str(tmp_path / "lm"), text=(str(text),), ngram=NgramOptions(order=2)))
        assert binary.is_file() and capsys.readouterr().out == ""
        records = []
        handler = logging.Handler()
        handler.emit = records.append
        LOGGER.addHandler(handler)
        LOGGER.setLevel(logging.INFO)
        build(LMBuildOptions(output_dir=str(tmp_path / "lm2"), text=(str(text),), ngram=NgramOptions(order=2)))
        assert any(record.getMessage().startswith("LM text: 2 of 2") for record in records)
    finally:
        LOGGER.setLevel(state[0])
        LOGGER.handlers[:] = state[1]
        LOGGER.propagate = state[2]


def test_a_dataset_of_transcripts_alone_needs_no_audio_column(tmp_path, capsys):
    """The LM reads transcripts only: a parquet table without audio is a text source (it used to be refused
    with 'pass --audio_column_name', a flag build_ngram.py does not have)."""
    import datasets

    from robust_speech.cli.build_ngram import main

    table = tmp_path / "sentences.parquet"
    datasets.Dataset.from_dict({"sentence": ["only text here", "no audio at all"]}).to_parquet(str(table))
    assert main(["--output_dir", str(tmp_path / "lm"), "--dataset_name", str(table), "--order", "2"]) == 0
    assert {"only", "audio"} <= set((tmp_path / "lm" / "unigrams.txt").read_text(encoding="utf-8").split())


CARD = "---\nlanguage:\n- {code}\ntags:\n- robust-speech-event\n- {code}\n---\n# model\n"


def test_language_is_recorded_and_check_submission_expects_it_in_the_card(tmp_path, kenlm_programs):
    """An LM built separately (a multilingual model given a German LM) records its language, and the card's
    language is checked against it."""
    from model_folders import save_processor

    from robust_speech.cli.build_ngram import main
    from robust_speech.data.training_text import LM_SET, read_training_text
    from robust_speech.submission.check_card import check_card

    folder = save_processor(tmp_path / "model")
    text = tmp_path / "de.txt"
    text.write_text("der hund sah die katze\ndie katze sah den hund\n", encoding="utf-8")
    assert main(["--model_dir", str(folder), "--text", str(text), "--order", "2", "--language", "de"]) == 0
    recorded = read_training_text(folder)
    assert recorded.sets[LM_SET].language == "de"
    (folder / "README.md").write_text(CARD.format(code="en"), encoding="utf-8")
    [language] = [item for item in check_card(folder, recorded) if "ISO 639" in item.what]
    assert not language.ok and "the folder's text is in de" in language.fix
    (folder / "README.md").write_text(CARD.format(code="de"), encoding="utf-8")
    [language] = [item for item in check_card(folder, recorded) if "ISO 639" in item.what]
    assert language.ok and language.what.endswith("de (as recorded: de)")


def test_language_must_be_an_iso_code_and_needs_a_model_folder(tmp_path, monkeypatch, capsys):
    from robust_speech.cli.build_ngram import main

    monkeypatch.chdir(tmp_path)
    assert main(["--model_dir", "m", "--text", "t.txt", "--language", "german"]) == 2
    assert "--language 'german' is no ISO 639 code" in capsys.readouterr().err
    assert main(["--output_dir", "o", "--text", "t.txt", "--language", "de"]) == 2
    assert "--language needs --model_dir" in capsys.readouterr().err
