"""`nerd`: a thin shell over `core`. Each command parses options, calls core, prints.

The group lives in `tui.shell`; the subcommands, grouped by stage in `tui.commands`,
register themselves on it when imported here.
"""

from tui.commands import data, labels, loop, review, ship, teacher, train  # noqa: F401
from tui.shell import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
