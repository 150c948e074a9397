"""Widgets of nerd's Textual app."""
