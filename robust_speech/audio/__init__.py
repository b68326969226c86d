"""Audio signals: decoding any file to 16 kHz mono, the degradations used for augmentation and
robustness tests, voice activity detection. May import: core.
"""
