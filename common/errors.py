"""The one base class of the errors meant for the user."""

from __future__ import annotations


class NerdError(Exception):
    """An error meant for the user: its message says what is wrong and what to do.

    The CLI prints it as one line; anything else is a bug and shows its traceback.
    """
