"""data/leakage.py through its library functions, without the CLI: the split names, the Common Voice refusals, the
overlap report and its file, and the streaming guard. Written for mutation testing (benchmarks/results/mutation.md),
where tests/test_leakage.py's subprocesses make each mutant cost seconds."""

import pickle

import pytest

from robust_speech.data.leakage import (
    LEAKAGE_COLUMNS,
    ExampleKeys,
    LeakageError,
    Overlap,
    OverlapReport,
    StreamingOverlapGuard,
    find_overlaps,
    guard_against_overlap,
    refuse_common_voice_test,
    split_names,
)
from robust_speech.data.skips import SkipAppender, read_skip_log
from robust_speech.data.sources import SourceSpec
from robust_speech.text.normalizer import TextNormalizer

HUB_CV = "mozilla-foundation/common_voice_11_0"


def test_split_names_drop_slices_spaces_case_and_empty_parts():
    assert split_names("train+ Test[:5%] +validation[10:20]") == ["train", "test", "validation"]
    assert split_names("train++dev") == ["train", "dev"]
    assert split_names("TRAIN") == ["train"]


def common_voice_release(root):
    (root / "clips").mkdir(parents=True)
    for split in ("train", "dev", "test", "validated"):
        (root / f"{split}.tsv").write_text("path\tsentence\n", encoding="utf-8")
    return root


def test_the_refusal_names_the_split_the_source_and_the_way_out(tmp_path):
    with pytest.raises(LeakageError) as raised:
        refuse_common_voice_test([SourceSpec("librispeech_asr"), SourceSpec(HUB_CV, "en")], "train+test")
    assert str(raised.value) == (
        f"refusing to train on Common Voice 'test' data ({HUB_CV}/en:train+test): the challenge scores on the test "
        "split, so it must never be trained on; train on train+validation (train.tsv + dev.tsv) instead")
    refuse_common_voice_test([SourceSpec(HUB_CV, "en")], "validated+train")  # no Hub dataset has it: not refused


def test_local_release_folders_and_their_tables(tmp_path):
    release = common_voice_release(tmp_path / "cv" / "en")
    with pytest.raises(LeakageError) as raised:
        refuse_common_voice_test([SourceSpec(str(release))], "train+validated")
    assert "'validated' data" in str(raised.value) and "validated.tsv contains every test clip; the challenge" in str(
        raised.value)
    with pytest.raises(LeakageError, match="'test' data") as raised:
        refuse_common_voice_test([SourceSpec(str(tmp_path / "cv"), "en")], "TEST")
    assert "validated.tsv" not in str(raised.value)
    refuse_common_voice_test([SourceSpec(str(release))], "train+dev")
    for table in ("test", "validated"):
        with pytest.raises(LeakageError, match=f"'{table}' data"):
            refuse_common_voice_test([SourceSpec(str(release / f"{table}.tsv"))], "train")
    refuse_common_voice_test([SourceSpec(str(release / "train.tsv"))], "train")
    # A table named test.tsv without Common Voice's clips/ beside it, and a folder of another layout, are allowed.
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "test.tsv").write_text("file_name\tsentence\n", encoding="utf-8")
    refuse_common_voice_test([SourceSpec(str(tmp_path / "other" / "test.tsv"))], "train")
    refuse_common_voice_test([SourceSpec(str(tmp_path / "other"))], "test")


def keys(examples, sentences, hashes=None, source="src"):
    return ExampleKeys(examples, [f"{source}{index}" for index in range(len(examples))], sentences, hashes)


def test_overlaps_by_normalized_sentence_and_by_audio():
    train = keys(["t0", "t1", "t2", "t3"], ["Hello, World!", "...", None, "unique"], ["h0", "", "h2", "h3"], "train")
    evaluation = keys(["e0", "e1", "e2"], ["hello world", "!!", "HELLO WORLD"], ["", "h2", "h2"], "eval")
    report = find_overlaps(train, evaluation)
    assert (report.train_examples, report.eval_examples) == (4, 3)
    assert report.overlaps == [
        Overlap("sentence", "t0", "train0", "e0", "eval0", "hello world"),
        Overlap("sentence", "t0", "train0", "e2", "eval2", "hello world"),
        Overlap("audio", "t2", "train2", "e1", "eval1", "h2"),
        Overlap("audio", "t2", "train2", "e2", "eval2", "h2"),
    ]  # sentences that normalize to nothing and empty hashes match nothing
    text_only = find_overlaps(keys(["t"], ["x"], None), keys(["e"], ["y"], ["h"]))
    assert not text_only and text_only.overlaps == []
    cased = find_overlaps(keys(["t"], ["Ab"]), keys(["e"], ["ab"]), normalizer=TextNormalizer(lowercase=False))
    assert not cased  # the normalizer given is the one applied


def test_the_report_summary_format_and_file(tmp_path):
    overlaps = [Overlap("sentence", f"t{i}", "train", f"e{i}", "eval", f"s{i}") for i in range(3)]
    overlaps.append(Overlap("audio", "t0", "train", "e9", "eval", "0123456789abcdef"))
    report = OverlapReport(overlaps, train_examples=10, eval_examples=5)
    assert report and report.by_kind("audio") == overlaps[3:] and report.leaking_train_examples() == {"t0", "t1", "t2"}
    assert report.summary() == "3 of 10 training examples overlap the evaluation set: 3 same sentence, 1 same audio"
    assert report.format(limit=2).splitlines()[1:] == [
        "  sentence t0  ==  e0  ('s0')", "  sentence t1  ==  e1  ('s1')", "  ... 2 more"]
    assert report.format().splitlines()[-1] == "  audio    t0  ==  e9  (audio 0123456789ab)"
    assert len(report.format(limit=4).splitlines()) == 5
    written = report.write(tmp_path / "new" / "folder")
    assert written == tmp_path / "new" / "folder" / "leakage.tsv"
    assert written.read_text(encoding="utf-8").splitlines() == [
        "\t".join(LEAKAGE_COLUMNS), *(f"{o.kind}\t{o.train_example}\ttrain\t{o.eval_example}\teval\t{o.value}"
                                      for o in overlaps)]
    empty = OverlapReport(train_examples=4, eval_examples=2)
    assert not empty and empty.summary() == (
        "no overlap: none of 4 training examples shares a sentence or audio with the 2 evaluation examples")
    assert empty.format() == empty.summary()


def test_the_guard_raises_unless_allowed_and_writes_the_list_only_on_overlap(tmp_path):
    assert guard_against_overlap(OverlapReport(train_examples=1), tmp_path / "clean", allow_overlap=False).startswith(
        "no overlap")
    assert not (tmp_path / "clean").exists()
    report = OverlapReport([Overlap("audio", "t", "train", "e", "eval", "h")], 1, 1)
    with pytest.raises(LeakageError) as raised:
        guard_against_overlap(report, tmp_path / "stopped", allow_overlap=False)
    assert str(raised.value) == (
        f"{report.summary()}; see {tmp_path / 'stopped' / 'leakage.tsv'}. Remove them from the training data, or "
        "pass --allow_overlap if the evaluation set is not a test set")
    line = guard_against_overlap(report, tmp_path / "allowed", allow_overlap=True)
    assert line == f"{report.summary()} (allowed by --allow_overlap; listed in {tmp_path / 'allowed' / 'leakage.tsv'})"
    assert (tmp_path / "stopped" / "leakage.tsv").is_file() and (tmp_path / "allowed" / "leakage.tsv").is_file()


def guard(tmp_path, allow_overlap=False, normalizer=None):
    skips = SkipAppender(tmp_path / "out" / "skipped.tsv")
    evaluation = {"hello world": ("e0", "eval")}
    return StreamingOverlapGuard(evaluation, normalizer, tmp_path / "out", skips, allow_overlap=allow_overlap), skips


def leakage_rows(tmp_path):
    return (tmp_path / "out" / "leakage.tsv").read_text(encoding="utf-8").splitlines()


def test_the_streaming_guard_drops_lists_once_and_counts(tmp_path):
    check, skips = guard(tmp_path)
    assert check.count() == 0  # no file yet
    check.start()
    skips.start()
    assert leakage_rows(tmp_path) == ["\t".join(LEAKAGE_COLUMNS)] and check.count() == 0
    assert check({"path": "a.wav"}, "Something else", "train", 0) and check(None, None, "train", 1)
    assert check(None, "...", "train", 2)  # normalizes to nothing: matches nothing
    assert not check({"path": "b.wav"}, "Hello, World!", "train", 3)
    assert not check("c.wav", "hello world", "train", 4) and not check({"path": None}, "hello world", "train", 5)
    assert not check({"path": "b.wav"}, "Hello, World!", "train", 3)  # the second epoch
    assert leakage_rows(tmp_path)[1:] == [f"sentence\t{name}\ttrain\te0\teval\thello world" for name in ("b.wav", "c.wav", "#5")]
    assert check.count() == 3
    skipped = read_skip_log(tmp_path / "out" / "skipped.tsv")
    assert [(row["split"], row["source"], row["example"], row["reason"], row["detail"]) for row in skipped] == [
        ("train", "train", name, "sentence in the evaluation set", "also e0 (eval)") for name in ("b.wav", "c.wav", "#5")]
    # A worker's copy reads what the file holds and does not list an example again.
    copy = pickle.loads(pickle.dumps(check))
    assert copy._written is None
    assert not copy({"path": "b.wav"}, "hello world", "train", 3) and copy.count() == 3
    assert not copy("d.wav", "hello world", "train", 6) and copy.count() == 4


def test_the_streaming_guard_allows_and_uses_the_given_normalizer(tmp_path):
    check, _skips = guard(tmp_path, allow_overlap=True)
    check.start()
    assert check("a.wav", "HELLO WORLD", "train", 0) and check.count() == 1
    assert not (tmp_path / "out" / "skipped.tsv").exists()
    cased, _skips = guard(tmp_path, normalizer=TextNormalizer(lowercase=False))
    assert cased("b.wav", "HELLO WORLD", "train", 1)  # not lowercased: no match


def test_files_end_lines_with_newline_and_lists_are_cut_at_twenty(tmp_path):
    overlaps = [Overlap("sentence", f"t{i}", "train", f"e{i}", "eval", f"s{i}") for i in range(21)]
    report = OverlapReport(overlaps, 21, 21)
    assert report.format().splitlines()[-1] == "  ... 1 more"
    assert b"\r" not in report.write(tmp_path).read_bytes()
    check = StreamingOverlapGuard({"a": ("e", "eval")}, None, tmp_path / "new" / "out", SkipAppender(tmp_path / "s.tsv"),
                                  allow_overlap=True)
    check.start()  # creates the folders it needs
    assert check("x.wav", "a", "train", 0) and b"\r" not in (tmp_path / "new" / "out" / "leakage.tsv").read_bytes()


def test_a_guard_never_started_still_lists_and_missing_sentences_match_nothing(tmp_path):
    check, _skips = guard(tmp_path, allow_overlap=True)
    (tmp_path / "out").mkdir()
    assert check("a.wav", "hello world", "train", 0)
    # The file it creates has its header: without it count() read the first row as the header and said 0.
    assert leakage_rows(tmp_path) == ["\t".join(LEAKAGE_COLUMNS), "sentence\ta.wav\ttrain\te0\teval\thello world"]
    assert check.count() == 1
    copy = pickle.loads(pickle.dumps(check))  # a worker reads the rows back by their column names
    assert copy("a.wav", "hello world", "train", 0) and copy("b.wav", "hello world", "train", 1) and copy.count() == 2
    cased = find_overlaps(keys(["t"], [None]), keys(["e0", "e1"], [None, "XXXX"]), normalizer=TextNormalizer(lowercase=False))
    assert not cased


def test_an_empty_sentence_is_never_a_leak_and_odd_paths_are_listed_once(tmp_path):
    # Even where the evaluation map holds an empty or an unnormalized key, a training example without a sentence
    # matches nothing.
    evaluation = {"": ("e0", "eval"), "XXXX": ("e1", "eval")}
    check = StreamingOverlapGuard(evaluation, TextNormalizer(lowercase=False), tmp_path / "out",
                                  SkipAppender(tmp_path / "out" / "skipped.tsv"), allow_overlap=False)
    check.start()
    assert check("a.wav", None, "train", 0) and check("b.wav", "", "train", 1) and check.count() == 0
    assert not check("c.wav", "XXXX", "train", 2) and check.count() == 1
    # A path with a line break is one quoted field: one row, read back by a worker's copy as the same example.
    assert not check("line\nbreak.wav", "XXXX", "src", 3) and check.count() == 2
    copy = pickle.loads(pickle.dumps(check))
    assert not copy("line\nbreak.wav", "XXXX", "src", 3) and copy.count() == 2
