"""The whole workflow on the embedded default (`make demo`). May import: every library layer, not cli.
"""
