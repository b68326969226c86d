"""CTC decoding behind one interface: greedy, pyctcdecode beam search (+KenLM), flashlight-text (+KenLM).

    decoder = load_decoder(model_dir, engine="pyctcdecode")
    transcripts = decoder.decode_batch([log_probs, ...])   # each: (frames, vocab) float32 log-softmax

All engines read the same vocab.json and `language_model/` (see lm/ngram.py) and apply alpha/beta with the same
meaning: score = acoustic log-prob + alpha * ln(P_lm(word)) + beta per word. pyctcdecode takes log10 LM
scores times ln(10); flashlight's KenLM wrapper returns log10 scores, so its lm_weight is alpha * ln(10).
Special tokens (`[PAD]`, `[UNK]`, `<s>`, `</s>`) never reach the text.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import weakref
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from robust_speech.core.errors import ConfigurationError, MissingDependencyError
from robust_speech.core.model_folder import ALPHABET_FILE, FLASHLIGHT_BINARY, LM_DIRECTORY, UNIGRAMS_FILE
from robust_speech.inference.confidence import (
    no_speech_confidence,
    utterance_confidence,
    word_confidence,
)
from robust_speech.inference.options import DEFAULT_BEAM_WIDTH, DEFAULT_HOTWORD_WEIGHT, ENGINES
from robust_speech.lm.ngram import DEFAULT_ATTRS, ctc_alphabet, language_model_binary, model_vocabulary, read_lm_attrs
from robust_speech.text.vocabulary import PAD_TOKEN, UNK_TOKEN, WORD_DELIMITER

LN10 = math.log(10.0)
_PYCTCDECODE_UNK = "⁇"


@dataclass(frozen=True)
class WordSpan:
    word: str
    start_frame: int
    end_frame: int  # exclusive
    confidence: float | None = None  # in [0, 1] when the decoder was asked for it (inference/confidence.py)


@dataclass(frozen=True)
class Alternative:
    """One of the n best transcripts: its text, the engine's own score for it (a log score, comparable only
    within one utterance and engine) and, when asked for, its confidence."""

    text: str
    score: float
    confidence: float | None = None


@dataclass(frozen=True)
class Transcript:
    text: str
    words: tuple[WordSpan, ...] = field(default=())
    confidence: float | None = None  # the utterance's, in [0, 1], when the decoder was asked for it
    alternatives: tuple[Alternative, ...] = field(default=())  # the n best, the transcript itself first (nbest > 1)


def _clean(text: str) -> str:
    return " ".join(word for word in text.replace(_PYCTCDECODE_UNK, " ").split())


def spans_from_frame_tokens(frame_tokens: Sequence[int], labels: Sequence[str], blank: int) -> tuple[WordSpan, ...]:
    """Words and their frames from a frame-level CTC path (repeats collapsed, blanks and specials dropped)."""
    words, current, start, previous, last_frame = [], [], None, None, 0
    for frame, token in enumerate(frame_tokens):
        if token == previous:
            if current and token != blank:
                last_frame = frame
            continue
        previous = token
        if token == blank:
            continue
        label = labels[token] if 0 <= token < len(labels) else ""
        if label == " ":
            if current:
                words.append(WordSpan("".join(current), start, last_frame + 1))
            current, start = [], None
        elif label:
            if start is None:
                start = frame
            current.append(label)
            last_frame = frame
    if current:
        words.append(WordSpan("".join(current), start, last_frame + 1))
    return tuple(words)


BLANK_NAMES = (PAD_TOKEN, "<pad>")
UNK_NAMES = (UNK_TOKEN, "<unk>")  # pyctcdecode writes these as "⁇" (removed from our text); greedy writes nothing


@dataclass(frozen=True)
class TokenLayout:
    """What each id of a CTC vocabulary writes: a character, " " (the word delimiter) or "" (a special)."""

    labels: tuple[str, ...]
    blank: int
    delimiter: int | None
    specials: tuple[int, ...]  # ids that write nothing and are neither the blank nor unk: <s>, </s>, ...

    @classmethod
    def from_vocabulary(cls, vocabulary: dict[str, int]) -> "TokenLayout":
        labels = [""] * (max(vocabulary.values()) + 1)
        blank = next((vocabulary[name] for name in BLANK_NAMES if name in vocabulary), 0)
        for token, index in vocabulary.items():
            if token == WORD_DELIMITER:
                labels[index] = " "
            elif len(token) == 1 and index != blank:
                labels[index] = token
        unknown = {vocabulary[name] for name in UNK_NAMES if name in vocabulary}
        specials = tuple(index for index, label in enumerate(labels) if not label and index != blank and index not in unknown)
        return cls(tuple(labels), blank, vocabulary.get(WORD_DELIMITER), specials)

    def fold_specials(self, log_probs: np.ndarray) -> np.ndarray:
        """Give the specials' probability to the blank, so `<s>` or `</s>` can never be written by any engine
        (pyctcdecode would write them literally). Unknown tokens are left in place: changing their mass would
        make our pyctcdecode engine disagree with `Wav2Vec2ProcessorWithLM` on the same logits."""
        log_probs = np.array(log_probs, dtype=np.float32)  # a copy: callers' arrays stay as they were
        if self.specials:
            columns = [self.blank, *self.specials]
            log_probs[:, self.blank] = np.logaddexp.reduce(log_probs[:, columns], axis=-1)
            log_probs[:, list(self.specials)] = SPECIAL_LOG_PROB
        return log_probs

    def with_confidence(self, transcript: Transcript, log_probs: np.ndarray) -> Transcript:
        """`transcript` with each word's and the utterance's confidence, from the frame posteriors over each
        word's span (inference/confidence.py: the same definition for every engine)."""
        token_of = {label: index for index, label in enumerate(self.labels) if label and label != " "}
        words = []
        for index, word in enumerate(transcript.words):
            tokens = [token_of.get(char, -1) for char in word.word]
            # The word is aligned in the window up to its neighbours, not only in its span: pyctcdecode's word
            # frames are those of whichever path of a merged beam came first, not always the best path's.
            start = min(word.start_frame, transcript.words[index - 1].end_frame if index else 0)
            end = max(word.end_frame, transcript.words[index + 1].start_frame if index + 1 < len(transcript.words)
                      else len(log_probs))
            window = self.fold_specials(log_probs[start:end])
            pause = window[:, self.blank] if self.delimiter is None else np.logaddexp(window[:, self.blank],
                                                                                       window[:, self.delimiter])
            confidence = word_confidence(window, tokens, self.blank, pause) if min(tokens, default=-1) >= 0 else 0.0
            words.append(replace(word, confidence=confidence))
        silent = [self.blank, *self.specials, *([self.delimiter] if self.delimiter is not None else [])]
        no_speech = None if words else no_speech_confidence(log_probs, silent)
        return replace(transcript, words=tuple(words),
                       confidence=utterance_confidence([word.confidence for word in words], no_speech))


# Low enough never to win a beam, finite so beam-search arithmetic stays free of NaN.
SPECIAL_LOG_PROB = -1e4


def check_alphabet_matches(model_dir: Path) -> None:
    """alphabet.json (written with the LM) must list the labels of vocab.json, or every id decodes wrong."""
    path = model_dir / ALPHABET_FILE
    expected = list(ctc_alphabet(model_vocabulary(model_dir)).labels)
    try:
        found = json.loads(path.read_text(encoding="utf-8"))["labels"]
    except (OSError, ValueError, KeyError):
        raise ConfigurationError(f"{path}: missing or unreadable; re-run build_ngram.py --model_dir {model_dir}") from None
    if found != expected:
        raise ConfigurationError(
            f"{path} has {len(found)} labels that do not match vocab.json's {len(expected)} tokens (the LM was built "
            f"for another vocabulary): re-run build_ngram.py --model_dir {model_dir}"
        )


@runtime_checkable
class Decoder(Protocol):
    """What every engine offers: log-probs in, transcripts out; LM weights and beam width where it has them."""

    engine: str
    beam_width: int | None  # None for greedy decoding

    def decode(self, log_probs: np.ndarray) -> Transcript: ...

    def decode_batch(self, batch: Sequence[np.ndarray]) -> list[Transcript]: ...

    def set_weights(self, alpha: float, beta: float) -> None: ...


_GREEDY_BLOCK_FRAMES = 1 << 16  # 22 minutes of 20 ms frames


class OutputChoices:
    """What a decoder adds to each transcript beyond its words and their frames, set by `load_decoder`:
    confidences (computed only when asked) and the n best alternatives (beam search only)."""

    confidence: bool = False
    nbest: int = 1


class GreedyDecoder(OutputChoices):
    engine = "greedy"
    beam_width = None

    def __init__(self, vocabulary: dict[str, int]):
        self.layout = TokenLayout.from_vocabulary(vocabulary)

    def set_weights(self, alpha: float, beta: float) -> None:
        raise ConfigurationError("greedy decoding uses no language model: there are no LM weights to set")

    def decode(self, log_probs: np.ndarray) -> Transcript:
        # Folded a block of frames at a time: the fold copies, and a three-hour recording's log-probs are 65 MB.
        best = [token for start in range(0, len(log_probs), _GREEDY_BLOCK_FRAMES)
                for token in self.layout.fold_specials(log_probs[start : start + _GREEDY_BLOCK_FRAMES]).argmax(axis=-1).tolist()]
        words = spans_from_frame_tokens(best, self.layout.labels, self.layout.blank)
        transcript = Transcript(" ".join(word.word for word in words), words)
        return self.layout.with_confidence(transcript, log_probs) if self.confidence else transcript

    def decode_batch(self, batch: Sequence[np.ndarray]) -> list[Transcript]:
        return [self.decode(log_probs) for log_probs in batch]


class PyctcdecodeDecoder(OutputChoices):
    """pyctcdecode's beam search, loaded exactly as `Wav2Vec2ProcessorWithLM.from_pretrained` does."""

    engine = "pyctcdecode"

    def __init__(self, model_dir: str | os.PathLike, *, beam_width: int = DEFAULT_BEAM_WIDTH, use_lm: bool = True,
                 alpha: float | None = None, beta: float | None = None, processes: int | None = None,
                 hotwords: Sequence[str] = (), hotword_weight: float = DEFAULT_HOTWORD_WEIGHT):
        from pyctcdecode import BeamSearchDecoderCTC, build_ctcdecoder

        self._pool = None
        # pyctcdecode's own boosting: a bonus for every (partial) match of a hotword or phrase in a beam.
        self._boost = {"hotwords": list(hotwords), "hotword_weight": hotword_weight} if hotwords else {}
        model_dir = Path(model_dir)
        self.layout = TokenLayout.from_vocabulary(model_vocabulary(model_dir))
        self.beam_width = beam_width
        self.processes = processes or os.cpu_count() or 1
        if use_lm and language_model_binary(model_dir) is not None:
            check_alphabet_matches(model_dir)
            self.decoder = BeamSearchDecoderCTC.load_from_dir(os.fspath(model_dir))
            if alpha is not None or beta is not None:
                self.decoder.reset_params(alpha=alpha, beta=beta)
        else:
            self.decoder = build_ctcdecoder(list(ctc_alphabet(model_vocabulary(model_dir)).labels))

    def set_weights(self, alpha: float, beta: float) -> None:
        self.decoder.reset_params(alpha=alpha, beta=beta)
        # The pool's workers hold the LM as it was when they were forked: new weights need new workers.
        self.close()

    def decode(self, log_probs: np.ndarray) -> Transcript:
        folded = self.layout.fold_specials(log_probs)
        return self._transcript(self.decoder.decode_beams(folded, beam_width=self.beam_width, **self._boost), folded)

    def decode_batch(self, batch: Sequence[np.ndarray]) -> list[Transcript]:
        if len(batch) < 2 or self.processes < 2:
            return [self.decode(log_probs) for log_probs in batch]
        # One pool per decoder, forked after the decoder exists: pyctcdecode shares its LM with the workers
        # through fork instead of pickling it for every call.
        if self._pool is None:
            self._pool = multiprocessing.get_context("fork").Pool(self.processes)
            # Terminated when the decoder goes away or, at the latest, at interpreter exit (before the
            # multiprocessing module is torn down, which otherwise prints errors from Pool.__del__).
            self._finalizer = weakref.finalize(self, self._pool.terminate)
        folded = [self.layout.fold_specials(x) for x in batch]
        beams = self.decoder.decode_beams_batch(self._pool, folded, beam_width=self.beam_width, **self._boost)
        return [self._transcript(result, log_probs) for result, log_probs in zip(beams, folded)]

    def _transcript(self, beams, log_probs: np.ndarray) -> Transcript:
        # Each beam: (text, lm_state, word_frames, logit_score, combined score); the batch variant leaves out
        # the lm_state. Sorted best first.
        found = []
        for beam in beams[: self.nbest if self.nbest > 1 else 1]:
            text, word_frames = beam[0], beam[-3]
            words = tuple(WordSpan(word, start, end) for word, (start, end) in word_frames if word != _PYCTCDECODE_UNK)
            found.append((Transcript(_clean(text), words), float(beam[-1])))
        return _best_with_alternatives(found, self.layout, log_probs, self.confidence, self.nbest)

    def close(self) -> None:
        self._pool = None
        finalizer = getattr(self, "_finalizer", None)
        if finalizer is not None:
            finalizer()


def _best_with_alternatives(found: list[tuple[Transcript, float]], layout: TokenLayout, log_probs: np.ndarray,
                            confidence: bool, nbest: int) -> Transcript:
    """The best of an engine's (transcript, score) list, best first, with confidences when asked and, for
    `nbest` > 1, the alternatives: distinct texts (two paths writing one text count once, at the better score)."""
    if confidence:
        found = [(layout.with_confidence(transcript, log_probs), score) for transcript, score in found]
    best = found[0][0]
    if nbest <= 1:
        return best
    alternatives: dict[str, Alternative] = {}
    for transcript, score in found:
        if transcript.text not in alternatives:
            alternatives[transcript.text] = Alternative(transcript.text, round(score, 4), transcript.confidence)
    return replace(best, alternatives=tuple(alternatives.values())[:nbest])


class FlashlightDecoder(OutputChoices):
    """flashlight-text's lexicon beam search with the same KenLM model and the LM's unigrams as lexicon.

    A lexicon decoder can only write lexicon words, while pyctcdecode also writes out-of-vocabulary words
    (scored as `<unk>` plus `unk_score_offset`). To match it, each utterance's greedy spellings that are not in
    the lexicon join it as `<unk>` words before decoding (`open_vocabulary`), scored by `flashlight_lm.bin`,
    whose `<unk>` carries the same offset (lm/ngram.py). What the acoustics spell can thus survive when the LM does
    not know it, and loses to a known word when the LM prefers one, as in pyctcdecode.

    Hotwords: each word of each hotword or phrase joins the lexicon, and its LM score gets a bonus worth
    `hotword_weight` in the beam's log score (the LM score is scaled by alpha * ln 10, so the bonus is
    `hotword_weight / (alpha * ln 10)` in LM units) through a KenLM wrapper. Unlike pyctcdecode, the words of a
    phrase are boosted one by one, wherever they occur.
    """

    engine = "flashlight"

    def __init__(self, model_dir: str | os.PathLike, *, beam_width: int = DEFAULT_BEAM_WIDTH, alpha: float | None = None,
                 beta: float | None = None, beam_threshold: float = 25.0, open_vocabulary: bool = True,
                 hotwords: Sequence[str] = (), hotword_weight: float = DEFAULT_HOTWORD_WEIGHT):
        try:
            from flashlight.lib.text.decoder import (
                CriterionType,
                LexiconDecoder,
                LexiconDecoderOptions,
                SmearingMode,
                Trie,
            )
            from flashlight.lib.text.decoder.kenlm import KenLM
            from flashlight.lib.text.dictionary import create_word_dict
        except ImportError:
            raise MissingDependencyError("the flashlight engine needs flashlight-text: pip install flashlight-text") from None
        model_dir = Path(model_dir)
        binary = language_model_binary(model_dir)
        if binary is None:
            raise ConfigurationError(f"{model_dir} has no {LM_DIRECTORY}/: build one with build_ngram.py")
        check_alphabet_matches(model_dir)
        unk_offset = 0.0
        if (model_dir / FLASHLIGHT_BINARY).is_file():
            binary = model_dir / FLASHLIGHT_BINARY
            unk_offset = DEFAULT_ATTRS["unk_score_offset"]
        self.layout = layout = TokenLayout.from_vocabulary(model_vocabulary(model_dir))
        if layout.delimiter is None:
            raise ConfigurationError(f"{model_dir}: the vocabulary has no word delimiter {WORD_DELIMITER!r}")
        silence = layout.delimiter
        attrs = read_lm_attrs(model_dir)
        self.alpha = attrs["alpha"] if alpha is None else alpha
        self.beta = attrs["beta"] if beta is None else beta
        token_of = {label: index for index, label in enumerate(layout.labels) if label and label != " "}
        unigrams = (model_dir / LM_DIRECTORY / UNIGRAMS_FILE).read_text(encoding="utf-8").split()
        boosted = {word for phrase in hotwords for word in phrase.split()}
        unspellable = sorted(word for word in boosted if not all(char in token_of for char in word))
        if unspellable:
            raise ConfigurationError(f"--hotwords {', '.join(unspellable)}: the model cannot spell them (characters "
                                     "outside its vocabulary); normalize them as the training text was")
        words = [word for word in unigrams if all(char in token_of for char in word)]
        lexicon = {word: [[*word, WORD_DELIMITER]] for word in [*words, *sorted(boosted - set(words))]}
        lexicon["<unk>"] = [["<unk>"]]  # create_word_dict needs the entry; the trie never spells it
        self.word_dict = create_word_dict(lexicon)
        self.lm = KenLM(os.fspath(binary), self.word_dict)
        self._hotword_weight = hotword_weight
        self._boosted = {self.word_dict.get_index(word) for word in boosted}
        if self._boosted:
            self.lm = _BoostedLM(self.lm, self._bonuses())
        self.trie = Trie(len(layout.labels), silence)
        start = self.lm.start(False)
        for word in lexicon:
            if word == "<unk>":
                continue
            index = self.word_dict.get_index(word)
            _state, score = self.lm.score(start, index)
            self.trie.insert([token_of[char] for char in word] + [silence], index, score)
        self.trie.smear(SmearingMode.MAX)
        self._smear = lambda: self.trie.smear(SmearingMode.MAX)
        self._token_of, self._silence = token_of, silence
        self._known = set(lexicon)
        self._unk_label = self.word_dict.get_index("<unk>")
        # Lookahead (smearing) for admitted spellings uses the plain <unk> probability; the offset is charged
        # when the word ends. Charging it along the spelling prunes the spelling before its end, which costs
        # WER on benchmarks/decoding.py's emissions (benchmarks/results/code_history.md).
        self._unk_lookahead = self.lm.score(start, self._unk_label)[1] - unk_offset
        self.open_vocabulary = open_vocabulary
        self._beam_width = beam_width

        def make_decoder():
            options = LexiconDecoderOptions(
                beam_size=self._beam_width, beam_size_token=len(layout.labels), beam_threshold=beam_threshold,
                lm_weight=self.alpha * LN10, word_score=self.beta, unk_score=-math.inf, sil_score=0.0,
                log_add=False, criterion_type=CriterionType.CTC,
            )
            return LexiconDecoder(options, self.trie, self.lm, silence, layout.blank,
                                  self.word_dict.get_index("<unk>"), [], False)

        self._make = make_decoder
        self.decoder = self._make()

    @property
    def beam_width(self) -> int:
        return self._beam_width

    @beam_width.setter
    def beam_width(self, value: int) -> None:
        if value != self._beam_width:
            self._beam_width = value
            self.decoder = self._make()

    def set_weights(self, alpha: float, beta: float) -> None:
        self.alpha, self.beta = alpha, beta
        if self._boosted:
            self.lm.bonuses = self._bonuses()
        self.decoder = self._make()

    def _bonuses(self) -> dict[int, float]:
        """Each boosted word's bonus in LM units (log10), worth `hotword_weight` in the beam's log score."""
        if self.alpha <= 0:
            raise ConfigurationError("--hotwords with the flashlight engine need an LM weight (alpha) above 0: the "
                                     "boost goes through the LM score; use --decoder pyctcdecode otherwise")
        return dict.fromkeys(self._boosted, self._hotword_weight / (self.alpha * LN10))

    def _admit_spellings(self, batch: Sequence[np.ndarray]) -> None:
        """Add the greedy spellings that the lexicon lacks, as `<unk>` words (see the class docstring)."""
        added = False
        for emissions in batch:
            for span in spans_from_frame_tokens(emissions.argmax(axis=-1).tolist(), self.layout.labels, self.layout.blank):
                word = span.word
                if word not in self._known and all(char in self._token_of for char in word):
                    self._known.add(word)
                    spelling = [self._token_of[char] for char in word] + [self._silence]
                    self.trie.insert(spelling, self._unk_label, self._unk_lookahead)
                    added = True
        if added:
            self._smear()

    def decode(self, log_probs: np.ndarray) -> Transcript:
        return self._decode(np.ascontiguousarray(self.layout.fold_specials(log_probs)), admit=True)

    def _decode(self, emissions: np.ndarray, admit: bool) -> Transcript:
        if admit and self.open_vocabulary:
            self._admit_spellings([emissions])
        frames, tokens = emissions.shape
        results = self.decoder.decode(emissions.ctypes.data, frames, tokens)  # its final beam, best first
        found = []
        # Distinct token paths can write one text: take enough of the beam for nbest distinct ones.
        for result in results[: self.nbest * 4 if self.nbest > 1 else 1]:
            # flashlight's token path has one extra step before the first frame (and after the last).
            words = spans_from_frame_tokens(list(result.tokens)[1 : frames + 1], self.layout.labels, self.layout.blank)
            found.append((Transcript(" ".join(word.word for word in words), words), float(result.score)))
        return _best_with_alternatives(found, self.layout, emissions, self.confidence, self.nbest)

    def decode_batch(self, batch: Sequence[np.ndarray]) -> list[Transcript]:
        prepared = [np.ascontiguousarray(self.layout.fold_specials(log_probs)) for log_probs in batch]
        if self.open_vocabulary:
            self._admit_spellings(prepared)  # one smearing pass for the whole batch
        return [self._decode(emissions, admit=False) for emissions in prepared]


def _BoostedLM(lm, bonuses: dict[int, float]):
    """flashlight's KenLM with a bonus added to the score of boosted words (a Python LM, as flashlight-text's
    LM interface allows: only built when hotwords are given, since each LM call then passes through Python)."""
    from flashlight.lib.text.decoder import LM

    class BoostedLM(LM):
        def __init__(self):
            LM.__init__(self)
            self.lm, self.bonuses = lm, bonuses

        def start(self, start_with_nothing):
            return self.lm.start(start_with_nothing)

        def score(self, state, token_index):
            state, score = self.lm.score(state, token_index)
            return state, score + self.bonuses.get(token_index, 0.0)

        def finish(self, state):
            return self.lm.finish(state)

    return BoostedLM()


def load_decoder(model_dir: str | os.PathLike, engine: str = "pyctcdecode", *, confidence: bool = False,
                 nbest: int = 1, **options) -> Decoder:
    """The decoder for `model_dir`; without a language_model/ beam search still works, without an LM.
    `confidence`: every transcript carries word and utterance confidences; `nbest` > 1: its alternatives."""
    if engine not in ENGINES:
        raise ConfigurationError(f"decoder engine {engine!r}: choose one of {', '.join(ENGINES)}")
    if nbest < 1:
        raise ConfigurationError(f"--nbest {nbest}: give 1 or more")
    if engine == "greedy" and nbest > 1:
        raise ConfigurationError(f"--nbest {nbest} needs beam search: greedy decoding finds a single path "
                                 "(use --decoder pyctcdecode, with or without an LM)")
    beam_width = options.get("beam_width", DEFAULT_BEAM_WIDTH)
    if nbest > beam_width:
        raise ConfigurationError(f"--nbest {nbest} is more than the beam keeps ({beam_width}): raise --beam_width")
    if engine == "greedy":
        decoder: Decoder = GreedyDecoder(model_vocabulary(model_dir))
    elif engine == "flashlight":
        decoder = FlashlightDecoder(model_dir, **options)
    else:
        decoder = PyctcdecodeDecoder(model_dir, **options)
    decoder.confidence, decoder.nbest = confidence, nbest
    return decoder

