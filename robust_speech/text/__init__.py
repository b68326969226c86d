"""Transcript text: the normalizer (one set of rules for training, LM and scoring), the collision
audit, the CTC vocabulary and reading text files. May import: core.
"""
