"""The real app in a child process, for tests that kill it: `python -m tests.review_child DB
MARKER KEYS [--die-on-clear]` opens DB in NerdApp under Pilot, presses KEYS (space separated),
writes how many rows wait in the journal to MARKER, then keeps the app running (its retry timer
too) until it is killed. `--die-on-clear` kills the process itself at the moment the journal
would be emptied, right after the last waiting row was committed: a crash no timing can hit."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from core.review.journal import Journal
from tui.app import NerdApp


async def main(db: str, marker: str, keys: list[str]) -> None:
    app = NerdApp(db)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*keys)
        Path(marker).write_text(str(app.waiting))
        while True:
            await pilot.pause(0.1)


if __name__ == "__main__":
    if "--die-on-clear" in sys.argv:
        Journal.clear = lambda self: os.kill(os.getpid(), signal.SIGKILL)
    db, marker, keys = sys.argv[1:4]
    asyncio.run(main(db, marker, keys.split()))
