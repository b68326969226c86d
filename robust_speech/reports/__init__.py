"""Numbers and the files that hold them: WER/CER as jiwer computes them, result files and reports,
the challenge's final score, plots. May import: core.
"""
