"""A model folder (or Hub id) ready to transcribe: the acoustic model, the decoder the policy picks, the Transcriber.

Every entry point that runs a trained model (eval.py, `robust-speech transcribe`, `robustness`, `tune-lm`)
loads it here, so they resolve folders, load weights safely and choose decoders the same way.

The decoder policy: `auto` beam-searches with pyctcdecode when the folder has a `language_model/`, else decodes
greedily (or beam-searches without an LM when hotwords are to be boosted or n-best alternatives are asked
for); `no_lm` means greedy (with `--decoder pyctcdecode/flashlight` it is a contradiction, refused); the beam
width is the one asked for, else the one `tune-lm` wrote into `decoding.json`, else `DEFAULT_BEAM_WIDTH`; a beam
width asked for a greedy run is refused rather than ignored.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from robust_speech.core.errors import ConfigurationError
from robust_speech.core.folder_check import LM_FIX, DamagedFile, DamagedFileError, verify_model_folder
from robust_speech.core.model_folder import DECODING_FILE, LM_DIRECTORY
from robust_speech.inference.decoding import Decoder, load_decoder
from robust_speech.inference.options import (
    DECODER_CHOICES,
    DEFAULT_BEAM_WIDTH,
    DecoderChoice,
    LoadOptions,
    TranscriberOptions,
)
from robust_speech.inference.transcribe import Transcriber
from robust_speech.lm.ngram import language_model_binary
from robust_speech.model.acoustic import AcousticModel, load_acoustic_model


@dataclass
class LoadedModel:
    model_dir: Path
    transcriber: Transcriber = field(repr=False)

    @property
    def acoustic(self) -> AcousticModel:
        return self.transcriber.acoustic

    @property
    def decoder(self) -> Decoder | None:
        return self.transcriber.decoder


def load_for_inference(model_id: str | os.PathLike, load: LoadOptions = LoadOptions(),
                       decoding: DecoderChoice | None = DecoderChoice(),
                       transcription: TranscriberOptions = TranscriberOptions()) -> LoadedModel:
    """`decoding=None` loads no decoder (for callers that decode the log-probs themselves, like tune-lm, whose
    LM files are checked here too)."""
    model_dir = resolve_model_dir(str(model_id), load.token)
    if decoding is None or not (decoding.no_lm or decoding.engine == "greedy"):
        verify_model_folder(model_dir, model=False)  # before the acoustic model's seconds of loading
    acoustic = load_acoustic_model(model_dir, load.device, bf16=load.bf16, token=load.token,
                                   trust_remote_code=load.trust_remote_code,
                                   allow_pickle_weights=load.allow_pickle_weights)
    decoder = None if decoding is None else choose_decoder(model_dir, decoding)
    transcriber = Transcriber(acoustic, decoder, chunk_length_s=transcription.chunk_length_s,
                              stride_length_s=transcription.stride_length_s, batch_size=transcription.batch_size,
                              vad=transcription.vad)
    return LoadedModel(model_dir, transcriber)


def resolve_model_dir(model_id: str, token=None) -> Path:
    """A local folder as given; a Hub id downloaded (so its language_model/ is found like a local one's). The
    acoustic model's files are checked for damage here, before anything reads them (core/folder_check.py)."""
    folder = _find_model_dir(model_id, token)
    verify_model_folder(folder, language_model=False)
    return folder


def _find_model_dir(model_id: str, token=None) -> Path:
    if os.path.isdir(model_id):
        return Path(model_id)
    if model_id.startswith((".", "/", "~")) or os.path.exists(model_id) or model_id.count("/") > 1:
        raise ConfigurationError(f"model {model_id}: no such model folder; give the folder "
                                 "run_speech_recognition_ctc.py wrote (--output_dir) or a Hub model id")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model_id, token=token))
    except Exception as error:  # the Hub client raises many types; the user needs one line
        raise ConfigurationError(f"model {model_id}: not a local folder and not downloadable from the Hub "
                                 f"({type(error).__name__}: {str(error).splitlines()[0][:160]})") from None


def choose_decoder(model_dir: Path, choice: DecoderChoice) -> Decoder:
    if choice.engine not in DECODER_CHOICES:
        raise ConfigurationError(f"--decoder {choice.engine}: choose one of {', '.join(DECODER_CHOICES)}")
    has_lm = language_model_binary(model_dir) is not None
    engine = choice.engine
    if choice.no_lm and engine not in ("auto", "greedy"):
        raise ConfigurationError(f"--no_lm decodes greedily, so --decoder {engine} would be ignored: give one of the two")
    if engine == "auto":
        engine = "pyctcdecode" if has_lm and not choice.no_lm else "greedy"
    if choice.hotwords and engine == "greedy":
        if choice.engine == "greedy" or choice.no_lm:
            raise ConfigurationError("--hotwords need beam search: drop --no_lm / --decoder greedy (pyctcdecode boosts "
                                     "them with or without an LM)")
        engine = "pyctcdecode"  # auto without an LM: beam search without one, so the hotwords can be boosted
    if choice.nbest > 1 and engine == "greedy" and choice.engine == "auto" and not choice.no_lm:
        engine = "pyctcdecode"  # likewise for alternatives: greedy decoding has a single path
    if engine == "greedy" and choice.beam_width is not None:
        why = ("--no_lm" if choice.no_lm else "--decoder greedy" if choice.engine == "greedy"
               else f"{model_dir} has no {LM_DIRECTORY}/")
        raise ConfigurationError(f"--beam_width {choice.beam_width} applies to the LM decoders, but this run decodes "
                                 f"greedily ({why}): drop --beam_width")
    if engine == "flashlight" and not has_lm:
        raise ConfigurationError(f"--decoder flashlight needs {model_dir}/{LM_DIRECTORY}/: build it with build_ngram.py")
    outputs = {"confidence": choice.confidence, "nbest": choice.nbest}
    if engine == "greedy":
        return load_decoder(model_dir, engine, **outputs)
    if has_lm:
        verify_model_folder(model_dir, model=False)
    beam_width = choice.beam_width or tuned_beam_width(model_dir) or DEFAULT_BEAM_WIDTH
    boost = {"hotwords": choice.hotwords, "hotword_weight": choice.hotword_weight} if choice.hotwords else {}
    try:
        return load_decoder(model_dir, engine, beam_width=beam_width, **boost, **outputs)
    except (OSError, RuntimeError, UnicodeDecodeError) as error:
        binary = language_model_binary(model_dir)
        if binary is None or not any(mark in str(error) for mark in ("Cannot read model", "FormatLoadException")):
            raise
        # A binary KenLM refuses (cut short, say) in a folder without recorded checksums.
        reason = str(error.__cause__ or error).strip().splitlines()[-1].rstrip(")")[:200]  # KenLM's "Binary file has size ..."
        raise DamagedFileError(DamagedFile(binary, f"cannot be read by KenLM ({reason})",
                                           LM_FIX.format(folder=model_dir))) from None


def tuned_beam_width(model_dir: str | os.PathLike) -> int | None:
    path = Path(model_dir) / DECODING_FILE
    if not path.is_file():
        return None
    return int(json.loads(path.read_text(encoding="utf-8"))["beam_width"])
