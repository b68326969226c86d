#!/usr/bin/env python
"""Build a KenLM n-gram from text and install it into a CTC model folder (see robust_speech/lm/build.py).

    python build_ngram.py --model_dir ./model --text corpus.txt --order 5
    python build_ngram.py --model_dir ./model --dataset_name mozilla-foundation/common_voice_8_0 \
        --dataset_config_name sv-SE --split train --text_column_name sentence
"""

import sys

from robust_speech.cli.build_ngram import main

if __name__ == "__main__":
    sys.exit(main())
