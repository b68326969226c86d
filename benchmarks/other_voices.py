"""What a model folder transcribes from voices of other speech engines than the one it learned from.

The demo's models learn espeak-ng's voices only. This reads the same English sentences with an espeak-ng voice
and with Debian's other engines (flite's voices, festival's), transcribes them as a user would
(`robust_speech.load(folder).transcribe`, the folder's LM included), and reports the WER per engine and voice.

    apt-get install flite festival festvox-kallpc16k festvox-us-slt-hts
    python benchmarks/other_voices.py --model_dir demo_output/models/en
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

from common import markdown_table, print_machine, save

import robust_speech
from robust_speech.data.sentences import load_sentences
from robust_speech.reports.metrics import word_error_rate
from robust_speech.text.normalizer import model_normalizer

# (engine, voice): each a command that writes `text` as a WAV file to `out`.
VOICES = {
    ("espeak-ng", "en-us+m3"): lambda text, out: ["espeak-ng", "-v", "en-us+m3", "-w", out, text],
    ("flite", "kal"): lambda text, out: ["flite", "-voice", "kal", "-t", text, "-o", out],
    ("flite", "slt"): lambda text, out: ["flite", "-voice", "slt", "-t", text, "-o", out],
    ("flite", "awb"): lambda text, out: ["flite", "-voice", "awb", "-t", text, "-o", out],
    ("flite", "rms"): lambda text, out: ["flite", "-voice", "rms", "-t", text, "-o", out],
    ("festival", "kal_diphone"): lambda text, out: ["text2wave", "-eval", "(voice_kal_diphone)", "-o", out],
    ("festival", "cmu_us_slt_arctic_hts"): lambda text, out: ["text2wave", "-eval", "(voice_cmu_us_slt_arctic_hts)",
                                                               "-o", out],
}


def speak(engine: str, voice: str, text: str, out: Path) -> None:
    command = VOICES[(engine, voice)](text, str(out))
    # text2wave reads the text on its standard input; the others take it as an argument.
    subprocess.run(command, input=text.encode("utf-8") if engine == "festival" else None, check=True,
                   capture_output=True, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", required=True, help="a model folder, e.g. demo_output/models/en")
    parser.add_argument("--sentences", type=int, default=20, help="English sentences read by every voice")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print_machine()
    sentences = random.Random(args.seed).sample(load_sentences("en"), args.sentences)
    normalize = model_normalizer(args.model_dir)
    references = [normalize(sentence) for sentence in sentences]
    model = robust_speech.load(args.model_dir)
    rows, results = [], {}
    with tempfile.TemporaryDirectory(prefix="other-voices-") as work:
        for engine, voice in VOICES:
            if shutil.which(VOICES[(engine, voice)]("", "")[0]) is None:
                print(f"{engine} is not installed: skipped")
                continue
            paths = [Path(work) / f"{engine}-{voice}-{index}.wav" for index in range(len(sentences))]
            for text, path in zip(sentences, paths):
                speak(engine, voice, text, path)
            predictions = [normalize(result.text) for result in model.transcribe([str(path) for path in paths])]
            wer = word_error_rate(references, predictions)
            empty = sum(not prediction.strip() for prediction in predictions)
            results[f"{engine}/{voice}"] = {"wer": wer, "empty_predictions": empty, "examples": [
                {"reference": r, "prediction": p} for r, p in list(zip(references, predictions))[:3]]}
            rows.append([engine, voice, f"{wer:.3f}", f"{empty}/{len(sentences)}"])
    table = markdown_table(["engine", "voice", "WER (with the folder's LM)", "empty transcripts"], rows)
    print(f"model: {args.model_dir}, {len(sentences)} English sentences per voice")
    print(table)
    save("other_voices", {"model": args.model_dir, "sentences": len(sentences), "seed": args.seed,
                          "results": results, "table": table})


if __name__ == "__main__":
    main()
