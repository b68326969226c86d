"""Speech datasets: Hub and local sources, decoding and filtering, skips on record, the Common Voice
test-data guard, and the synthetic corpora of the demo and the tests. May import: core, text, audio.
"""
