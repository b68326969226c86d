#!/usr/bin/env python3
"""Evaluate a CTC model on a dataset split with the Robust Speech Challenge's fixed interface.

    ./eval.py --model_id ./model --dataset mozilla-foundation/common_voice_8_0 --config sv-SE --split test \
        --chunk_length_s 5.0 --stride_length_s 1.0 --log_outputs

Writes `{dataset_id}_eval_results.txt` ("WER: ...\\nCER: ...") and, with --log_outputs, the per-example
prediction/target logs, exactly as the challenge's eval.py; `normalize_text` and `log_results` stay in this
file so they can be edited as the challenge asks.

This file runs in two environments and writes the same files in both:
- with robust-speech installed, its engine (robust_speech/evaluation/engine.py) batches inference, chunks long
  audio like the transformers pipeline and decodes with the model folder's language_model/;
- with only the challenge's packages (torch, transformers, datasets, pyctcdecode, kenlm, jiwer; soundfile and
  soxr to read audio), the transformers pipeline does the same, one utterance at a time.
`normalize_text` applies the rules the model was trained with (its text_normalizer.json), in plain Python.
"""

import argparse
import csv
import json
import logging
import os
import re
import shutil
import sys
import unicodedata
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Dict

import jiwer
from datasets import Dataset

try:  # the fast engine, when robust-speech is installed
    from robust_speech.cli.arguments import add_engine_arguments, eval_options, parse_device
    from robust_speech.core.errors import RobustSpeechError, output_error
    from robust_speech.core.folder_check import verify_model_folder
    from robust_speech.evaluation.engine import run_evaluation
except ImportError:
    run_evaluation = None

    class RobustSpeechError(Exception):
        exit_code = 2

    def parse_device(value: str):
        return int(value) if value.lstrip("-").isdigit() else value

    def output_error(error: OSError, path) -> RobustSpeechError:
        return RobustSpeechError(f"cannot write {path}: {error.strerror or error}")


def log_results(result: Dataset, args: Dict[str, str]):
    """DO NOT CHANGE. This function computes and logs the result metrics."""

    log_outputs = args.log_outputs
    dataset_id = "_".join(args.dataset.split("/") + [args.config, args.split])

    # compute metrics: the reference's `load_metric("wer"/"cer")` no longer exists in datasets; the metrics it
    # loaded called jiwer, as these lines do (robust-speech check-submission accepts either form)
    wer_result = jiwer.wer(list(result["target"]), list(result["prediction"]))
    cer_result = jiwer.cer(list(result["target"]), list(result["prediction"]))

    # print & log results
    result_str = f"WER: {wer_result}\nCER: {cer_result}"
    print(result_str)

    with open(f"{dataset_id}_eval_results.txt", "w") as f:
        f.write(result_str)

    # log all results in text file. Possibly interesting for analysis
    if log_outputs is not None:
        pred_file = f"log_{dataset_id}_predictions.txt"
        target_file = f"log_{dataset_id}_targets.txt"

        with open(pred_file, "w") as p, open(target_file, "w") as t:

            # mapping function to write output
            def write_to_file(batch, i):
                p.write(f"{i}" + "\n")
                p.write(batch["prediction"] + "\n")
                t.write(f"{i}" + "\n")
                t.write(batch["target"] + "\n")

            result.map(write_to_file, with_indices=True)


def normalize_text(text: str) -> str:
    """DO ADAPT FOR YOUR USE CASE. this function normalizes the target text."""

    if TRAINING_RULES is not None:
        # The rules the model was trained with (its text_normalizer.json): the same as its training targets and
        # its LM text, character for character.
        return apply_rules(text, TRAINING_RULES)

    # IMPORTANT: these should be the characters that were ignored during training.
    chars_to_ignore_regex = '[,?.!\\-\\;\\:"“%‘”�—’…–]'
    text = re.sub(chars_to_ignore_regex, "", text.lower())

    # Then new lines and runs of spaces become single spaces; the order of this list matters.
    for sequence in ["\n\n", "\n", "   ", "  "]:
        text = " ".join(text.split(sequence))

    return text


# ---------------------------------------------------------------------------------------------------------
# The model's normalization rules, applied without robust-speech (robust_speech/text/normalizer.py is the
# other implementation; tests keep the two equal).

NORMALIZER_FILE = "text_normalizer.json"
TRAINING_RULES = None  # set by main() from the model folder
# Never spoken, only split words for a tokenizer: zero-width and bidirectional controls, soft hyphen, BOM.
INVISIBLE = "\u200b\ufeff\u00ad\u2060\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def load_rules(model_id: str):
    """The model folder's text_normalizer.json (for a Hub id, fetched from the Hub), or None."""
    path = Path(model_id) / NORMALIZER_FILE
    if not path.is_file() and not os.path.isdir(model_id):
        try:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(model_id, NORMALIZER_FILE))
        except Exception:  # no such file in the repo, or offline: the reference's normalize_text applies
            return None
    if not path.is_file():
        return None
    rules = json.loads(path.read_text(encoding="utf-8"))
    rules.setdefault("dashes_split_words", True)  # folders written before the key existed
    return rules


def apply_rules(text: str, rules: dict) -> str:
    table = dict.fromkeys(map(ord, INVISIBLE))
    for char in rules["chars_to_ignore"]:
        breaks_words = unicodedata.category(char) == "Pd" or char == "…"
        table[ord(char)] = " " if rules["dashes_split_words"] and breaks_words else None
    text = unicodedata.normalize("NFC", text)
    if rules["lowercase"]:
        if rules.get("language") in ("tr", "az"):
            text = text.replace("I", "ı").replace("İ", "i")
        text = unicodedata.normalize("NFC", text.lower())
    # Removing a character can leave a base letter next to a combining mark: compose them again.
    return " ".join(unicodedata.normalize("NFC", text.translate(table)).split())


# ---------------------------------------------------------------------------------------------------------
# Damaged files in the model folder: one line naming the file and what to do, never a library's traceback
# (robust_speech/core/folder_check.py is the fuller twin, with the same messages)

MODEL_FILES = ("config.json", "processor_config.json", "preprocessor_config.json", "tokenizer_config.json",
               "special_tokens_map.json", "added_tokens.json", "vocab.json", NORMALIZER_FILE)
LM_FILES = ("alphabet.json", "language_model/attrs.json")
MODEL_FIX = "re-download the model folder, or copy this file again from the training output folder"
WEIGHT_LIMIT = 1e10  # no trained model holds a weight this large; garbage bytes read as floats often do


def lm_fix(model_id: str) -> str:
    return f"rebuild the LM: build_ngram.py --model_dir {model_id} --text YOUR_TEXT"


def damaged_file(model_id: str):
    """The first damaged file of a local model folder, as "path: what is wrong; what to do", or None."""
    folder = Path(model_id)
    if not folder.is_dir():
        return None
    checks = [(folder / name, MODEL_FIX) for name in MODEL_FILES] + [(folder / name, lm_fix(model_id)) for name in LM_FILES]
    checks.append((folder / "decoding.json", "re-run robust-speech tune-lm, or delete it (the default beam width then applies)"))
    for path, fix in [(path, fix) for path, fix in checks if path.is_file()]:
        data = path.read_bytes()
        if not data:
            return f"{path}: is empty (0 bytes); {fix}"
        try:
            if not isinstance(json.loads(data.decode("utf-8")), dict):
                return f"{path}: is damaged (not a JSON object); {fix}"
        except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
            return f"{path}: is damaged or cut short (not valid JSON: {str(error).split(':')[0]}); {fix}"
    for path in sorted(folder.glob("*.safetensors")):
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt"):
                pass
        except Exception as error:  # SafetensorError, or OSError for an empty file
            return f"{path}: is cut short or damaged ({path.stat().st_size} bytes; safetensors: {error}); {MODEL_FIX}"
    return damaged_lm_file(folder, lm_fix(model_id))


def damaged_lm_file(folder: Path, fix: str):
    """KenLM loads a binary damaged in the middle without an error, then scores garbage or crashes: the size and
    SHA-256 that build_ngram.py recorded (checksums.json) are the check; the header catches the rest."""
    lm_dir = folder / "language_model"
    for path in [*sorted(lm_dir.glob("*.bin")), *sorted(folder.glob("flashlight_lm.bin"))]:
        with open(path, "rb") as file:
            head = file.read(64)
        if not head.startswith(b"mmap lm http://kheafield.com/code format version"):
            return f"{path}: is empty or damaged (no KenLM binary header); {fix}"
    unigrams = lm_dir / "unigrams.txt"
    if unigrams.is_file() and not unigrams.read_bytes().endswith(b"\n"):
        return f"{unigrams}: is empty or cut short (its last word has no newline); {fix}"
    checksums = folder / "checksums.json"
    for name, expected in (json.loads(checksums.read_text(encoding="utf-8")) if checksums.is_file() else {}).items():
        path = folder / name
        if not (name.startswith("language_model/") or name == "flashlight_lm.bin") or not path.is_file():
            continue  # the weights' entries: robust-speech's loader checks them, the header and value scans here
        stat = path.stat()
        if stat.st_size != expected.get("size"):
            return (f"{path}: is damaged or cut short ({stat.st_size} bytes, {expected.get('size')} when it was built, "
                    f"checksums.json); {fix}")
        # Hashing a multi-gigabyte LM costs seconds: a file nothing wrote into since it was recorded is taken as is.
        if stat.st_mtime_ns != expected.get("mtime_ns") and sha256(path) != expected.get("sha256"):
            return f"{path}: is damaged (its SHA-256 differs from the one recorded when it was built, checksums.json); {fix}"
    return None


@lru_cache(maxsize=None)
def sha256(path: Path) -> str:
    """The file's SHA-256, read in blocks (an LM binary can be gigabytes), computed once per file."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_weight_values(model, model_id: str) -> None:
    """Garbage in the weights' data passes the header check and decodes to NaN or absurd values."""
    import torch

    for name, weight in model.named_parameters():
        low, high = torch.aminmax(weight.detach()) if weight.is_floating_point() and weight.numel() else (0, 0)
        if not (bool(low >= -WEIGHT_LIMIT) and bool(high <= WEIGHT_LIMIT)):  # NaN fails both
            path = Path(model_id) / "model.safetensors" if Path(model_id).is_dir() else model_id
            raise RobustSpeechError(f"{path}: is damaged: weight {name} holds NaN, infinite or absurd values (beyond "
                                    f"{WEIGHT_LIMIT:g}; or the training diverged); {MODEL_FIX}")


# ---------------------------------------------------------------------------------------------------------
# Around log_results: the care the reference lacks, kept out of the function the challenge fixes


def write_results(result: Dataset, args) -> None:
    """`log_results`, unchanged, with three cares around it:
    - the files appear whole or not at all: it writes into a hidden staging folder whose files are then renamed
      into place, the results file last (a killed run leaves only that folder, which the next run clears);
    - `--config ../../x` cannot write outside the folder: "/" and NUL in the config and split become "_";
    - the prediction and target logs only with --log_outputs (the reference tests `is not None`, which a
      store_true flag always is), and a full disk is one line naming the file."""
    folder = Path(getattr(args, "output_dir", None) or ".")
    view = argparse.Namespace(dataset=args.dataset.replace("\x00", "_"), config=safe_part(args.config),
                              split=safe_part(args.split), log_outputs=True if args.log_outputs else None)
    result_id = "_".join(view.dataset.split("/") + [view.config, view.split])
    staging, here = folder / f".{result_id}.partial", os.getcwd()
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        os.chdir(staging)
        try:
            with quiet_map():
                log_results(result, view)
        finally:
            os.chdir(here)
        for name in sorted(os.listdir(staging), key=lambda name: name.endswith("_eval_results.txt")):
            os.replace(staging / name, folder / name)
    except OSError as error:
        failed = f"log_{result_id}_predictions.txt" if (staging / f"log_{result_id}_predictions.txt").exists() else \
            f"{result_id}_eval_results.txt"
        raise output_error(OSError(error.errno, error.strerror), folder / failed) or error from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def safe_part(name: str) -> str:
    return re.sub(r"[/\\\x00]", "_", name)


@contextmanager
def quiet_map():
    """Without the progress bar that `result.map` draws on standard error for the logs."""
    import datasets

    shown = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if shown:
            datasets.enable_progress_bars()


# ---------------------------------------------------------------------------------------------------------
# Without robust-speech: the transformers pipeline, with the folder's LM


def without_unknown(text: str, asr) -> str:
    """The text as robust-speech's engines write it: pyctcdecode's unknown token "⁇" is no word (a space), and
    the greedy decoder writes nothing for the tokenizer's (the pipeline prints "[UNK]" in the word)."""
    unknown = asr.tokenizer.unk_token if asr.type == "ctc" else None
    return " ".join((text.replace(unknown, "") if unknown else text).replace("⁇", " ").split())


def evaluate_with_pipeline(args) -> None:
    import torch
    from transformers import pipeline

    device = args.device if args.device is not None else (0 if torch.cuda.is_available() else -1)
    try:
        asr = pipeline("automatic-speech-recognition", model=args.model_id, device=device)
    except OSError as error:
        if "Cannot read model" not in str(error):  # KenLM's refusal of a binary (checksums.json absent)
            raise
        binary = next(Path(args.model_id, "language_model").glob("*.bin"), "language_model/")
        reason = str(error.__cause__ or error).strip().splitlines()[-1].rstrip(")")  # KenLM's "Binary file has size ..."
        raise RobustSpeechError(f"{binary}: cannot be read by KenLM ({reason}); {lm_fix(args.model_id)}") from None
    language = adapter_language(args.model_id)
    if language:  # loaded here: the pipeline's model_kwargs would hand target_lang to the tokenizer too (MMS's nested vocab)
        asr.model.load_adapter(language)
    check_weight_values(asr.model, args.model_id)
    if (Path(args.model_id) / "language_model").is_dir() and asr.type != "ctc_with_lm":
        # Without kenlm or pyctcdecode the pipeline decodes greedy with only a logged warning (and transformers
        # announces the end of its pyctcdecode decoding for v6): the WER written would not be the submission's.
        raise RobustSpeechError(
            f"{args.model_id} has an n-gram LM (language_model/), but the transformers pipeline here decodes without "
            "it (kenlm or pyctcdecode missing, or a transformers that no longer decodes with them): install them or "
            "robust-speech, or remove the LM with build_ngram.py --remove_lm")
    decoder_kwargs = {}
    if asr.type == "ctc_with_lm":
        decoding = Path(args.model_id) / "decoding.json"  # the beam width robust-speech tune-lm chose
        decoder_kwargs["beam_width"] = json.loads(decoding.read_text())["beam_width"] if decoding.is_file() else 100
    rate = asr.feature_extractor.sampling_rate
    predictions, targets = [], []
    for audio, sentence in read_split(args):
        options = {"chunk_length_s": args.chunk_length_s, "stride_length_s": args.stride_length_s}
        if decoder_kwargs:
            options["decoder_kwargs"] = decoder_kwargs
        text = asr(decode_audio(audio, rate), **{key: value for key, value in options.items() if value is not None})
        predictions.append(without_unknown(text["text"], asr))
        targets.append(normalize_text(sentence or ""))
        print(f"\reval: {len(predictions)} utterances", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    if not predictions:
        raise RobustSpeechError(f"{args.dataset} {args.config} {args.split}: the split has no examples")
    write_results(Dataset.from_dict({"target": targets, "prediction": predictions}), args)


def adapter_language(model_id: str):
    """The language of the folder's only attention adapter (adapter.<language>.safetensors), which the model then
    loads; None for none or several (model.safetensors applies). robust_speech/model/acoustic.py is the twin."""
    folder = Path(model_id)
    names = sorted(path.name for path in folder.glob("adapter.*.safetensors") if path.is_file()) if folder.is_dir() else []
    return names[0][len("adapter."):-len(".safetensors")] if len(names) == 1 else None


def read_split(args):
    """(audio, sentence) pairs of a downloaded Common Voice release folder (`clips/` + `<split>.tsv`, given as
    the language folder or as the release folder with --config) or of a Hub dataset."""
    folder = Path(args.dataset)
    if (folder / args.config / "clips").is_dir():
        folder = folder / args.config
    if (folder / "clips").is_dir():
        name = {"validation": "dev"}.get(args.split, args.split)
        with open(folder / f"{name}.tsv", encoding="utf-8-sig", newline="") as table:
            # Common Voice's TSVs are unquoted: a `"` is part of the sentence.
            for row in csv.DictReader(table, delimiter="\t", quoting=csv.QUOTE_NONE):
                yield str(folder / "clips" / row["path"]), row["sentence"]
        return
    from datasets import Audio, load_dataset

    dataset = load_dataset(args.dataset, args.config, split=args.split)  # a saved Hub login is used when there is one
    dataset = dataset.cast_column("audio", Audio(decode=False))  # soundfile decodes: no torchcodec needed
    column = "sentence" if "sentence" in dataset.column_names else "text"
    for example in dataset:
        yield example["audio"], example[column]


def decode_audio(audio, rate: int):
    """A file path or a datasets audio dict as mono float32 at `rate`, decoded by soundfile and resampled by soxr
    in blocks, exactly as robust-speech reads audio (so both paths hear the same samples)."""
    import io

    import numpy as np
    import soundfile

    source = audio if isinstance(audio, str) else (io.BytesIO(audio["bytes"]) if audio.get("bytes") else audio["path"])
    with soundfile.SoundFile(source) as sound:
        resampler = None
        if sound.samplerate != rate:
            import soxr

            resampler = soxr.ResampleStream(sound.samplerate, rate, 1, dtype="float32")
        pieces = []
        for block in sound.blocks(blocksize=1 << 18, dtype="float32", always_2d=True):
            mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
            pieces.append(mono if resampler is None else resampler.resample_chunk(mono))
        if resampler is not None:
            pieces.append(resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    samples = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    return samples / peak if peak > 1.0 else samples


# ---------------------------------------------------------------------------------------------------------


def show_engine_messages() -> None:
    """robust-speech's notes, progress and report line on standard error, as this script has always shown them
    (standard output carries what log_results prints)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    engine_logger = logging.getLogger("robust_speech")
    engine_logger.addHandler(handler)
    engine_logger.setLevel(logging.INFO)
    engine_logger.propagate = False


def main(args):
    global TRAINING_RULES
    if run_evaluation is not None and not args.pipeline:
        verify_model_folder(args.model_id, language_model=False)  # its engine checks the LM when it loads it
    elif damaged_file(args.model_id):  # the checks the pipeline's libraries lack (hashes are computed once)
        raise RobustSpeechError(damaged_file(args.model_id))
    TRAINING_RULES = load_rules(args.model_id)
    if run_evaluation is not None and not args.pipeline:
        show_engine_messages()
        run_evaluation(eval_options(args), normalize_text=normalize_text, log_results=write_results)
    else:
        evaluate_with_pipeline(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_id", type=str, required=True,
                        help="Model identifier. Should be loadable with 🤗 Transformers")
    parser.add_argument("--dataset", type=str, required=True,
                        help="Dataset name to evaluate the `model_id`. Should be loadable with 🤗 Datasets "
                        "(or a local folder: Common Voice layout, audio folder with metadata, CSV/TSV, parquet)")
    parser.add_argument("--config", type=str, required=True, help="Config of the dataset. *E.g.* `'en'` for Common Voice")
    parser.add_argument("--split", type=str, required=True, help="Split of the dataset. *E.g.* `'test'`")
    parser.add_argument("--chunk_length_s", type=float, default=None, help="Chunk length in seconds (default: no chunking)")
    parser.add_argument("--stride_length_s", type=float, default=None,
                        help="Stride of the audio chunks on each side (default: chunk_length_s / 6)")
    parser.add_argument("--log_outputs", action="store_true", help="If defined, write outputs to log file for analysis.")
    parser.add_argument("--device", type=parse_device, default=None,
                        help="The device to run on. -1 for CPU, 0 for the first GPU and so on (default: GPU if any).")
    parser.add_argument("--pipeline", action="store_true",
                        help="evaluate with the transformers pipeline even when robust-speech is installed (the path "
                        "taken without it)")
    if run_evaluation is not None:
        add_engine_arguments(parser)
    return parser


if __name__ == "__main__":
    arguments = build_parser().parse_args()
    try:
        main(arguments)
    except RobustSpeechError as error:
        print(f"eval.py: error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
