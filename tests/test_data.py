"""Loading: Common Voice folders, audio folders, tables, parquet, save_to_disk, Hub ids, joins, streaming."""

import csv

import datasets
import numpy as np
import pytest
import soundfile
from conftest import dominant_frequency, tone
from datasets.exceptions import DatasetNotFoundError

import robust_speech.data.sources as data_module
from robust_speech.audio.decode import audio_info
from robust_speech.core.errors import ConfigurationError
from robust_speech.data.arguments import DataTrainingArguments
from robust_speech.data.preprocess import PreprocessOptions, preprocess_split
from robust_speech.data.skips import SkipLog
from robust_speech.data.sources import (
    DatasetUnavailableError,
    SourceSpec,
    load_speech_split,
    parse_probabilities,
    parse_sources,
)


def load(name, split="train", config=None, text_column=None, **kwargs):
    return load_speech_split(parse_sources(name, config, text_column), split, **kwargs)


def decoded(dataset, **options):
    log = SkipLog()
    prepared = preprocess_split(dataset, "train", PreprocessOptions(**options), log)
    return prepared.dataset, log


def write_wav(path, audio, sampling_rate):
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, audio, sampling_rate)
    return path


@pytest.fixture(scope="module")
def audio_folder(tmp_path_factory):
    """A folder with train/ and test/ metadata tables and clips at 8 kHz, 44.1 kHz stereo and 16 kHz."""
    root = tmp_path_factory.mktemp("audiofolder")
    specs = {
        "train": [("a.wav", 440.0, 8000, 1, "Hello there"), ("b.flac", 1000.0, 44100, 2, "General Kenobi")],
        "test": [("c.wav", 700.0, 16000, 1, "You are a bold one")],
    }
    for split, clips in specs.items():
        (root / split).mkdir()
        with open(root / split / "metadata.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["file_name", "transcription"])
            for name, frequency, rate, channels, text in clips:
                audio = tone(frequency, 1.5, rate)
                if channels == 2:
                    audio = np.stack([audio, audio], axis=1)
                write_wav(root / split / "clips" / name, audio, rate)
                writer.writerow([f"clips/{name}", text])
    return root


def test_common_voice_folder_by_root_and_config(small_corpus):
    rows = small_corpus.rows("en", "train") + small_corpus.rows("en", "dev")
    dataset = load(str(small_corpus.root), "train+validation", config="en")
    assert dataset.column_names == ["audio", "sentence", "source"]
    assert dataset["sentence"][:] == [row["sentence"] for row in rows]
    assert set(dataset["source"][:]) == {f"{small_corpus.root}/en:train+validation"}
    records, log = decoded(dataset)
    assert not log.rows
    first = records[0]["audio"]
    assert first["sampling_rate"] == 16000 and first["path"].endswith(rows[0]["path"])
    assert 0.5 < len(first["array"]) / 16000 < 15


def test_common_voice_language_folder_directly_and_unknown_split(small_corpus):
    dataset = load(str(small_corpus.root / "de"), "test")
    assert len(dataset) == len(small_corpus.rows("de", "test"))
    with pytest.raises(ConfigurationError, match="no split 'other'.*train, dev, test, validated"):
        load(str(small_corpus.root / "de"), "other")
    with pytest.raises(ConfigurationError, match="pass one as --dataset_config_name"):
        load(str(small_corpus.root), "train")


def test_audio_folder_resamples_8k_and_44k_stereo_to_16k_mono(audio_folder):
    dataset = load(str(audio_folder), "train")
    assert dataset["sentence"][:] == ["Hello there", "General Kenobi"]
    records, _ = decoded(dataset)
    for record, frequency in zip(records, (440.0, 1000.0)):
        array = np.asarray(record["audio"]["array"], dtype=np.float32)
        assert record["audio"]["sampling_rate"] == 16000 and array.ndim == 1
        assert abs(array.size - 1.5 * 16000) <= 2
        assert abs(dominant_frequency(array, 16000) - frequency) < 5
    assert len(load(str(audio_folder), "test")) == 1


@pytest.mark.parametrize("suffix", ["csv", "tsv"])
def test_single_table_of_absolute_paths(tmp_path, audio_folder, suffix):
    table = tmp_path / f"list.{suffix}"
    clip = audio_folder / "test" / "clips" / "c.wav"
    if suffix == "tsv":  # Common Voice style: unquoted, a quote is text
        table.write_text(f"path\tsentence\n{clip}\t\"Quoted\" NaN 1e3\n", encoding="utf-8")
    else:
        table.write_text(f'path,sentence\n{clip},"""Quoted"" NaN 1e3"\n', encoding="utf-8")
    notes = []
    dataset = load(str(table), "test", notes=notes)
    assert dataset["sentence"][:] == ['"Quoted" NaN 1e3']  # text stays text: no quote stripping, no NaN
    assert "one table without splits" in notes[0]
    records, _ = decoded(dataset)
    assert abs(dominant_frequency(np.asarray(records[0]["audio"]["array"]), 16000) - 700) < 5


def _audio_dataset(folder, names_and_texts, text_column="text"):
    rows = {"audio": [], text_column: []}
    for name, text in names_and_texts:
        rows["audio"].append({"bytes": (folder / name).read_bytes(), "path": name})
        rows[text_column].append(text)
    return datasets.Dataset.from_dict(rows).cast_column("audio", datasets.Audio())


def test_parquet_folder_and_file_through_load_dataset(tmp_path, audio_folder):
    clips = audio_folder / "train" / "clips"
    table = _audio_dataset(clips, [("a.wav", "one"), ("b.flac", "two")])
    (tmp_path / "pq" / "data").mkdir(parents=True)
    table.to_parquet(tmp_path / "pq" / "data" / "train-00000-of-00001.parquet")
    dataset = load(str(tmp_path / "pq"), "train")
    assert dataset["sentence"][:] == ["one", "two"]
    records, log = decoded(dataset)
    assert not log.rows and [r["audio"]["path"] for r in records] == ["a.wav", "b.flac"]
    single = load(str(tmp_path / "pq" / "data" / "train-00000-of-00001.parquet"), "anything")
    assert len(single) == 2


def test_save_to_disk_dataset_dict(tmp_path, audio_folder):
    clips = audio_folder / "train" / "clips"
    saved = datasets.DatasetDict(
        {"train": _audio_dataset(clips, [("a.wav", "one")], "sentence"),
         "test": _audio_dataset(clips, [("b.flac", "two")], "sentence")}
    )
    saved.save_to_disk(tmp_path / "saved")
    dataset = load(str(tmp_path / "saved"), "test")
    assert dataset["sentence"][:] == ["two"]
    records, _ = decoded(dataset)
    assert len(records[0]["audio"]["array"]) == 1.5 * 16000
    with pytest.raises(ConfigurationError, match="no split 'dev'"):
        load(str(tmp_path / "saved"), "dev")


def test_two_datasets_concatenated_or_interleaved(small_corpus):
    root = str(small_corpus.root)
    joined = load(f"{root}/en+{root}/de", "train")
    assert len(joined) == 12
    interleaved = load(
        f"{root}/en+{root}/de", "train", interleave_probabilities=parse_probabilities("0.5,0.5", 2),
        stopping_strategy="first_exhausted", seed=3,
    )
    sources = interleaved["source"][:]
    assert {s.rsplit("/", 1)[1] for s in sources} == {"en:train", "de:train"}
    assert len(sources) < 12  # stops when the first one runs out
    by_config = load(root, "train", config="es+it")
    assert len(by_config) == 12 and by_config["source"][0].endswith("es:train")


def test_streaming_dataset_decodes_lazily_and_appends_skips(small_corpus, tmp_path):
    stream = load(str(small_corpus.root), "train+dev", config="it", streaming=True)
    assert isinstance(stream, datasets.IterableDataset)
    durations = sorted(audio_info(small_corpus.clips_dir("it") / row["path"]).duration
                       for split in ("train", "dev") for row in small_corpus.rows("it", split))
    threshold = (durations[3] + durations[4]) / 2  # half of the clips are shorter
    skip_file = tmp_path / "skipped.tsv"
    prepared = preprocess_split(
        stream, "train", PreprocessOptions(min_duration_s=threshold), SkipLog(), streaming_skip_file=skip_file
    )
    records = list(prepared.dataset)
    assert len(list(prepared.dataset)) == 4  # read again (the next epoch): the skips are not written twice
    skipped = list(csv.DictReader(open(skip_file), delimiter="\t"))
    assert len(records) == len(skipped) == 4
    assert all(r["audio"]["sampling_rate"] == 16000 and len(r["audio"]["array"]) >= threshold * 16000 for r in records)
    # float32 arrays, as decoded: not Python lists of floats (8x the memory in a bucketing buffer)
    assert all(isinstance(r["audio"]["array"], np.ndarray) and r["audio"]["array"].dtype == np.float32 for r in records)
    assert all(row["reason"] == "too short" for row in skipped)


def test_streams_never_materialize_a_table_nor_copy_parquet(small_corpus, audio_folder, tmp_path, monkeypatch):
    import robust_speech.data.local_datasets as local_datasets

    def materialized(*_args, **_kwargs):
        raise AssertionError("a stream read the whole table into memory")

    monkeypatch.setattr(local_datasets, "_table_dataset", materialized)
    stream = load(str(small_corpus.root), "train", config="en", streaming=True)
    assert [row["sentence"] for row in stream] == [row["sentence"] for row in small_corpus.rows("en", "train")]

    clips = audio_folder / "train" / "clips"
    (tmp_path / "pq" / "data").mkdir(parents=True)
    _audio_dataset(clips, [("a.wav", "one"), ("b.flac", "two")]).to_parquet(
        tmp_path / "pq" / "data" / "train-00000-of-00001.parquet")
    calls = []
    real_load_dataset = datasets.load_dataset

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load_dataset(*args, **kwargs)

    monkeypatch.setattr(data_module.datasets, "load_dataset", spy)
    cache = tmp_path / "cache"
    stream = load(str(tmp_path / "pq"), "train", streaming=True, cache_dir=str(cache))
    records, _ = decoded(stream)
    assert [len(record["audio"]["array"]) for record in records] == [24000, 24000]
    assert not list(cache.rglob("*.arrow"))  # read from the parquet files, never copied into an Arrow cache
    texts = load(str(tmp_path / "pq"), "train", streaming=True, cache_dir=str(cache), text_only=True)
    assert list(texts) == [{"sentence": "one", "source": f"{tmp_path / 'pq'}:train"},
                           {"sentence": "two", "source": f"{tmp_path / 'pq'}:train"}]
    assert calls[-1]["columns"] == ["text"]  # the transcript pass reads the text column alone, not the audio


SCRIPT_ERROR = RuntimeError("Dataset scripts are no longer supported, but found common_voice_11_0.py")
GONE_ERROR = DatasetNotFoundError("Dataset 'mozilla-foundation/common_voice_11_0' doesn't exist on the Hub or cannot "
                                  "be accessed.")


@pytest.mark.parametrize("error", [SCRIPT_ERROR, GONE_ERROR], ids=["loading script", "repository gone"])
def test_script_based_or_gone_common_voice_names_the_release_folder(monkeypatch, error):
    def fake_load_dataset(*_args, **_kwargs):
        raise error

    monkeypatch.setattr(data_module.datasets, "load_dataset", fake_load_dataset)
    with pytest.raises(DatasetUnavailableError) as raised:
        load("mozilla-foundation/common_voice_11_0", "train", config="sv-SE")
    message = str(raised.value)
    assert "\n" not in message and "--dataset_name cv-corpus-XX/<lang>" in message
    assert "commonvoice.mozilla.org" in message and "mozilla-foundation/common_voice_11_0" in message


# The scripts as users run them, with datasets.load_dataset raising what datasets 5 raises for these ids.
RUN_WITH_HUB_ERROR = """
import runpy, sys
import datasets
from datasets.exceptions import DatasetNotFoundError
def load_dataset(path, *args, **kwargs):
    if sys.argv[1] == "script":
        raise RuntimeError(f"Dataset scripts are no longer supported, but found {path.split('/')[-1]}.py")
    raise DatasetNotFoundError(f"Dataset '{path}' doesn't exist on the Hub or cannot be accessed.")
datasets.load_dataset = load_dataset
script = sys.argv[2]
sys.argv = sys.argv[2:]
runpy.run_path(script, run_name="__main__")
"""


@pytest.mark.parametrize("failure", ["script", "gone"])
def test_eval_and_training_say_so_in_one_line_and_exit_2(failure, tmp_path, tiny_config_json):
    import subprocess
    import sys

    from entry_points import ROOT
    from model_folders import save_random_model

    model = save_random_model(tmp_path / "model")
    commands = {
        "eval.py": [str(ROOT / "eval.py"), "--model_id", str(model), "--dataset", "mozilla-foundation/common_voice_8_0",
                    "--config", "sv-SE", "--split", "test"],
        "run_speech_recognition_ctc.py": [
            str(ROOT / "run_speech_recognition_ctc.py"), "--dataset_name", "mozilla-foundation/common_voice_8_0",
            "--dataset_config_name", "sv-SE", "--model_config_json", tiny_config_json, "--output_dir",
            str(tmp_path / "out"), "--do_train", "--report_to", "none"],
    }
    for name, command in commands.items():
        result = subprocess.run([sys.executable, "-c", RUN_WITH_HUB_ERROR, failure, *command], capture_output=True,
                                text=True, cwd=tmp_path, timeout=300)
        error_lines = [line for line in result.stderr.splitlines() if "error" in line.lower()]
        assert result.returncode == 2, result.stderr[-2000:]
        assert "Traceback" not in result.stderr and len(error_lines) == 1, result.stderr[-2000:]
        assert error_lines[0].startswith(f"{name}: error: mozilla-foundation/common_voice_8_0 ")
        assert "--dataset_name cv-corpus-XX/<lang>" in error_lines[0]


def test_other_script_based_or_missing_hub_datasets_are_one_line(monkeypatch):
    errors = iter([RuntimeError("Dataset scripts are no longer supported, but found old_corpus.py"),
                   DatasetNotFoundError("Dataset 'someone/nothing' doesn't exist on the Hub or cannot be accessed."),
                   RuntimeError("something else entirely")])

    def fake_load_dataset(*_args, **_kwargs):
        raise next(errors)

    monkeypatch.setattr(data_module.datasets, "load_dataset", fake_load_dataset)
    with pytest.raises(DatasetUnavailableError, match="someone/old_corpus is a dataset with a loading script.*parquet"):
        load("someone/old_corpus", "train")
    with pytest.raises(DatasetUnavailableError, match="doesn't exist on the Hub.*--token"):
        load("someone/nothing", "train")
    with pytest.raises(RuntimeError, match="something else"):  # not ours to rename
        load("someone/else", "train")


def test_a_training_stream_is_shuffled_in_a_buffer_and_its_vocabulary_read_from_the_text(small_corpus, tmp_path,
                                                                                           monkeypatch):
    import robust_speech.data.preprocess as preprocess
    from robust_speech.data.prepare import prepare_datasets

    order = [row["sentence"] for row in small_corpus.rows("en", "train")]
    common = dict(dataset_name=str(small_corpus.root), dataset_config_name="en", train_split_name="train",
                  streaming=True, cache_dir=str(tmp_path / "cache"))
    decoded_calls = []
    real_decode = preprocess.decode_example
    monkeypatch.setattr(preprocess, "decode_example", lambda *a, **k: decoded_calls.append(1) or real_decode(*a, **k))
    printed = []
    kept = prepare_datasets(DataTrainingArguments(**common, shuffle_buffer_size=0), tmp_path / "a", do_eval=False,
                            log=printed.append)
    assert "vocabulary: one pass over 6 training transcripts" in printed[0]
    assert len(decoded_calls) == 1  # the vocabulary read no audio; one example was decoded to see the stream holds one
    assert set(kept.vocabulary.tokens) >= set("".join(kept.normalizer(text) for text in order).replace(" ", ""))
    assert [kept.normalizer(text) for text in order] == [row["sentence"] for row in kept.train.dataset]
    shuffled = prepare_datasets(DataTrainingArguments(**common), tmp_path / "b", do_eval=False, seed=3,
                                log=lambda line: None)
    sentences = [row["sentence"] for row in shuffled.train.dataset]
    assert sorted(sentences) == sorted(kept.normalizer(text) for text in order) and sentences != [
        kept.normalizer(text) for text in order]
    with pytest.raises(ConfigurationError, match="--shuffle_buffer_size must be 0"):
        prepare_datasets(DataTrainingArguments(**common, shuffle_buffer_size=-1), tmp_path / "c", log=print)
    # Every example skipped: said before training, not as an empty epoch inside the Trainer.
    with pytest.raises(ConfigurationError, match=r"train: skipped 6 examples: 6 too long: the train stream holds no "
                                                 r"usable example; .*skipped.tsv says why"):
        prepare_datasets(DataTrainingArguments(**common, max_duration_in_seconds=0.1), tmp_path / "d", do_eval=False,
                         log=lambda line: None)


def test_the_pass_over_a_streams_transcripts_shows_progress(small_corpus, tmp_path, monkeypatch):
    import robust_speech.data.prepare as prepare

    monkeypatch.setattr(prepare, "PROGRESS_SECONDS", 0.0)
    printed = []
    prepare.prepare_datasets(DataTrainingArguments(dataset_name=str(small_corpus.root), dataset_config_name="en",
                                                   train_split_name="train", streaming=True), tmp_path / "out",
                             do_eval=False, log=printed.append)
    progress = [line for line in printed if line.startswith("vocabulary: ") and "transcripts read (" in line]
    assert [line.split(" transcripts")[0] for line in progress] == [f"vocabulary: {n}" for n in range(1, 7)]


def test_text_column_detection_and_errors(audio_folder, small_corpus):
    notes = []
    load(str(audio_folder), "train", text_column="text", notes=notes)
    assert "using 'transcription'" in notes[0]
    with pytest.raises(ConfigurationError, match="no transcript column 'words'.*columns: transcription, audio"):
        load(str(audio_folder), "train", text_column="words")
    with pytest.raises(ConfigurationError, match="--dataset_name has 2 .* but --dataset_config_name has 3"):
        parse_sources("a+b", "x+y+z")
    with pytest.raises(ConfigurationError, match="no such file or folder"):
        load("./not/here", "train")
    with pytest.raises(ConfigurationError, match="one per dataset"):
        parse_probabilities("0.2,0.3,0.5", 2)


def test_hub_ids_go_to_load_dataset_with_token(monkeypatch, audio_folder):
    calls = []
    real = load(str(audio_folder), "train")

    def fake_load_dataset(name, config=None, **kwargs):
        calls.append((name, config, kwargs))
        return real.remove_columns("source")

    monkeypatch.setattr(data_module.datasets, "load_dataset", fake_load_dataset)
    args = DataTrainingArguments(dataset_name="mozilla-foundation/common_voice_11_0", dataset_config_name="en",
                                 use_auth_token=True, text_column_name="sentence")
    dataset = load_speech_split(parse_sources(args.dataset_name, args.dataset_config_name, "sentence"),
                                args.train_split_name, token=args.hub_token)
    name, config, kwargs = calls[0]
    assert (name, config, kwargs["split"], kwargs["token"]) == ("mozilla-foundation/common_voice_11_0", "en",
                                                                "train+validation", True)
    assert dataset["source"][0] == "mozilla-foundation/common_voice_11_0/en:train+validation"
    load_speech_split([SourceSpec("org/big", "x")], "train+validation", streaming=True)
    assert [call[2]["split"] for call in calls[1:]] == ["train", "validation"]  # streaming joins splits itself
    assert all(call[2]["streaming"] for call in calls[1:])


def test_what_prepare_says_goes_to_the_library_logger(small_corpus, tmp_path):
    """Without a `log` callback the lines go to the `robust_speech` logger (a Python user silences or redirects
    them with `logging`), not to standard output."""
    from log_records import logged

    from robust_speech.data.prepare import prepare_datasets

    with logged() as messages:
        prepared = prepare_datasets(DataTrainingArguments(dataset_name=str(small_corpus.root), dataset_config_name="en",
                                                          train_split_name="train", cache_dir=str(tmp_path / "cache")),
                                    tmp_path / "out", do_eval=False)
    assert messages and messages == prepared.lines
