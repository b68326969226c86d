"""lm/install.py through its library functions, on hand-written model folders: the LM's layout, what replaces and
what removes it, the checksums of its files, and the processor class in every config transformers reads. Written
for mutation testing (benchmarks/results/mutation.md): test_lm.py installs through build_ngram.py subprocesses,
which mutmut's coverage map does not see, and needs KenLM."""

import json
import os

import pytest

from robust_speech.lm.install import declare_processor_class, install_language_model, remove_language_model
from robust_speech.lm.ngram import DEFAULT_ATTRS, ctc_alphabet

VOCABULARY = {"[PAD]": 0, "[UNK]": 1, "|": 2, "a": 3, "b": 4, "c": 5}


def write_json(path, value):
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")


def read_json(path):
    return json.loads(path.read_text(encoding="utf-8"))


def model_folder(root, processor_class="Wav2Vec2Processor", nested=None):
    root.mkdir(parents=True)
    write_json(root / "vocab.json", VOCABULARY)
    feature_extractor = {"sampling_rate": 16000, **({"processor_class": nested} if nested else {})}
    write_json(root / "processor_config.json", {"processor_class": processor_class, "feature_extractor": feature_extractor})
    write_json(root / "tokenizer_config.json", {"processor_class": processor_class, "unk_token": "[UNK]"})
    return root


def lm_files(tmp_path, name="3gram.bin"):
    binary = tmp_path / "built" / name
    binary.parent.mkdir(exist_ok=True)
    binary.write_bytes(b"kenlm " + name.encode())
    flashlight = tmp_path / "built" / "flashlight_lm.bin"
    flashlight.write_bytes(b"flashlight " + name.encode())
    return binary, flashlight


def processor_classes(folder):
    processor = read_json(folder / "processor_config.json")
    return (processor["processor_class"], processor["feature_extractor"].get("processor_class"),
            read_json(folder / "tokenizer_config.json")["processor_class"])


def test_install_lays_out_the_lm_and_names_the_lm_processor(tmp_path):
    folder = model_folder(tmp_path / "model")
    binary, flashlight = lm_files(tmp_path)
    installed = install_language_model(folder, binary, ["the", "cat", "the", "a"], {"alpha": 0.7},
                                       flashlight_binary=flashlight)
    assert installed == folder / "language_model"
    assert sorted(path.name for path in installed.iterdir()) == ["3gram.bin", "attrs.json", "unigrams.txt"]
    assert (installed / "3gram.bin").read_bytes() == b"kenlm 3gram.bin"
    assert (installed / "unigrams.txt").read_text(encoding="utf-8") == "a\ncat\nthe\n"
    attrs_text = (installed / "attrs.json").read_text(encoding="utf-8")
    assert attrs_text.endswith("}\n") and json.loads(attrs_text) == {**DEFAULT_ATTRS, "alpha": 0.7}
    assert (folder / "alphabet.json").read_text(encoding="utf-8") == ctc_alphabet(VOCABULARY).dumps()
    assert (folder / "flashlight_lm.bin").read_bytes() == b"flashlight 3gram.bin"
    assert not [name for name in os.listdir(folder) if name.startswith(".")]  # no staging or temporary file left
    checksums = read_json(folder / "checksums.json")
    assert sorted(checksums) == ["flashlight_lm.bin", "language_model/3gram.bin", "language_model/unigrams.txt"]
    assert checksums["language_model/3gram.bin"]["size"] == len(b"kenlm 3gram.bin")
    assert processor_classes(folder) == ("Wav2Vec2ProcessorWithLM",) * 3
    assert json.loads((install_language_model(folder, binary, ["a"]) / "attrs.json").read_text()) == DEFAULT_ATTRS


def test_a_new_lm_replaces_the_old_one_whole_and_its_checksums(tmp_path):
    folder = model_folder(tmp_path / "model")
    write_json(folder / "checksums.json", {"model.safetensors": {"size": 1}, "language_model/old.bin": {"size": 2},
                                           "flashlight_lm.bin": {"size": 3}})
    old, old_flashlight = lm_files(tmp_path, "old.bin")
    install_language_model(folder, old, ["x"], flashlight_binary=old_flashlight)
    (folder / "language_model" / "extra.txt").write_text("left over", encoding="utf-8")
    new, _flashlight = lm_files(tmp_path, "4gram.bin")
    install_language_model(folder, new, ["y"])  # no flashlight copy for this one: the old one goes
    assert sorted(path.name for path in (folder / "language_model").iterdir()) == ["4gram.bin", "attrs.json",
                                                                                   "unigrams.txt"]
    assert not (folder / "flashlight_lm.bin").exists()
    assert sorted(read_json(folder / "checksums.json")) == [
        "language_model/4gram.bin", "language_model/unigrams.txt", "model.safetensors"]


def test_a_failed_install_leaves_the_installed_lm_and_no_staging(tmp_path):
    folder = model_folder(tmp_path / "model")
    binary, _flashlight = lm_files(tmp_path)
    install_language_model(folder, binary, ["a"])
    with pytest.raises(FileNotFoundError):
        install_language_model(folder, tmp_path / "missing.bin", ["b"])
    assert (folder / "language_model" / "3gram.bin").is_file()
    assert (folder / "language_model" / "unigrams.txt").read_text(encoding="utf-8") == "a\n"
    assert not [name for name in os.listdir(folder) if name.startswith(".")]


def test_remove_takes_out_the_lm_and_what_was_built_for_it(tmp_path):
    folder = model_folder(tmp_path / "model")
    binary, flashlight = lm_files(tmp_path)
    install_language_model(folder, binary, ["a"], flashlight_binary=flashlight)
    write_json(folder / "decoding.json", {"beam_width": 10})
    checksums = read_json(folder / "checksums.json")
    write_json(folder / "checksums.json", {**checksums, "model.safetensors": {"size": 1}})
    removed = remove_language_model(folder)
    assert removed == [folder / name for name in ("language_model", "alphabet.json", "flashlight_lm.bin",
                                                  "decoding.json")]
    assert not any((folder / name).exists() for name in ("language_model", "alphabet.json", "flashlight_lm.bin",
                                                         "decoding.json"))
    assert read_json(folder / "checksums.json") == {"model.safetensors": {"size": 1}}
    assert processor_classes(folder) == ("Wav2Vec2Processor",) * 3
    assert remove_language_model(folder) == []  # nothing left to remove


def test_remove_without_checksums_writes_none(tmp_path):
    folder = model_folder(tmp_path / "model")
    (folder / "language_model").mkdir()
    (folder / "alphabet.json").write_text("{}", encoding="utf-8")
    assert remove_language_model(folder) == [folder / "language_model", folder / "alphabet.json"]
    assert not (folder / "checksums.json").exists()


def test_the_processor_class_is_declared_wherever_transformers_reads_it(tmp_path):
    folder = model_folder(tmp_path / "model")
    write_json(folder / "preprocessor_config.json", {"processor_class": "Wav2Vec2Processor", "note": "é"})
    changed = declare_processor_class(folder, with_lm=True)
    # processor_config.json holds two of the four places: listed (and written) once.
    assert changed == [folder / "processor_config.json", folder / "preprocessor_config.json",
                       folder / "tokenizer_config.json"]
    assert processor_classes(folder) == ("Wav2Vec2ProcessorWithLM",) * 3
    assert read_json(folder / "preprocessor_config.json")["processor_class"] == "Wav2Vec2ProcessorWithLM"
    text = (folder / "preprocessor_config.json").read_text(encoding="utf-8")
    assert text == json.dumps({"note": "é", "processor_class": "Wav2Vec2ProcessorWithLM"}, indent=2) \
        .replace("\\u00e9", "é") + "\n"
    assert declare_processor_class(folder, with_lm=True) == []  # already so: nothing rewritten
    assert declare_processor_class(folder, with_lm=False) == changed
    assert processor_classes(folder) == ("Wav2Vec2Processor",) * 3


def test_other_processors_and_other_sections_are_left_alone(tmp_path):
    other = model_folder(tmp_path / "bert", processor_class="Wav2Vec2BertProcessor")
    before = {name: (other / name).read_text() for name in ("processor_config.json", "tokenizer_config.json")}
    assert declare_processor_class(other, with_lm=True) == []
    assert {name: (other / name).read_text() for name in before} == before
    # Ours in one file is enough to name it where the key is missing; another class in a file stays.
    mixed = model_folder(tmp_path / "mixed")
    write_json(mixed / "tokenizer_config.json", {"processor_class": "SomethingElse"})
    assert declare_processor_class(mixed, with_lm=True) == [mixed / "processor_config.json"]
    assert processor_classes(mixed) == ("Wav2Vec2ProcessorWithLM", "Wav2Vec2ProcessorWithLM", "SomethingElse")
    # Only the nested feature extractor saying ours is enough too; a nested value that is not a section is skipped.
    nested_only = model_folder(tmp_path / "nested", processor_class="Other", nested="Wav2Vec2Processor")
    assert declare_processor_class(nested_only, with_lm=True) == [nested_only / "processor_config.json"]
    assert processor_classes(nested_only) == ("Other", "Wav2Vec2ProcessorWithLM", "Other")
    flat = tmp_path / "flat"
    flat.mkdir()
    write_json(flat / "processor_config.json", {"processor_class": "Wav2Vec2Processor", "feature_extractor": "x"})
    assert declare_processor_class(flat, with_lm=True) == [flat / "processor_config.json"]
    assert read_json(flat / "processor_config.json") == {"processor_class": "Wav2Vec2ProcessorWithLM",
                                                         "feature_extractor": "x"}
    assert declare_processor_class(tmp_path / "nothing", with_lm=True) == []


def test_the_lm_is_staged_in_a_hidden_folder_of_the_model_folder(tmp_path, monkeypatch):
    import tempfile

    from robust_speech.lm import install

    folder = model_folder(tmp_path / "model")
    binary, _flashlight = lm_files(tmp_path)
    # Not the system's temporary folder: it may be on another filesystem, where os.replace cannot move a folder.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no such folder"))
    seen = []

    def interrupted(path, unigrams):
        seen.extend(os.listdir(folder))
        raise KeyboardInterrupt

    monkeypatch.setattr(install, "write_unigrams", interrupted)
    with pytest.raises(KeyboardInterrupt):
        install_language_model(folder, binary, ["a"])
    # While it is written, the LM is in a hidden folder that a listing of the model skips; then it is gone.
    staged = [name for name in seen if name not in ("vocab.json", "processor_config.json", "tokenizer_config.json")]
    assert len(staged) == 1 and staged[0].startswith(".language_model-")
    assert sorted(os.listdir(folder)) == ["processor_config.json", "tokenizer_config.json", "vocab.json"]
    monkeypatch.undo()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no such folder"))
    assert install_language_model(folder, binary, ["a"]).is_dir()


def test_remove_goes_on_past_what_is_missing(tmp_path):
    folder = model_folder(tmp_path / "model")
    write_json(folder / "decoding.json", {"beam_width": 10})  # tuned for an LM whose folder is already gone
    assert remove_language_model(folder) == [folder / "decoding.json"] and not (folder / "decoding.json").exists()


def test_a_config_that_is_not_an_object_is_skipped(tmp_path):
    folder = model_folder(tmp_path / "model")
    # processor_config.json is read twice (the file and its nested feature extractor): neither is an object here.
    (folder / "processor_config.json").write_text("[]", encoding="utf-8")
    assert declare_processor_class(folder, with_lm=True) == [folder / "tokenizer_config.json"]
    assert (folder / "processor_config.json").read_text(encoding="utf-8") == "[]"
