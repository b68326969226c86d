"""The n-gram recipe behind `build_ngram.py`: text files and/or a dataset's transcripts -> KenLM n-gram ->
installed in a model folder.

One command for the blog recipe (compile KenLM, run lmplz, add `</s>` by hand, build a binary, wire it into
the processor): text is normalized with the model's own normalizer (text_normalizer.json, written by
training) and restricted to its alphabet, with what was left out reported.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from robust_speech.core.errors import ConfigurationError
from robust_speech.core.logs import LOGGER
from robust_speech.core.model_folder import UNIGRAMS_FILE
from robust_speech.core.space import write_space_app
from robust_speech.data.leakage import refuse_common_voice_test
from robust_speech.data.sources import TEXT_COLUMN, load_speech_split, parse_sources
from robust_speech.data.training_text import LM_SET, TextRecord, record_text
from robust_speech.lm.install import install_language_model
from robust_speech.lm.ngram import (
    DEFAULT_ATTRS,
    NgramOptions,
    build_language_model,
    model_alphabet,
    model_vocabulary,
    prepare_lm_text,
    write_unigrams,
)
from robust_speech.text.lines import read_text_lines
from robust_speech.text.normalizer import TextNormalizer, model_normalizer


@dataclass(frozen=True)
class LMBuildOptions:
    model_dir: str | None = None  # install into this model folder (its language_model/ is replaced)
    output_dir: str | None = None  # without model_dir: where the ARPA, binary and unigrams go
    text: Sequence[str] = ()  # UTF-8 text files, one sentence per line
    dataset_name: str | None = None  # the transcripts of this dataset, added to those of `text`
    dataset_config_name: str | None = None
    split: str = "train"
    text_column_name: str | None = None
    token: str | None = None
    ngram: NgramOptions = field(default_factory=NgramOptions)
    normalizer: TextNormalizer | None = None  # None: the model's own (text_normalizer.json), else the reference's
    alpha: float = DEFAULT_ATTRS["alpha"]
    beta: float = DEFAULT_ATTRS["beta"]
    language: str | None = None  # the ISO 639 code of the text, recorded for check-submission (training_text.json.gz)


def build(args: LMBuildOptions) -> Path:
    """The n-gram of the sentences of every text file and of the dataset's transcripts together, installed in
    `model_dir` (returns its language_model/) or written to `output_dir` (returns the binary)."""
    if not args.model_dir and not args.output_dir:
        raise ConfigurationError("give --model_dir (install into a model) or --output_dir (standalone LM files)")
    if not args.text and not args.dataset_name:
        raise ConfigurationError("no text: give --text FILE... and/or --dataset_name")
    normalizer = args.normalizer or (model_normalizer(args.model_dir) if args.model_dir else TextNormalizer())
    alphabet = model_alphabet(model_vocabulary(args.model_dir)) if args.model_dir else None
    started = time.perf_counter()
    recorded = TextRecord(normalizer, language=args.language)
    prepared = prepare_lm_text(recorded.watch(_sentences(args)), normalizer, alphabet)
    LOGGER.info(prepared.report())
    options = args.ngram
    work = Path(args.output_dir) if args.output_dir else Path(tempfile.mkdtemp(prefix="ngram-"))
    work.mkdir(parents=True, exist_ok=True)
    built = build_language_model(prepared.lines, work, options, progress=LOGGER.info)
    binary, unigrams = built.binary, built.unigrams
    if args.output_dir:
        write_unigrams(work / UNIGRAMS_FILE, unigrams)
    LOGGER.info(f"{options.order}-gram: {len(unigrams)} words, {binary.stat().st_size / 1e6:.1f} MB binary, "
        f"built in {time.perf_counter() - started:.1f} s")
    if args.model_dir:
        folder = install_language_model(args.model_dir, binary, unigrams, {"alpha": args.alpha, "beta": args.beta},
                                        built.flashlight_binary)
        write_space_app(args.model_dir)  # the web demo that decodes with this LM, where the folder has none
        record_text(args.model_dir, LM_SET, recorded)  # what check-submission compares with test sentences
        LOGGER.info(f"installed in {folder} (alpha={args.alpha}, beta={args.beta}); Wav2Vec2ProcessorWithLM and "
            "robust-speech's decoders now use it")
        return folder
    return binary


def _sentences(args: LMBuildOptions):
    for path in args.text:
        yield from read_text_lines(path)
    if args.dataset_name:
        sources = parse_sources(args.dataset_name, args.dataset_config_name, args.text_column_name)
        # LM text is training data too: Common Voice test sentences must not reach it.
        refuse_common_voice_test(sources, args.split)
        notes: list[str] = []
        # Transcripts only: the audio is neither read nor required (a table of sentences is a dataset here too).
        dataset = load_speech_split(sources, args.split, token=args.token, notes=notes, text_only=True)
        for note in notes:
            LOGGER.info(f"note: {note}")
        yield from dataset.select_columns([TEXT_COLUMN])[:][TEXT_COLUMN]
