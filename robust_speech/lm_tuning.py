"""`robust-speech tune-lm`: pick the LM weight (alpha), word bonus (beta) and beam width on a dev set.

The acoustic model runs once; every setting is then a decoding pass over the same log-probs. Alpha/beta are
searched on a grid (in a seeded random order, so a time budget that stops early still samples the whole
grid evenly) at one beam width; the best pair is then tried at each candidate beam width, and the widest beam
is taken only when it lowers WER. The result goes into `language_model/attrs.json` (the four keys pyctcdecode
accepts) and the beam width into `decoding.json` next to it, which eval.py reads.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from robust_speech.errors import ConfigurationError
from robust_speech.lm import write_lm_attrs
from robust_speech.metrics import char_error_rate, word_error_rate

DECODING_FILE = "decoding.json"
DEFAULT_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
DEFAULT_BETAS = (0.0, 0.5, 1.0, 2.0, 3.0)
DEFAULT_BEAM_WIDTHS = (25, 50, 100)


@dataclass(frozen=True)
class Trial:
    alpha: float
    beta: float
    beam_width: int
    wer: float
    cer: float
    ms_per_utterance: float


@dataclass
class TuningResult:
    trials: list[Trial]
    best: Trial
    greedy_wer: float
    grid_size: int
    stopped_by_budget: bool

    def table(self, rows: int = 10) -> str:
        lines = [f"{'alpha':>6} {'beta':>6} {'beam':>5} {'WER':>8} {'CER':>8} {'ms/utt':>8}"]
        ranked = sorted(self.trials, key=lambda t: (t.wer, t.cer, t.beam_width))
        for trial in ranked[:rows]:
            mark = "  <- best" if trial == self.best else ""
            lines.append(f"{trial.alpha:6.2f} {trial.beta:6.2f} {trial.beam_width:5d} {trial.wer:8.4f} {trial.cer:8.4f} "
                         f"{trial.ms_per_utterance:8.1f}{mark}")
        lines.append(f"greedy WER {self.greedy_wer:.4f}; {len(self.trials)} settings decoded"
                     + (f" ({self.grid_size} in the grid, stopped by the time budget)" if self.stopped_by_budget else ""))
        return "\n".join(lines)


def _decode(decoder, log_probs: Sequence[np.ndarray], references: Sequence[str], alpha: float, beta: float,
            beam_width: int) -> Trial:
    decoder.set_weights(alpha, beta)
    decoder.beam_width = beam_width
    started = time.perf_counter()
    texts = [t.text for t in decoder.decode_batch(log_probs)]
    elapsed = time.perf_counter() - started
    return Trial(alpha, beta, beam_width, word_error_rate(references, texts), char_error_rate(references, texts),
                 1000 * elapsed / max(len(log_probs), 1))


def tune_weights(decoder, log_probs: Sequence[np.ndarray], references: Sequence[str], *,
                 alphas: Sequence[float] = DEFAULT_ALPHAS, betas: Sequence[float] = DEFAULT_BETAS,
                 beam_widths: Sequence[int] = DEFAULT_BEAM_WIDTHS, search_beam_width: int | None = None,
                 time_budget_s: float | None = None, greedy_wer: float = float("nan"), seed: int = 0) -> TuningResult:
    """Grid/random search of (alpha, beta), then beam width, on precomputed log-probs."""
    if not log_probs:
        raise ConfigurationError("no dev utterances to tune on")
    search_beam = search_beam_width or min(beam_widths)
    grid = list(itertools.product(alphas, betas))
    order = np.random.default_rng(seed).permutation(len(grid))
    deadline = None if time_budget_s is None else time.perf_counter() + time_budget_s
    trials: list[Trial] = []
    for position in order:
        if trials and deadline is not None and time.perf_counter() > deadline:
            break
        alpha, beta = grid[position]
        trials.append(_decode(decoder, log_probs, references, alpha, beta, search_beam))
    stopped = len(trials) < len(grid)
    best = min(trials, key=lambda t: (t.wer, t.cer))
    for width in sorted(set(beam_widths) - {search_beam}):
        if deadline is not None and time.perf_counter() > deadline:
            stopped = True
            break
        trial = _decode(decoder, log_probs, references, best.alpha, best.beta, width)
        trials.append(trial)
        if (trial.wer, trial.cer) < (best.wer, best.cer):
            best = trial
    decoder.set_weights(best.alpha, best.beta)
    decoder.beam_width = best.beam_width
    return TuningResult(trials, best, greedy_wer, len(grid), stopped)


def save_tuning(model_dir: str | os.PathLike, result: TuningResult, engine: str, dataset: str) -> None:
    write_lm_attrs(model_dir, alpha=result.best.alpha, beta=result.best.beta)
    settings = {"beam_width": result.best.beam_width, "engine": engine, "tuned_on": dataset,
                "dev_wer": result.best.wer, "dev_greedy_wer": result.greedy_wer}
    (Path(model_dir) / DECODING_FILE).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")


def tuned_beam_width(model_dir: str | os.PathLike) -> int | None:
    path = Path(model_dir) / DECODING_FILE
    if not path.is_file():
        return None
    return int(json.loads(path.read_text(encoding="utf-8"))["beam_width"])


def tune_on_dataset(args) -> TuningResult:
    """The `tune-lm` verb: dev-set log-probs from the model folder's acoustic model, then `tune_weights`."""
    from robust_speech.data import load_speech_split, parse_sources
    from robust_speech.decoding import GreedyDecoder, load_decoder
    from robust_speech.evaluation import split_log_probs
    from robust_speech.lm import language_model_binary, load_normalizer, model_vocabulary
    from robust_speech.text import TextNormalizer
    from robust_speech.transcribe import Transcriber, load_acoustic_model

    model_dir = Path(args.model_dir)
    if language_model_binary(model_dir) is None:
        raise ConfigurationError(f"{model_dir} has no language_model/: build it first with build_ngram.py --model_dir")
    normalizer = load_normalizer(model_dir) or TextNormalizer()
    acoustic = load_acoustic_model(model_dir, args.device)
    transcriber = Transcriber(acoustic, None, chunk_length_s=args.chunk_length_s, stride_length_s=args.stride_length_s)
    dataset = load_speech_split(parse_sources(args.dataset, args.config, args.text_column_name), args.split,
                                token=args.token)
    log_probs, texts = split_log_probs(transcriber, dataset, args.max_samples)
    references = [normalizer(text) for text in texts]
    greedy = GreedyDecoder(model_vocabulary(model_dir))
    greedy_wer = word_error_rate(references, [t.text for t in greedy.decode_batch(log_probs)])
    decoder = load_decoder(model_dir, args.engine)
    result = tune_weights(decoder, log_probs, references, alphas=args.alphas, betas=args.betas,
                          beam_widths=args.beam_widths, time_budget_s=args.time_budget_s, greedy_wer=greedy_wer,
                          seed=args.seed)
    if not args.dry_run:
        save_tuning(model_dir, result, args.engine, f"{args.dataset} {args.config or ''} {args.split}".replace("  ", " "))
    return result
