"""The leakage guard: no Common Voice test data in training; planted overlaps found, clean data not flagged."""

import shutil

import pytest
import soundfile
from conftest import tone
from test_cli import run

from robust_speech.data.arguments import DataTrainingArguments
from robust_speech.data.leakage import LeakageError, refuse_common_voice_test, split_names
from robust_speech.data.prepare import check_leakage, prepare_datasets
from robust_speech.data.sources import SourceSpec, parse_sources


@pytest.mark.parametrize(
    "name, split",
    [
        ("mozilla-foundation/common_voice_11_0", "test"),
        ("mozilla-foundation/common_voice_17_0", "train+test"),
        ("common_voice", "test[:10%]"),
        ("someone/Common-Voice-de-clean", "TEST"),
    ],
)
def test_common_voice_test_split_is_refused_for_training(name, split):
    with pytest.raises(LeakageError, match="refusing to train on Common Voice 'test' data"):
        refuse_common_voice_test([SourceSpec(name, "en")], split)


@pytest.mark.parametrize(
    "name, split",
    [("mozilla-foundation/common_voice_11_0", "train+validation"), ("librispeech_asr", "test"), ("org/testset", "train")],
)
def test_other_splits_and_datasets_are_allowed(name, split):
    refuse_common_voice_test([SourceSpec(name, "en")], split)


def test_local_common_voice_test_and_validated_are_refused(small_corpus):
    root = str(small_corpus.root)
    for split in ("test", "dev+validated"):
        with pytest.raises(LeakageError, match="refusing to train"):
            refuse_common_voice_test(parse_sources(root, "en"), split)
    with pytest.raises(LeakageError, match="validated.tsv contains every test clip"):
        refuse_common_voice_test(parse_sources(f"{root}/en"), "validated")
    with pytest.raises(LeakageError, match="'test' data"):
        refuse_common_voice_test(parse_sources(f"{root}/en/test.tsv"), "train")
    refuse_common_voice_test(parse_sources(root, "en"), "train+dev")
    assert split_names("train+ Test[:5]") == ["train", "test"]


def test_the_training_recipe_refuses_before_loading_anything():
    args = DataTrainingArguments(dataset_name="mozilla-foundation/common_voice_11_0", dataset_config_name="en",
                                 train_split_name="test")
    with pytest.raises(LeakageError):
        prepare_datasets(args, "/nonexistent/never-created")  # the Hub is offline: it must fail before loading
    result = run("prepare", "--dataset_name", "mozilla-foundation/common_voice_11_0", "--dataset_config_name", "en",
                 "--train_split_name", "train+test", "--output_dir", "/tmp/unused", check=False)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "refusing to train" in result.stderr


@pytest.fixture
def planted_eval(small_corpus, tmp_path):
    """An evaluation folder with one leak of each kind and one clean example."""
    train = small_corpus.rows("en", "train")
    folder = tmp_path / "eval"
    (folder / "test").mkdir(parents=True)
    # The first training clip under another name, with a new transcript: same audio.
    shutil.copy(small_corpus.clips_dir("en") / train[0]["path"], folder / "test" / "renamed.mp3")
    # New audio saying the second training sentence, written differently: same sentence after normalization.
    soundfile.write(folder / "test" / "same_sentence.wav", tone(500, 1.0, 16000), 16000)
    soundfile.write(folder / "test" / "clean.wav", tone(700, 1.0, 16000), 16000)
    shouted = train[1]["sentence"].upper().rstrip(".!?") + "!!"
    (folder / "test" / "metadata.tsv").write_text(
        "file_name\tsentence\n"
        "renamed.mp3\tA transcript nobody has trained on\n"
        f"same_sentence.wav\t{shouted}\n"
        "clean.wav\tA perfectly clean evaluation sentence\n",
        encoding="utf-8",
    )
    return folder, train


def test_planted_overlaps_are_found_and_clean_data_is_not(small_corpus, planted_eval, tmp_path):
    folder, train = planted_eval
    args = DataTrainingArguments(dataset_name=str(small_corpus.root), dataset_config_name="en", train_split_name="train",
                                 eval_dataset_name=str(folder), eval_split_name="test", cache_dir=str(tmp_path / "cache"))
    report = check_leakage(args, tmp_path / "out", log=lambda line: None)
    found = {(o.kind, o.train_example.rsplit("/", 1)[1], o.eval_example.rsplit("/", 1)[1]) for o in report.overlaps}
    assert found == {("audio", train[0]["path"], "renamed.mp3"), ("sentence", train[1]["path"], "same_sentence.wav")}
    assert (tmp_path / "out" / "leakage.tsv").read_text(encoding="utf-8").count("\n") == 3

    text_only = check_leakage(args, None, decode_audio=False, log=lambda line: None)
    assert [o.kind for o in text_only.overlaps] == ["sentence"]

    clean = DataTrainingArguments(dataset_name=str(small_corpus.root), dataset_config_name="en", train_split_name="train+dev",
                                  eval_split_name="test", cache_dir=str(tmp_path / "cache"))
    assert not check_leakage(clean, None, log=lambda line: None)


def test_training_data_stops_on_overlap_unless_allowed(small_corpus, planted_eval, tmp_path):
    folder, _ = planted_eval
    common = dict(dataset_name=str(small_corpus.root), dataset_config_name="en", train_split_name="train",
                  eval_dataset_name=str(folder), eval_split_name="test", cache_dir=str(tmp_path / "cache"))
    with pytest.raises(LeakageError, match=r"2 of 6 training examples overlap .* 1 same sentence, 1 same audio.*--allow_overlap"):
        prepare_datasets(DataTrainingArguments(**common), tmp_path / "stopped", log=lambda line: None)
    assert (tmp_path / "stopped" / "leakage.tsv").is_file()
    printed = []
    prepared = prepare_datasets(DataTrainingArguments(**common, allow_overlap=True), tmp_path / "allowed", log=printed.append)
    assert prepared.overlap and any("allowed by --allow_overlap" in line for line in printed)


def test_a_stream_is_checked_by_sentence_as_training_reads_it(small_corpus, planted_eval, tmp_path):
    folder, train = planted_eval
    common = dict(dataset_name=str(small_corpus.root), dataset_config_name="en", train_split_name="train",
                  eval_dataset_name=str(folder), eval_split_name="test", cache_dir=str(tmp_path / "cache"), streaming=True)
    printed = []
    prepared = prepare_datasets(DataTrainingArguments(**common), tmp_path / "stream", log=printed.append)
    assert any("the overlap check compares sentences only" in line and "audio is not compared" in line
               for line in printed)  # what it does, said before training
    kept = [row["audio"]["path"].rsplit("/", 1)[1] for row in prepared.train.dataset]
    assert sorted(kept) == sorted(row["path"] for row in train[:1] + train[2:])  # the shared sentence is left out
    skipped = (tmp_path / "stream" / "skipped.tsv").read_text(encoding="utf-8").splitlines()
    assert len(skipped) == 2 and skipped[1].endswith(f"{train[1]['path']}\tsentence in the evaluation set\talso #1 "
                                                     f"({folder}:test)")
    leakage = (tmp_path / "stream" / "leakage.tsv").read_text(encoding="utf-8").splitlines()
    assert len(leakage) == 2 and leakage[1].startswith("sentence\t") and train[1]["path"] in leakage[1]

    allowed = prepare_datasets(DataTrainingArguments(**common, allow_overlap=True), tmp_path / "allowed",
                               log=lambda line: None)
    assert len(list(allowed.train.dataset)) == 6
    assert (tmp_path / "allowed" / "skipped.tsv").read_text(encoding="utf-8").count("\n") == 1  # header only
    assert (tmp_path / "allowed" / "leakage.tsv").read_text(encoding="utf-8").count("\n") == 2  # still listed


def test_check_leakage_command(small_corpus, planted_eval, tmp_path):
    folder, _ = planted_eval
    leaky = run("check-leakage", "--train", str(small_corpus.root), "--train_config", "en", "--train_split", "train",
                "--eval", str(folder), "--output_dir", str(tmp_path), check=False)
    assert leaky.returncode == 1, leaky.stderr
    assert "2 of 6 training examples overlap the evaluation set: 1 same sentence, 1 same audio" in leaky.stdout
    assert "renamed.mp3" in leaky.stdout and (tmp_path / "leakage.tsv").is_file()
    clean = run("check-leakage", "--train", str(small_corpus.root), "--train_config", "en",
                "--eval", str(small_corpus.root), "--eval_config", "en")
    assert "no overlap" in clean.stdout
