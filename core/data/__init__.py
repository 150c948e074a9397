"""Data: corpora and subsets, CoNLL and text import, tokenisation, label schemas, scoring.

Imports only `core.store` and `common`; every other room reads its sentences through here.
"""
