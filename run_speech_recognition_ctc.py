#!/usr/bin/env python
"""Fine-tune any AutoModelForCTC (XLS-R 300M/1B/2B, wav2vec2, ...) for speech recognition.

Takes the Robust Speech Challenge guide's flags unchanged; the recipe lives in robust_speech/training/.
Runs as `python run_speech_recognition_ctc.py ...`, `torchrun --nproc_per_node N ...` or `accelerate launch ...`.
"""

import sys

from robust_speech.training.run import main

if __name__ == "__main__":
    sys.exit(main(script=__file__))
