"""robust-speech: build a robust speech recognizer for any language, scored as the Robust Speech Challenge does.

The command line (`robust-speech --help`, `run_speech_recognition_ctc.py`, `build_ngram.py`, `eval.py`) runs
the whole workflow. From Python, a trained model folder (or a Hub model id) is used in three calls:

    import robust_speech

    model = robust_speech.load("my-model")          # the folder's LM decodes when it has one
    result = model.transcribe("talk.flac")           # or a mono array: model.transcribe(array, sampling_rate=8000)
    print(result.text)
    for word in result.words:                        # seconds from the start of the audio
        print(word.word, word.start, word.end)
    results = model.transcribe(["a.wav", "b.mp3"])   # a list in, a list out, in order

    report = robust_speech.evaluate("my-model", "mozilla-foundation/common_voice_8_0", "sv-SE", "test")
    print(report["wer"], report["cer"])

    robust_speech.word_error_rate(["a b c"], ["a x c"])  # 0.333..., exactly as jiwer computes it

`load(model, device=None, *, decoder, no_lm, beam_width, hotwords, chunk_length_s, stride_length_s, batch_size,
vad, bf16, token, trust_remote_code) -> Model` (`help(robust_speech.load)` shows the defaults)
    Loads as eval.py and `robust-speech transcribe` do (the same decoder policy, the same chunking).
    `decoder`: "auto" (beam search with the folder's `language_model/` when it has one, else greedy),
    "greedy", "pyctcdecode" or "flashlight". `chunk_length_s`: cut long audio into chunks of that many seconds
    (with `stride_length_s` of overlap), as the transformers pipeline does; `vad`: cut it at pauses instead.
`Model.transcribe(audio_or_list, sampling_rate) -> TimedTranscript | list[TimedTranscript]`
    `audio`: a path to any audio file (decoded and resampled), or a mono float array at `sampling_rate`.
    A `TimedTranscript` has `text` and `words` (each `word`, `start`, `end` in seconds).
`evaluate(model, dataset, config, split, *, max_samples, text_column_name, **load_options) -> dict`
    Scores the model on a split as eval.py does (the model's own text normalizer on the targets) and
    returns its report: "wer", "cer", "wer_ci95", error counts, the worst utterances, speed. Writes no file.
`word_error_rate(references, predictions)`, `character_error_rate(references, predictions) -> float`
    Corpus WER and CER, as jiwer (and the challenge) computes them.

Errors a user can cause (a missing folder, an unreadable file, a contradictory option) raise
`RobustSpeechError` with one line saying what to fix. What the library says goes to the `robust_speech`
logger (`logging.getLogger("robust_speech")`): silent below warnings until configured.

Importing this package is cheap: torch, transformers and datasets load on the first `load` or `evaluate`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Sequence

from robust_speech.core.errors import RobustSpeechError
from robust_speech.evaluation.options import EvalOptions, EvalSplit
from robust_speech.inference.options import DecoderChoice, LoadOptions, TranscriberOptions

if TYPE_CHECKING:
    from robust_speech.inference.api import Model, TimedTranscript

__version__ = "0.1.0"
__all__ = [
    "Model",
    "RobustSpeechError",
    "TimedTranscript",
    "__version__",
    "character_error_rate",
    "evaluate",
    "load",
    "word_error_rate",
]


def load(
    model: str | os.PathLike,
    device: str | int | None = LoadOptions.device,
    *,
    decoder: str = DecoderChoice.engine,
    no_lm: bool = DecoderChoice.no_lm,
    beam_width: int | None = DecoderChoice.beam_width,
    hotwords: Sequence[str] = DecoderChoice.hotwords,
    chunk_length_s: float | None = TranscriberOptions.chunk_length_s,
    stride_length_s: float | None = TranscriberOptions.stride_length_s,
    batch_size: int = TranscriberOptions.batch_size,
    vad: bool = TranscriberOptions.vad,
    bf16: bool = LoadOptions.bf16,
    token: str | bool | None = LoadOptions.token,
    trust_remote_code: bool = LoadOptions.trust_remote_code,
) -> Model:
    """A model folder or Hub model id, loaded with its decoder; see `help(robust_speech)` for the options.

    `device`: None (a GPU if there is one), "cpu", "cuda", a GPU index, or -1 for the CPU."""
    from robust_speech.inference.api import Model
    from robust_speech.inference.loading import load_for_inference

    return Model(load_for_inference(model, *_options(locals())))


def evaluate(
    model: str | os.PathLike,
    dataset: str,
    config: str | None = EvalSplit.config,
    split: str = EvalSplit.split,
    *,
    max_samples: int | None = EvalOptions.max_eval_samples,
    text_column_name: str | None = EvalOptions.text_column_name,
    **load_options,
) -> dict:
    """Score `model` on a split as eval.py does and return its report ("wer", "cer", ...); writes no file.

    `dataset`: a Hub dataset id or a local dataset folder (a `metadata.csv` with its clips); the targets are
    normalized by the model folder's own rules (`text_normalizer.json`), else the challenge's.
    `load_options`: any of `load`'s keyword options (device, decoder, chunk_length_s, ...)."""
    import inspect

    from robust_speech.evaluation.engine import run_evaluation
    from robust_speech.inference.loading import resolve_model_dir
    from robust_speech.text.normalizer import model_normalizer

    bound = inspect.signature(load).bind(model, **load_options)  # a misspelled option is a TypeError, as in load
    bound.apply_defaults()
    loading, decoding, transcription = _options(bound.arguments)
    options = EvalOptions(
        model_id=os.fspath(model), dataset=dataset, config=config, split=split, chunk_length_s=transcription.chunk_length_s,
        stride_length_s=transcription.stride_length_s, text_column_name=text_column_name,
        max_eval_samples=max_samples, report="none", load=loading, decoding=decoding,
        batch_size=transcription.batch_size, vad=transcription.vad,
    )
    normalizer = model_normalizer(resolve_model_dir(os.fspath(model), loading.token))
    # The challenge's result files are eval.py's to write; the returned report holds the same WER and CER.
    return run_evaluation(options, normalize_text=normalizer, log_results=lambda result, args: None)


def _options(arguments: dict) -> tuple[LoadOptions, DecoderChoice, TranscriberOptions]:
    """`load`'s arguments as the option dataclasses the library takes."""
    return (
        LoadOptions(device=arguments["device"], bf16=arguments["bf16"], token=arguments["token"],
                    trust_remote_code=arguments["trust_remote_code"]),
        DecoderChoice(engine=arguments["decoder"], no_lm=arguments["no_lm"], beam_width=arguments["beam_width"],
                      hotwords=tuple(arguments["hotwords"])),
        TranscriberOptions(arguments["chunk_length_s"], arguments["stride_length_s"], arguments["batch_size"],
                           arguments["vad"]),
    )


def word_error_rate(references: Sequence[str], predictions: Sequence[str]) -> float:
    """Corpus word error rate over all utterances at once, exactly as `jiwer.wer` computes it."""
    from robust_speech.reports.metrics import word_error_rate as corpus_wer

    return corpus_wer(references, predictions)


def character_error_rate(references: Sequence[str], predictions: Sequence[str]) -> float:
    """Corpus character error rate over all utterances at once, exactly as `jiwer.cer` computes it."""
    from robust_speech.reports.metrics import char_error_rate

    return char_error_rate(references, predictions)


def __getattr__(name: str):
    # The result types, imported on first use so that `import robust_speech` stays free of torch.
    if name in ("Model", "TimedTranscript"):
        from robust_speech.inference import api

        return getattr(api, name)
    raise AttributeError(f"module 'robust_speech' has no attribute {name!r}")
