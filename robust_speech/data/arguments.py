"""The data flags of the training recipe, as a dataclass parsed by `transformers.HfArgumentParser`.

Field names are the reference recipe's (`run_speech_recognition_ctc.py`), so its commands work unchanged; fields
it lacks are ours and say so in their help."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Optional

from robust_speech.core.errors import ConfigurationError
from robust_speech.text.normalizer import DEFAULT_CHARS_TO_IGNORE
from robust_speech.text.vocabulary import PAD_TOKEN, UNK_TOKEN, WORD_DELIMITER

EVAL_METRICS = ("wer", "cer")
DEFAULT_STOPPING_STRATEGY = "all_exhausted"


@dataclass
class DataTrainingArguments:
    dataset_name: str = field(
        metadata={"help": "Hub dataset id or local path (Common Voice folder, audio folder with metadata.csv, "
                  "CSV/TSV of audio paths, save_to_disk folder, parquet); several joined with '+'"}
    )
    dataset_config_name: Optional[str] = field(
        default=None, metadata={"help": "config (e.g. the language); one per dataset joined with '+', or one for all"}
    )
    train_split_name: str = field(
        default="train+validation", metadata={"help": "training split; join several with '+'"}
    )
    eval_split_name: str = field(default="test", metadata={"help": "evaluation split"})
    eval_dataset_name: Optional[str] = field(
        default=None, metadata={"help": "ours: evaluate on another dataset than --dataset_name"}
    )
    eval_dataset_config_name: Optional[str] = field(default=None, metadata={"help": "ours: config of --eval_dataset_name"})
    audio_column_name: str = field(default="audio", metadata={"help": "column holding the audio"})
    text_column_name: Optional[str] = field(
        default=None,
        metadata={"help": "column holding the transcript; unset: the first of text, sentence, transcription, "
                  "transcript, normalized_text, raw_transcription that exists"},
    )
    overwrite_cache: bool = field(default=False, metadata={"help": "decode again instead of reading the cache"})
    preprocessing_num_workers: Optional[int] = field(default=None, metadata={"help": "processes that decode audio"})
    max_train_samples: Optional[int] = field(default=None, metadata={"help": "keep only the first N training examples"})
    max_eval_samples: Optional[int] = field(default=None, metadata={"help": "keep only the first N evaluation examples"})
    chars_to_ignore: Optional[list[str]] = field(
        default=None,
        metadata={"help": f"characters removed from transcripts (unset: {DEFAULT_CHARS_TO_IGNORE.replace('%', '%%')}); "
                  "as separate arguments, as in the reference recipe"},
    )
    eval_metrics: list[str] = field(
        default_factory=lambda: list(EVAL_METRICS),
        metadata={"help": "what evaluation computes (and the model card reports): wer and/or cer"},
    )
    max_duration_in_seconds: float = field(default=20.0, metadata={"help": "drop longer clips (recorded in skipped.tsv)"})
    min_duration_in_seconds: float = field(default=0.0, metadata={"help": "drop shorter clips (recorded in skipped.tsv)"})
    preprocessing_only: bool = field(
        default=False, metadata={"help": "decode and cache the data, then stop (run once on one machine before "
                                 "distributed training)"}
    )
    token: Optional[str] = field(default=None, metadata={"help": "Hugging Face token for gated datasets and pushing"})
    use_auth_token: bool = field(default=False, metadata={"help": "deprecated: use --token (this uses the saved login)"})
    trust_remote_code: bool = field(
        default=False, metadata={"help": "run the model's own code from the Hub (off: safer); datasets 4 and later "
                                 "run no dataset scripts, so it changes nothing about the data"}
    )
    unk_token: str = field(default=UNK_TOKEN, metadata={"help": f"unknown token of the vocabulary (only {UNK_TOKEN})"})
    pad_token: str = field(default=PAD_TOKEN, metadata={"help": f"padding token, the CTC blank (only {PAD_TOKEN})"})
    word_delimiter_token: str = field(default=WORD_DELIMITER, metadata={"help": f"word delimiter token (only {WORD_DELIMITER})"})
    phoneme_language: Optional[str] = field(
        default=None, metadata={"help": "refused: robust-speech trains character models (eval.py scores words)"}
    )
    streaming: bool = field(
        default=False, metadata={"help": "ours: read the dataset while training (nothing downloaded or decoded up front, "
                                 "memory flat: for corpora bigger than the disk); needs --max_steps"}
    )
    shuffle_buffer_size: int = field(
        default=1000, metadata={"help": "ours, with --streaming: shuffle the training stream in a buffer of this many "
                                "undecoded examples (0: keep the stream's order)"}
    )
    interleave_probabilities: Optional[str] = field(
        default=None, metadata={"help": "ours: sample several datasets with these weights (e.g. 0.7,0.3)"}
    )
    interleave_stopping_strategy: str = field(
        default=DEFAULT_STOPPING_STRATEGY, metadata={"help": "ours: when interleaving (--interleave_probabilities or "
                                                     "--streaming), first_exhausted or all_exhausted"}
    )
    allow_overlap: bool = field(
        default=False, metadata={"help": "ours: train even when training examples share a sentence or the audio "
                                 "with the evaluation split (they are listed in leakage.tsv)"}
    )
    vocabulary_min_count: int = field(
        default=1, metadata={"help": "ours: characters seen fewer times in training text stay out of the vocabulary "
                             "and their examples are skipped (1: keep every character)"}
    )
    cache_dir: Optional[str] = field(default=None, metadata={"help": "where datasets and decoded audio are cached"})
    do_lower_case: bool = field(default=True, metadata={"help": "ours: lowercase transcripts"})
    dashes_split_words: bool = field(
        default=False, metadata={"help": "ours: dash-like characters of --chars_to_ignore (and the ellipsis) break words "
                                 "instead of vanishing ('wait—what' stays two words); saved with the model, so the LM "
                                 "and eval.py follow (false: deleted, as the guide's normalize_text does)"}
    )
    casing_language: Optional[str] = field(
        default=None, metadata={"help": "ours: language whose casing rules apply (tr, az: dotted/dotless i)"}
    )

    def __post_init__(self) -> None:
        if self.use_auth_token and self.token is None:
            warnings.warn("--use_auth_token is deprecated: pass --token (using the saved Hugging Face login)", FutureWarning)
        if self.eval_dataset_name is None and self.eval_dataset_config_name is not None:
            raise ValueError("--eval_dataset_config_name needs --eval_dataset_name")
        refuse_ignored_data_flags(self)

    @property
    def hub_token(self) -> str | bool | None:
        """What `load_dataset(token=...)` gets: the given token, True for the saved login, or None."""
        return self.token if self.token is not None else (True if self.use_auth_token else None)


def refuse_ignored_data_flags(args: DataTrainingArguments) -> None:
    """One line for a data flag that would be accepted and then change nothing (or break decoding silently)."""
    if args.phoneme_language is not None:
        # The reference passes it to a Wav2Vec2PhonemeCTCTokenizer. Here every stage after training works on
        # characters: the vocabulary is built from the normalized text, eval.py scores words against text
        # references, build_ngram.py builds a word LM over the model's characters. A phoneme model could be
        # neither decoded with those LMs nor scored by the challenge, so it is refused, not half supported.
        raise ConfigurationError(
            f"--phoneme_language {args.phoneme_language}: robust-speech trains character CTC models, scored on words "
            "by eval.py; phoneme targets are not supported (drop the flag)")
    unknown = [name for name in args.eval_metrics if name not in EVAL_METRICS]
    if unknown or not args.eval_metrics:
        raise ConfigurationError(f"--eval_metrics {' '.join(args.eval_metrics) or '(none)'}: choose wer and/or cer")
    args.eval_metrics = list(dict.fromkeys(args.eval_metrics))
    for flag, value, fixed in (("--unk_token", args.unk_token, UNK_TOKEN), ("--pad_token", args.pad_token, PAD_TOKEN),
                               ("--word_delimiter_token", args.word_delimiter_token, WORD_DELIMITER)):
        if value != fixed:
            raise ConfigurationError(
                f"{flag} {value}: the vocabulary, the decoders and the LM builder use {PAD_TOKEN}, {UNK_TOKEN} and "
                f"{WORD_DELIMITER}; only {fixed} is supported (drop the flag)")
    if args.streaming:
        for flag, given in (("--preprocessing_num_workers", args.preprocessing_num_workers is not None),
                            ("--overwrite_cache", args.overwrite_cache), ("--preprocessing_only", args.preprocessing_only)):
            if given:
                raise ConfigurationError(
                    f"{flag} does nothing with --streaming: examples are decoded as training reads them and nothing "
                    "is cached (drop one of the two; --dataloader_num_workers sets the decoding processes)")
    elif args.interleave_stopping_strategy != DEFAULT_STOPPING_STRATEGY and args.interleave_probabilities is None:
        raise ConfigurationError(
            f"--interleave_stopping_strategy {args.interleave_stopping_strategy} applies only when datasets are "
            "interleaved: add --interleave_probabilities (or --streaming); without them the datasets are concatenated")
