import sys

from robust_speech.cli.verbs import main

sys.exit(main())
