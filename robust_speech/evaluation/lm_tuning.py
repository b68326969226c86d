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

from robust_speech.core.errors import ConfigurationError
from robust_speech.core.model_folder import DECODING_FILE, LM_DIRECTORY
from robust_speech.evaluation.groups import load_split, split_log_probs
from robust_speech.evaluation.options import DEFAULT_ALPHAS, DEFAULT_BEAM_WIDTHS, DEFAULT_BETAS, EvalSplit
from robust_speech.inference.decoding import load_decoder
from robust_speech.inference.loading import load_for_inference, resolve_model_dir
from robust_speech.inference.options import LoadOptions, TranscriberOptions
from robust_speech.lm.ngram import language_model_binary, write_lm_attrs
from robust_speech.reports.metrics import char_error_rate, word_error_rate
from robust_speech.text.normalizer import model_normalizer

TUNABLE_ENGINES = ("pyctcdecode", "flashlight")


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
    utterances: int = 0  # decoded per setting: every example of every dev set given
    words: int = 0  # in their references: the WER is pooled over these

    def table(self, rows: int = 10) -> str:
        lines = [f"{'alpha':>6} {'beta':>6} {'beam':>5} {'WER':>8} {'CER':>8} {'ms/utt':>8}"]
        ranked = sorted(self.trials, key=lambda t: (t.wer, t.cer, t.beam_width))
        for trial in ranked[:rows]:
            mark = "  <- best" if trial == self.best else ""
            lines.append(f"{trial.alpha:6.2f} {trial.beta:6.2f} {trial.beam_width:5d} {trial.wer:8.4f} {trial.cer:8.4f} "
                         f"{trial.ms_per_utterance:8.1f}{mark}")
        lines.append(f"greedy WER {self.greedy_wer:.4f}; {len(self.trials)} settings decoded, each on {self.utterances} "
                     f"utterances ({self.words} words)"
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
    return TuningResult(trials, best, greedy_wer, len(grid), stopped, len(log_probs),
                        sum(len(reference.split()) for reference in references))


def save_tuning(model_dir: str | os.PathLike, result: TuningResult, engine: str, dataset: str) -> None:
    write_lm_attrs(model_dir, alpha=result.best.alpha, beta=result.best.beta)
    settings = {"beam_width": result.best.beam_width, "engine": engine, "tuned_on": dataset,
                "dev_wer": result.best.wer, "dev_greedy_wer": result.greedy_wer}
    (Path(model_dir) / DECODING_FILE).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")




@dataclass(frozen=True)
class TuneOptions:
    model_dir: str
    split: EvalSplit
    engine: str = "pyctcdecode"
    alphas: Sequence[float] = DEFAULT_ALPHAS
    betas: Sequence[float] = DEFAULT_BETAS
    beam_widths: Sequence[int] = DEFAULT_BEAM_WIDTHS
    time_budget_s: float | None = None
    max_samples: int | None = None
    chunk_length_s: float | None = None
    stride_length_s: float | None = None
    device: str | int | None = None
    token: str | None = None
    seed: int = 0
    dry_run: bool = False


def tune_on_dataset(options: TuneOptions) -> TuningResult:
    """The `tune-lm` verb: dev-set log-probs from the model folder's acoustic model, then `tune_weights`."""
    if options.engine not in TUNABLE_ENGINES:
        raise ConfigurationError(f"--engine {options.engine}: choose one of {', '.join(TUNABLE_ENGINES)}")
    model_dir = resolve_model_dir(options.model_dir, options.token)
    if language_model_binary(model_dir) is None:
        raise ConfigurationError(f"{model_dir} has no {LM_DIRECTORY}/: build it first with build_ngram.py --model_dir")
    loaded = load_for_inference(model_dir, LoadOptions(device=options.device, token=options.token), None,
                                TranscriberOptions(options.chunk_length_s, options.stride_length_s))
    dataset = load_split(options.split, token=options.token)
    log_probs, texts = split_log_probs(loaded.transcriber, dataset, options.max_samples)
    normalizer = model_normalizer(model_dir)
    references = [normalizer(text) for text in texts]
    greedy = load_decoder(model_dir, "greedy")
    greedy_wer = word_error_rate(references, [t.text for t in greedy.decode_batch(log_probs)])
    decoder = load_decoder(model_dir, options.engine)
    result = tune_weights(decoder, log_probs, references, alphas=options.alphas, betas=options.betas,
                          beam_widths=options.beam_widths, time_budget_s=options.time_budget_s, greedy_wer=greedy_wer,
                          seed=options.seed)
    if not options.dry_run:
        save_tuning(model_dir, result, options.engine, options.split.title)
    return result
