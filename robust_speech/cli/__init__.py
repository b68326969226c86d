"""Command-line fronts: argparse parsers and the `robust-speech` verbs. The only layer that parses
arguments; nothing imports it but the top-level scripts.
"""
