import sys

from robust_speech.cli import main

sys.exit(main())
