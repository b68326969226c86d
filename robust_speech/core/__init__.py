"""Foundations every layer may use: the error family, safe file writing, the cache folder, safe weight
loading and the names of the files in a model folder. Imports nothing else of robust_speech.
"""
