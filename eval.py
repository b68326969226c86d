#!/usr/bin/env python3
"""Evaluate a CTC model on a dataset split with the Robust Speech Challenge's fixed interface.

    ./eval.py --model_id ./model --dataset mozilla-foundation/common_voice_8_0 --config sv-SE --split test \
        --chunk_length_s 5.0 --stride_length_s 1.0 --log_outputs

Writes `{dataset_id}_eval_results.txt` ("WER: ...\\nCER: ...") and, with --log_outputs, the per-example
prediction/target logs, exactly as the challenge's eval.py; `normalize_text` and `log_results` stay in this
file so they can be edited as the challenge asks. The engine (robust_speech/evaluation/engine.py) batches inference,
chunks long audio like the transformers pipeline, and uses the model folder's language_model/ when present.
"""

import argparse
import re
import sys
from typing import Dict

from datasets import Dataset

from robust_speech.cli.arguments import add_engine_arguments, eval_options, parse_device
from robust_speech.core.errors import RobustSpeechError
from robust_speech.core.files import atomic_write
from robust_speech.evaluation.engine import dataset_id, run_evaluation
from robust_speech.reports.metrics import char_error_rate, word_error_rate


def log_results(result: Dataset, args: Dict[str, str]):
    """DO NOT CHANGE. This function computes and logs the result metrics."""

    log_outputs = args.log_outputs
    result_id = dataset_id(args)  # "_".join(args.dataset.split("/") + [args.config, args.split])

    # The reference used datasets.load_metric("wer"/"cer"), which no longer exists; it wrapped jiwer.
    wer_result = word_error_rate(result["target"], result["prediction"])
    cer_result = char_error_rate(result["target"], result["prediction"])

    result_str = f"WER: {wer_result}\nCER: {cer_result}"
    print(result_str)

    # Written whole or not at all (temporary file + rename): an interrupted run leaves no half-written result.
    with atomic_write(f"{result_id}_eval_results.txt") as f:
        f.write(result_str)

    # The reference tested `log_outputs is not None`, which a store_true flag always is, so it wrote these
    # logs on every run; here they are written only when --log_outputs is given.
    if log_outputs:
        pred_file = f"log_{result_id}_predictions.txt"
        target_file = f"log_{result_id}_targets.txt"

        with atomic_write(pred_file) as p, atomic_write(target_file) as t:
            for i, (prediction, target) in enumerate(zip(result["prediction"], result["target"])):
                p.write(f"{i}\n{prediction}\n")
                t.write(f"{i}\n{target}\n")


def normalize_text(text: str) -> str:
    """DO ADAPT FOR YOUR USE CASE. this function normalizes the target text."""

    # IMPORTANT: these should be the characters that were ignored during training.
    chars_to_ignore_regex = '[,?.!\\-\\;\\:"“%‘”�—’…–]'
    text = re.sub(chars_to_ignore_regex, "", text.lower())

    # Then new lines and runs of spaces become single spaces; the order of this list matters.
    for sequence in ["\n\n", "\n", "   ", "  "]:
        text = " ".join(text.split(sequence))

    return text


def main(args):
    run_evaluation(eval_options(args), normalize_text=normalize_text, log_results=log_results)


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
    add_engine_arguments(parser)
    return parser


if __name__ == "__main__":
    arguments = build_parser().parse_args()
    try:
        main(arguments)
    except RobustSpeechError as error:
        print(f"eval.py: error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
