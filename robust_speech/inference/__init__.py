"""Running a trained model: loading it with its decoder (the decoder policy), chunked batched
inference, CTC decoding engines, transcript writers. May import: core, text, audio, data, lm, model.
"""
