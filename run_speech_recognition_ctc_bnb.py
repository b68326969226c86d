#!/usr/bin/env python
"""The same recipe as run_speech_recognition_ctc.py with bitsandbytes' 8-bit AdamW (optimizer states in 8 bits,
about a quarter of the optimizer memory). Only the default optimizer differs; `--optim` still overrides it.
"""

import sys

from robust_speech.training.run import BNB_OPTIMIZER, main

if __name__ == "__main__":
    sys.exit(main(script=__file__, defaults={"optim": BNB_OPTIMIZER}))
