"""Leaf modules every layer may use: tags and labels, paths, errors, tables.

Nothing here imports from core, models or tui: the one direction is tui -> core -> models -> common.
"""
