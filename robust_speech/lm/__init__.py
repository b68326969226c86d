"""N-gram language models: building a KenLM model from text and installing it in a model folder.
May import: core, text, audio, data.
"""
