"""Segmentation's parts without a model: CTC segmentation on hand-made frame posteriors whose true boundaries are
known, and reading a recording's text (lines, paragraphs, SRT, VTT, a table of recordings)."""

from __future__ import annotations

import pytest
from ctc_logits import VOCABULARY, emissions
from spoken_text import ids, spoken

from robust_speech.core.errors import ConfigurationError, TextError
from robust_speech.found import alignment
from robust_speech.found.alignment import PAD_S, AlignmentVocabulary, align
from robust_speech.found.segment import table_jobs
from robust_speech.found.transcripts import OVERLAPPING, read_transcript

SECONDS_PER_FRAME = 0.02
TOKENS = tuple(sorted(VOCABULARY, key=VOCABULARY.get))
ALIGNMENT_VOCABULARY = AlignmentVocabulary(TOKENS, VOCABULARY["[PAD]"], VOCABULARY["|"])
SENTENCES = ["the cat sat on the mat", "a quick brown fox", "jumps over the lazy dog", "good night",
             "she sells sea shells", "by the sea shore"]


def test_the_speech_of_each_utterance_is_found_and_its_clip_ends_in_the_pauses():
    pauses = [40, 15, 60, 25, 90, 30, 50]
    parts = [pauses[0]]
    for sentence, pause in zip(SENTENCES, pauses[1:]):
        parts += [sentence, pause]
    log_probs, truth = spoken(parts)
    placed = align(log_probs, [ids(s) for s in SENTENCES], ALIGNMENT_VOCABULARY, SECONDS_PER_FRAME, -2.0)
    pad = PAD_S / SECONDS_PER_FRAME
    for index, (placement, (first, end)) in enumerate(zip(placed, truth)):
        assert abs(placement.speech_start - first) <= 1 and abs(placement.speech_end - end) <= 1
        assert placement.score > -1.0
        previous_end = truth[index - 1][1] if index else 0
        next_start = truth[index + 1][0] if index + 1 < len(truth) else len(log_probs)
        assert previous_end <= placement.start <= first and end <= placement.end <= next_start
        assert first - placement.start <= pad and placement.end - end <= pad + 1
    assert placed[1].start == (truth[0][1] + truth[1][0]) // 2  # a 15-frame pause is cut in its middle


def test_a_first_token_emitted_on_the_previous_utterance_does_not_start_the_speech():
    """A stray "i" heard after the first utterance, and the second utterance's own "i" heard weakly: CTC
    segmentation emits the second utterance's "i" on the stray one and stays on it through the pause. Its speech
    (and clip) starts after that gap, not in the first utterance's audio."""
    late = emissions("i could dance", confusions={0: ("e", 0.85)})
    log_probs, truth = spoken([20, "say it to him", "i", 60, late, 20])
    placed = align(log_probs, [ids("say it to him"), ids("i could dance")], ALIGNMENT_VOCABULARY, SECONDS_PER_FRAME,
                   -3.0)
    stray_end, (first, end) = truth[1][1], truth[2]
    assert abs(placed[1].speech_start - first) <= 3 and placed[1].speech_end == end
    assert placed[1].start >= stray_end and placed[0].end >= stray_end


def test_sections_place_utterances_as_one_whole_alignment_does(monkeypatch):
    sentences = SENTENCES * 6
    parts = [20]
    for index, sentence in enumerate(sentences):
        parts += [sentence, 20 + 7 * (index % 5)]
    log_probs, truth = spoken(parts)
    tokens = [ids(s) for s in sentences]
    monkeypatch.setattr(alignment, "SECTION_TOKENS", 10_000)
    whole = align(log_probs, tokens, ALIGNMENT_VOCABULARY, SECONDS_PER_FRAME, -2.0)
    monkeypatch.setattr(alignment, "SECTION_TOKENS", 60)  # about three sentences a section
    monkeypatch.setattr(alignment, "MARGIN_S", 2.0)
    calls = []
    original = alignment._align_section
    monkeypatch.setattr(alignment, "_align_section", lambda lp, *rest: calls.append(len(lp)) or original(lp, *rest))
    sectioned = align(log_probs, tokens, ALIGNMENT_VOCABULARY, SECONDS_PER_FRAME, -2.0)
    assert len(calls) > 5 and max(calls) < len(log_probs) / 3  # bounded windows, not the whole recording
    assert [(p.speech_start, p.speech_end) for p in sectioned] == [(p.speech_start, p.speech_end) for p in whole]
    assert all(abs(p.speech_start - first) <= 1 for p, (first, _end) in zip(sectioned, truth))


def test_text_the_audio_lacks_is_found_absent_and_its_neighbours_keep_their_place():
    log_probs, truth = spoken([30, SENTENCES[0], 60, SENTENCES[1], 30])
    text = [SENTENCES[0], "zebras quietly jump", SENTENCES[1]]
    placed = align(log_probs, [ids(s) for s in text], ALIGNMENT_VOCABULARY, SECONDS_PER_FRAME, -2.0)
    assert placed[1].absent(len(ids(text[1])), SECONDS_PER_FRAME) and placed[1].score < -2.0
    for placement, (first, end) in zip([placed[0], placed[2]], truth):
        assert not placement.absent(20, SECONDS_PER_FRAME)
        assert abs(placement.speech_start - first) <= 1 and abs(placement.speech_end - end) <= 1
    # the absent text limits no one: the clips keep their full padding into the 60-frame pause
    assert placed[0].end - truth[0][1] >= PAD_S / SECONDS_PER_FRAME - 1


def test_an_utterance_longer_than_half_a_section_is_aligned_in_pieces(monkeypatch):
    monkeypatch.setattr(alignment, "SECTION_TOKENS", 40)
    long_sentence = " ".join(SENTENCES[:4])  # 76 tokens: four pieces of at most 20
    log_probs, truth = spoken([25, SENTENCES[4], 30, long_sentence, 30, SENTENCES[5], 25])
    text = [SENTENCES[4], long_sentence, SENTENCES[5]]
    placed = align(log_probs, [ids(s) for s in text], ALIGNMENT_VOCABULARY, SECONDS_PER_FRAME, -2.0)
    for placement, (first, end) in zip(placed, truth):
        assert abs(placement.speech_start - first) <= 1 and abs(placement.speech_end - end) <= 1


def test_text_past_the_end_of_the_recording_is_not_placed():
    log_probs, truth = spoken([20, SENTENCES[0], 20, SENTENCES[1], 10])
    text = [SENTENCES[0], SENTENCES[1], " ".join(["and a long sentence the recording never reaches at all"] * 4)]
    placed = align(log_probs, [ids(s) for s in text], ALIGNMENT_VOCABULARY, SECONDS_PER_FRAME, -2.0)
    assert placed[2] is None
    assert [abs(p.speech_start - first) <= 1 for p, (first, _end) in zip(placed, truth)] == [True, True]


# ---------------------------------------------------------------------------------------------------------
# Reading the text


def write(tmp_path, name: str, text: str | bytes):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_plain_lines_are_one_utterance_each(tmp_path):
    path = write(tmp_path, "a.txt", "First line. Still the first.\n\n\nSecond line\n")
    utterances = read_transcript(path, "lines")
    assert [(u.text, u.where) for u in utterances] == [("First line. Still the first.", "line 1"),
                                                       ("Second line", "line 4")]


def test_paragraphs_are_cut_into_sentences(tmp_path):
    path = write(tmp_path, "a.txt", "Dr. Smith bought 3.5 kg of rice. He went\nhome!\n\nA second paragraph. Its end?\n")
    utterances = read_transcript(path)
    assert [u.text for u in utterances] == ["Dr. Smith bought 3.5 kg of rice.", "He went home!", "A second paragraph.",
                                            "Its end?"]
    assert utterances[2].where == "paragraph 2, sentence 1 (line 4)"


def test_lines_without_blank_lines_between_them_are_cut_into_their_sentences(tmp_path):
    path = write(tmp_path, "a.txt", "One. Two.\nThree\n")
    assert [u.text for u in read_transcript(path)] == ["One.", "Two.", "Three"]


SRT = """1
00:00:01,000 --> 00:00:03,000
Hello <i>there</i>,
my friend.

3
00:00:05,500 --> 00:00:08,000
Two people

2
00:00:04,000 --> 00:00:06,000
talk at once.

4
00:00:09,000 --> 00:00:10,000
The end.
"""


def test_srt_cues_in_time_order_with_overlapping_ones_marked(tmp_path):
    utterances = read_transcript(write(tmp_path, "a.srt", SRT))
    assert [u.text for u in utterances] == ["Hello there, my friend.", "talk at once.", "Two people", "The end."]
    assert [u.problem for u in utterances] == ["", OVERLAPPING, OVERLAPPING, ""]
    assert utterances[1].where == "cue 3 (00:00:04.000)"


def test_an_srt_of_mostly_overlapping_cues_is_refused(tmp_path):
    cues = "".join(f"{n}\n00:00:0{n},000 --> 00:00:0{n + 2},000\nline {n}\n\n" for n in range(1, 6))
    with pytest.raises(TextError, match="overlap"):
        read_transcript(write(tmp_path, "a.srt", cues))


def test_vtt_with_header_notes_and_voice_tags(tmp_path):
    text = ("WEBVTT\n\nNOTE made by hand\n\nintro\n00:00.500 --> 00:02.000 align:start\n<v Roger>Good morning.\n\n"
            "00:02.500 --> 00:04.000\nHow are you?\n")
    for name in ("a.vtt", "a.txt"):  # by suffix, and by its header
        assert [u.text for u in read_transcript(write(tmp_path, name, text))] == ["Good morning.", "How are you?"]


def test_text_that_is_not_utf8_is_one_line_naming_the_line(tmp_path):
    path = write(tmp_path, "a.txt", "fine\ncaf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(TextError, match=r"line 2 is not UTF-8 \(byte 0xe9\)"):
        read_transcript(path)


def test_text_without_words_is_refused(tmp_path):
    with pytest.raises(TextError, match="no text"):
        read_transcript(write(tmp_path, "a.txt", "\n  \n"))


def test_a_table_lists_recordings_and_their_texts_relative_to_it(tmp_path):
    (tmp_path / "sub").mkdir()
    table = write(tmp_path / "sub", "list.tsv", "file_name\ttext_file\na.wav\ta.txt\n/abs/b.mp3\tb.srt\n")
    assert table_jobs(table) == [(str(tmp_path / "sub" / "a.wav"), str(tmp_path / "sub" / "a.txt")),
                                 ("/abs/b.mp3", str(tmp_path / "sub" / "b.srt"))]
    with pytest.raises(ConfigurationError, match="text file column"):
        table_jobs(write(tmp_path, "bad.csv", "file_name,sentence\na.wav,hello\n"))
