"""Scoring models: the eval.py engine, LM weight tuning on a dev set, robustness curves.
May import: everything below it except training.
"""
