"""Clips too short for their transcript are skipped before training: CTC needs one frame per character and a
blank frame between two equal neighbours ("ll"), or the clip's loss is infinite (zeroed) and it teaches nothing."""

from functools import cache

import numpy as np
import pytest
import torch
from conftest import tone
from transformers import Wav2Vec2Config
from transformers.models.wav2vec2.modeling_wav2vec2 import Wav2Vec2PreTrainedModel

from robust_speech.data.preprocess import PreprocessOptions, ctc_frames_needed, decode_example

RATE = 16000
FRAME = 320  # samples per 20 ms CTC frame at 16 kHz


def reason(text: str, samples: int) -> str:
    audio = {"array": tone(440, samples / RATE, RATE)[:samples], "sampling_rate": RATE, "path": "clip.wav"}
    assert audio["array"].size == samples
    return decode_example(audio, text, "test", 0, options=PreprocessOptions())["skip_reason"]


@pytest.mark.parametrize("text, needed", [("aa", 3), ("all", 4), ("hello all", 11), ("aba", 3), ("a a", 3),
                                          ("bookkeeper", 13), ("aaa", 5), ("a", 1)])
def test_frames_needed_count_a_blank_between_equal_neighbours(text, needed):
    assert ctc_frames_needed(text) == needed


@pytest.mark.parametrize("text", ["aa", "hello all", "bookkeeper"])
def test_a_clip_one_frame_short_is_skipped_and_one_frame_more_is_kept(text):
    needed = ctc_frames_needed(text)
    # Lengths of n frames and 80-319 samples: every wav2vec2-style encoder emits n frames for them.
    assert reason(text, needed * FRAME - 1) == "too short"
    assert reason(text, (needed + 1) * FRAME - 1) == ""


def wav2vec2_frames(samples: int) -> int:
    """Frames the wav2vec2 / XLS-R convolutional feature encoder emits for `samples` (transformers' formula)."""
    return int(_reference_encoder()._get_feat_extract_output_lengths(torch.tensor(samples)))


@cache
def _reference_encoder():
    return Wav2Vec2PreTrainedModel(Wav2Vec2Config())


@pytest.mark.parametrize("text", ["aa", "hello all"])
def test_no_kept_clip_is_shorter_than_the_encoder_output_its_transcript_needs(text):
    needed = ctc_frames_needed(text)
    for samples in range((needed - 1) * FRAME, (needed + 2) * FRAME, 16):
        kept = reason(text, samples) == ""
        assert not kept or wav2vec2_frames(samples) >= needed, f"{samples} samples kept: {wav2vec2_frames(samples)} frames"


def test_frame_formula_of_the_reference_encoder():
    # The independent count above: 400-sample receptive field, 320-sample hop.
    assert [wav2vec2_frames(n) for n in (400, 719, 720, 16000)] == [1, 1, 2, 49]
    assert np.all(np.diff([wav2vec2_frames(n) for n in range(400, 2000, 40)]) >= 0)


def test_no_kept_clip_is_shorter_than_the_filterbank_encoder_output_its_transcript_needs():
    # w2v-BERT-style models (the demo's): 25 ms filterbank frames every 10 ms, stacked two by two.
    from transformers import SeamlessM4TFeatureExtractor

    extractor = SeamlessM4TFeatureExtractor()
    needed = ctc_frames_needed("aa")
    for samples in range((needed - 1) * FRAME, (needed + 2) * FRAME, 16):
        audio = tone(440, samples / RATE, RATE)[:samples]
        # The frames CTC aligns are the unmasked ones: the extractor pads an odd filterbank frame to stack pairs.
        mask = extractor(audio, sampling_rate=RATE, return_tensors="np", return_attention_mask=True)["attention_mask"]
        frames = int(mask.sum())
        assert reason("aa", samples) != "" or frames >= needed, f"{samples} samples kept: {frames} frames"
