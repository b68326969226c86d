"""What robust-speech builds once into its cache is built once when processes ask for it at the same time
(parallel test workers on a fresh machine, two commands sharing the cache): the others wait and reuse it."""

import threading
import time

import robust_speech.data.synth as synth
import robust_speech.lm.kenlm_tools as kenlm_tools
from robust_speech.data.synth import SynthConfig, synthesize_corpus


def run_together(function, count=2):
    results, errors = [None] * count, []

    def call(index):
        try:
            results[index] = function()
        except Exception as error:  # noqa: BLE001 - collected and asserted on below
            errors.append(error)

    threads = [threading.Thread(target=call, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


def test_two_callers_synthesize_one_corpus_once(tmp_path, monkeypatch):
    config = SynthConfig(languages=("en",), train_size=1, dev_size=1, test_size=1, lm_sentences=3, speakers=2, seed=5)
    synthesized, original = [], synth._synthesize_language

    def slow_language(*args):
        synthesized.append(args[1])
        time.sleep(0.5)  # both callers are past the first "is it there yet" before either finishes
        return original(*args)

    monkeypatch.setattr(synth, "_synthesize_language", slow_language)
    first, second = run_together(lambda: synthesize_corpus(config, tmp_path / "corpus", progress=False))
    assert synthesized == ["en"]
    assert first.manifest == second.manifest and first.root == second.root


def test_two_callers_build_kenlm_once(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBUST_SPEECH_CACHE", str(tmp_path))
    built = []
    monkeypatch.setattr(kenlm_tools, "find_programs", lambda: built[0] if built else None)

    def slow_build(destination, progress):
        time.sleep(0.5)
        built.append(kenlm_tools.KenLMPrograms(destination / "bin" / "lmplz", destination / "bin" / "build_binary"))
        return built[-1]

    monkeypatch.setattr(kenlm_tools, "build_from_source", slow_build)
    first, second = run_together(lambda: kenlm_tools.kenlm_programs(progress=lambda message: None))
    assert len(built) == 1
    assert first == second == built[0]
