"""`robust-speech score`: the challenge's final score from eval.py result files."""

import json

import pytest

from robust_speech.cli.verbs import main


def result_file(folder, name, wer, cer=0.1):
    path = folder / name
    path.write_text(f"WER: {wer}\nCER: {cer}")
    return str(path)


def final_score_line(out: str) -> float:
    """The number on the one line that is `FINAL_SCORE: <number>` and nothing else."""
    lines = [line for line in out.splitlines() if line.startswith("FINAL_SCORE:")]
    assert len(lines) == 1
    number = lines[0].removeprefix("FINAL_SCORE: ")
    assert number == repr(float(number))  # the whole line is the number, printed in full
    return float(number)


def test_final_score_is_the_mean_of_the_three_wers(tmp_path, capsys):
    files = [result_file(tmp_path, "mozilla-foundation_common_voice_8_0_sv-SE_test_eval_results.txt", 0.2),
             result_file(tmp_path, "speech-recognition-community-v2_dev_data_sv-SE_validation_eval_results.txt", 0.45),
             result_file(tmp_path, "speech-recognition-community-v2_eval_data_sv-SE_validation_eval_results.txt", 0.6)]
    output = tmp_path / "score.json"
    assert main(["score", *files, "--output", str(output)]) == 0
    printed = final_score_line(capsys.readouterr().out)
    assert printed == pytest.approx((0.2 + 0.45 + 0.6) / 3, abs=1e-12)
    score = json.loads(output.read_text())
    assert score["final_score"] == printed and score["missing"] == []
    assert score["parts"]["real_dev"]["wer"] == 0.45


def test_missing_parts_fall_back_to_what_exists(tmp_path, capsys):
    cv = result_file(tmp_path, "local_cv_en_test_eval_results.txt", 0.3)
    dev = result_file(tmp_path, "my_long_dev_eval_results.txt", 0.5)
    assert main(["score", "--cv_test", cv, "--real_dev", dev, "--output", ""]) == 0
    out = capsys.readouterr().out
    assert "missing: real-world test" in out and final_score_line(out) == pytest.approx(0.4, abs=1e-12)


@pytest.mark.parametrize("content, message", [("WER: 0.1\n", "not an eval.py result file"),
                                              ("WER: abc\nCER: 0.1", "not numbers")])
def test_bad_result_files_are_one_line_errors(tmp_path, capsys, content, message):
    path = tmp_path / "mozilla-foundation_common_voice_8_0_sv-SE_test_eval_results.txt"
    path.write_text(content)
    assert main(["score", str(path), "--output", ""]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_a_file_of_unknown_role_needs_a_flag(tmp_path, capsys):
    path = result_file(tmp_path, "whatever_eval_results.txt", 0.1)
    assert main(["score", path, "--output", ""]) == 2
    assert "--cv_test, --real_dev or --real_test" in capsys.readouterr().err


def test_the_eval_report_matches_a_hand_counted_case_and_jiwer():
    """The numbers of eval.py's report computed a second way: counted by hand here, and by jiwer."""
    import jiwer

    from robust_speech.reports.result_files import evaluation_report

    references = ["the cat sat", "a dog", "good night", ""]
    predictions = ["the bat sat down", "dog", "good night", "hi"]
    # By hand: cat->bat (substitution), +down (insertion), -a (deletion), +hi against an empty reference.
    report = evaluation_report(references, predictions, audio_seconds=8.0, inference_seconds=2.0, wall_seconds=3.0,
                               settings={})
    errors = report["errors"]
    assert (errors["substitutions"], errors["insertions"], errors["deletions"]) == (1, 2, 1)
    assert errors["reference_words"] == 7 and report["wer"] == 4 / 7 == pytest.approx(jiwer.wer(references, predictions))
    assert report["cer"] == pytest.approx(jiwer.cer(references, predictions))
    assert report["empty_references"] == 1 and report["utterances"] == 4 and report["rtfx"] == 4.0
    # Worst first: the first utterance has 2 errors; the clean one is not among the worst.
    assert report["worst"][0]["index"] == 0 and report["worst"][0]["errors"] == 2
    assert 2 not in [row["index"] for row in report["worst"]]
    low, high = report["wer_ci95"]
    assert 0.0 <= low < report["wer"] < high  # WER may pass 1 in a resample heavy with the empty reference

    same = evaluation_report(["a b"] * 5, ["a c"] * 5, audio_seconds=1, inference_seconds=1, wall_seconds=1,
                             settings={})
    assert same["wer_ci95"] == [0.5, 0.5]  # every resample of identical utterances has the same WER


@pytest.mark.parametrize("dataset, config", [
    ("cv-corpus-17.0-2024-03-15", "sv-SE"),  # eval.py --dataset cv-corpus-... --config sv-SE
    ("/data/cv-corpus-17.0-2024-03-15", "sv-SE"),  # the release folder by its path
    ("./cv-corpus-8.0-2022-01-19/sv-SE", "sv-SE"),  # the language folder itself
])
def test_a_common_voice_release_folders_test_result_is_the_cv_part(tmp_path, capsys, dataset, config):
    """The file eval.py writes for the release-folder route (the Hub's common_voice ids no longer load)."""
    from argparse import Namespace

    from robust_speech.evaluation.engine import dataset_id

    name = f"{dataset_id(Namespace(dataset=dataset, config=config, split='test'))}_eval_results.txt"
    cv = result_file(tmp_path, name, 0.3)
    dev = result_file(tmp_path, "speech-recognition-community-v2_dev_data_sv-SE_validation_eval_results.txt", 0.5)
    assert main(["score", cv, dev, "--output", ""]) == 0
    out = capsys.readouterr().out
    assert f"Common Voice test: WER 0.3000  ({cv})" in out and final_score_line(out) == pytest.approx(0.4, abs=1e-12)
    # Its dev split is no part of the score.
    dev_cv = result_file(tmp_path, name.replace("_test_", "_dev_"), 0.3)
    assert main(["score", dev_cv, "--output", ""]) == 2
    assert "cannot tell which part of the score this is" in capsys.readouterr().err


def test_a_split_scored_without_a_config_is_named_without_it():
    """EvalOptions.config may be None (a local folder scored from Python): the file name leaves it out."""
    from argparse import Namespace

    from robust_speech.evaluation.engine import dataset_id

    assert dataset_id(Namespace(dataset="data/found", config=None, split="test")) == "data_found_test"
    assert dataset_id(Namespace(dataset="data/found", config="en", split="test")) == "data_found_en_test"
