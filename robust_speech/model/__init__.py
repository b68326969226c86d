"""The acoustic model: its flags, building it (pretrained or random-init), loading a folder for inference, and
the CPU fast paths training and inference share (the matrix-product conv encoder, malloc tuning, bf16, waveform
batches as the feature extractor makes them). May import: core, text, audio, reports, data.
"""
