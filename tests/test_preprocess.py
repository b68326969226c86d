"""Decoding, filtering and caching: every dropped example is in skipped.tsv with its reason, counts match."""

import os
import re

import soundfile
from conftest import make_folder, tone

from robust_speech.data.arguments import DataTrainingArguments
from robust_speech.data.prepare import prepare_datasets
from robust_speech.data.preprocess import PreprocessOptions, audio_fingerprint, preprocess_split
from robust_speech.data.skips import SkipLog, read_skip_log
from robust_speech.data.sources import load_speech_split, parse_sources
from robust_speech.text.normalizer import TextNormalizer

# file name -> (seconds of audio, or None for no file / "garbage" for bytes that are not audio, transcript)
PLANTED_TRAIN = {
    "good1.wav": (1.5, "Hello world."),
    "good2.wav": (1.2, "Good morning, Vietnam!"),
    "good3.wav": (1.0, "Hello again"),
    "punctuation_only.wav": (1.0, "... !?"),
    "no_transcript.wav": (1.0, None),
    "garbage.wav": ("garbage", "broken audio"),
    "missing.wav": (None, "file is gone"),
    "long.wav": (25.0, "a very long one"),
    "short.wav": (0.05, "tiny"),
    "rare.wav": (1.0, "a rare ǂ click"),
}
EXPECTED_REASONS = {
    "punctuation_only.wav": "empty transcript after normalization",
    "no_transcript.wav": "missing transcript",
    "garbage.wav": "undecodable audio",
    "missing.wav": "undecodable audio",
    "long.wav": "too long",
    "short.wav": "too short",
    "rare.wav": "characters outside the vocabulary",
}


def test_every_planted_bad_example_is_in_skipped_tsv_and_the_counts_match(tmp_path):
    folder = make_folder(tmp_path / "data", PLANTED_TRAIN)
    args = DataTrainingArguments(
        dataset_name=str(folder), train_split_name="train", eval_split_name="test", min_duration_in_seconds=0.1,
        max_duration_in_seconds=20.0, cache_dir=str(tmp_path / "cache"),
    )
    printed = []
    # The vocabulary of an existing tokenizer: [PAD], [UNK], | and a-z.
    vocabulary = {"[PAD]": 0, "[UNK]": 1, "|": 2, **{chr(97 + i): 3 + i for i in range(26)}}
    prepared = prepare_datasets(args, tmp_path / "out", vocabulary=vocabulary, log=printed.append)

    rows = read_skip_log(tmp_path / "out" / "skipped.tsv")
    assert {os.path.basename(row["example"]): row["reason"] for row in rows} == EXPECTED_REASONS
    assert all(row["split"] == "train" for row in rows)
    assert next(r["detail"] for r in rows if r["example"].endswith("missing.wav")).endswith("missing.wav: no such file")
    assert next(r["detail"] for r in rows if r["example"].endswith("rare.wav")) == "ǂ"

    summary = next(line for line in printed if line.startswith("train: skipped"))
    assert summary.startswith(f"train: skipped {len(EXPECTED_REASONS)} of {len(PLANTED_TRAIN)} examples: ")
    counts = dict((reason, int(count)) for count, reason in re.findall(r"(\d+) ([a-z ]+?)(?:,|$)", summary.split(": ", 2)[2]))
    assert counts == {reason: list(EXPECTED_REASONS.values()).count(reason) for reason in set(EXPECTED_REASONS.values())}
    assert "eval: skipped 0 of 1 examples" in printed

    kept = prepared.train.dataset
    assert sorted(kept["sentence"][:]) == ["good morning vietnam", "hello again", "hello world"]
    assert prepared.eval.dataset["sentence"][:] == ["an evaluation sentence"]


def test_vocabulary_min_count_leaves_rare_characters_out(tmp_path):
    rows = {f"{i}.wav": (0.5, "abc abc") for i in range(3)} | {"rare.wav": (0.5, "abc ǂ")}
    args = DataTrainingArguments(dataset_name=str(make_folder(tmp_path / "data", rows)), train_split_name="train",
                                 vocabulary_min_count=2, cache_dir=str(tmp_path / "cache"))
    printed = []
    prepared = prepare_datasets(args, tmp_path / "out", do_eval=False, log=printed.append)
    assert list(prepared.vocabulary.tokens) == ["[PAD]", "[UNK]", "|", "a", "b", "c"]
    assert [row["reason"] for row in read_skip_log(tmp_path / "out" / "skipped.tsv")] == ["characters outside the vocabulary"]
    assert any("'ǂ' x1" in line and "left out" in line for line in printed)


def test_decoded_cache_is_reused_and_invalidated(tmp_path):
    folder = make_folder(tmp_path / "data", {"a.wav": (1.0, "one"), "b.wav": (1.0, "two")})
    options = PreprocessOptions(normalizer=TextNormalizer())

    def run(**kwargs):
        dataset = load_speech_split(parse_sources(str(folder)), "train")
        return preprocess_split(dataset, "train", kwargs.pop("options", options), SkipLog(), cache_dir=tmp_path / "cache",
                                **kwargs)

    first = run()
    assert not first.from_cache and first.examples_per_second > 0
    again = run()
    assert again.from_cache and again.dataset["sentence"][:] == first.dataset["sentence"][:]
    assert not run(options=PreprocessOptions(normalizer=TextNormalizer(lowercase=False))).from_cache
    assert not run(overwrite_cache=True).from_cache
    # Replacing a clip in place (same path, same sentence) must not serve the old decoded audio.
    soundfile.write(folder / "train" / "a.wav", tone(900, 2.0, 16000), 16000)
    os.utime(folder / "train" / "a.wav", ns=(1, 1))
    changed = run()
    assert not changed.from_cache and len(changed.dataset[0]["audio"]["array"]) == 32000


def test_two_workers_give_the_same_records(small_corpus, tmp_path):
    dataset = load_speech_split(parse_sources(str(small_corpus.root), "es"), "train+dev")
    options = PreprocessOptions(normalizer=TextNormalizer())
    one = preprocess_split(dataset, "train", options, SkipLog(), cache_dir=tmp_path / "one")
    two = preprocess_split(dataset, "train", options, SkipLog(), num_workers=2, cache_dir=tmp_path / "two")
    assert two.workers == 2 and "2 workers" in two.speed_line("train")
    assert one.dataset["audio_sha1"][:] == two.dataset["audio_sha1"][:]
    assert one.dataset["sentence"][:] == two.dataset["sentence"][:]


def test_text_only_preprocessing_never_decodes(tmp_path):
    folder = make_folder(tmp_path / "data", {"garbage.wav": ("garbage", "Fine text")})
    dataset = load_speech_split(parse_sources(str(folder)), "train")
    prepared = preprocess_split(dataset, "train", PreprocessOptions(TextNormalizer(), decode_audio=False), SkipLog())
    assert prepared.dataset["sentence"][:] == ["fine text"] and prepared.dataset["audio_sha1"][:] == [""]


def test_audio_fingerprint_matches_same_samples_only():
    audio = tone(440, 1.0, 16000)
    assert audio_fingerprint(audio) == audio_fingerprint(audio.copy())
    assert audio_fingerprint(audio) != audio_fingerprint(audio * 0.5)
    assert audio_fingerprint(audio) != audio_fingerprint(audio[:-1])


def test_skip_log_summary_and_file(tmp_path):
    log = SkipLog()
    log.add("train", "src", "a.wav", "too long", "25 s\n> 20 s")
    log.add("train", "src", "b.wav", "too long")
    log.add("eval", "src", "c.wav", "undecodable audio")
    assert log.summary("train", 10) == "train: skipped 2 of 10 examples: 2 too long"
    assert log.summary("dev", 3) == "dev: skipped 0 of 3 examples"
    rows = read_skip_log(log.write(tmp_path))
    assert [row["example"] for row in rows] == ["a.wav", "b.wav", "c.wav"] and rows[0]["detail"] == "25 s > 20 s"


def test_datasets_own_decoding_bar_is_drawn_on_a_terminal_only(tmp_path, monkeypatch, capsys):
    """A job log would keep every frame of datasets' map bar; the speed line says the same once at the end."""
    from datasets.utils import are_progress_bars_disabled

    from robust_speech.core import logs

    folder = make_folder(tmp_path / "data", {"a.wav": (0.5, "one"), "b.wav": (0.5, "two")})
    dataset = load_speech_split(parse_sources(str(folder)), "train")
    options = PreprocessOptions(TextNormalizer())
    capsys.readouterr()
    preprocess_split(dataset, "train", options, SkipLog(), cache_dir=tmp_path / "file")
    assert "decoding train audio" not in capsys.readouterr().err  # stderr is pytest's capture: not a terminal
    assert not are_progress_bars_disabled()  # datasets' setting is as it was
    monkeypatch.setattr(logs, "is_terminal", lambda stream=None: True)
    preprocess_split(dataset, "train", options, SkipLog(), cache_dir=tmp_path / "terminal")
    assert "decoding train audio" in capsys.readouterr().err
