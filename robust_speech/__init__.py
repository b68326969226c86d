"""robust-speech: build a robust speech recognizer for any language, scored as the Robust Speech Challenge does."""

from robust_speech.core.errors import RobustSpeechError

__version__ = "0.1.0"
__all__ = ["RobustSpeechError", "__version__"]
