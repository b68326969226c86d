"""The fine-tuning recipe: its typed arguments, batching, the Trainer run
and the model card. May import: core, text, audio, reports, data, lm, model.
"""
