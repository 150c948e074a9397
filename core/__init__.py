"""nerd's domain: corpora, the SQLite store, prompts, alignment, runs, schedules, evaluation.

Nothing in here imports Textual: the TUI and the CLI are thin shells over this package.
"""
