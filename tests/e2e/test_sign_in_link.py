"""The owner's sign-in link never reaches a log: `scrapetrack serve` prints it only to the
terminal it was started from, else writes it to a file only its owner reads and names that."""

from __future__ import annotations

import os
import pty
import stat
import subprocess
import threading
from pathlib import Path

from tests.conftest import free_port, wait_until
from tests.e2e.conftest import OURS, SCRAPETRACK, Served, stop


def test_without_a_terminal_the_link_goes_to_a_private_file(served: Served,
                                                           tmp_path: Path) -> None:
    output = "".join(served.output)
    path = tmp_path / "var" / "sign-in-url"
    assert f"is in {Path('var') / 'sign-in-url'};" in output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "/login?code=" not in output
    assert path.read_text().strip() == served.sign_in_url


def test_on_a_terminal_the_link_is_printed_and_no_file_is_written(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in OURS}
    leader, follower = pty.openpty()
    process = subprocess.Popen([str(SCRAPETRACK), "serve", "--port", str(free_port())],
                               cwd=tmp_path, env=env, stdout=follower, stderr=follower,
                               stdin=subprocess.DEVNULL)
    os.close(follower)
    seen: list[str] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal is gone with the process
                return
            if not chunk:
                return
            seen.append(chunk.decode(errors="replace"))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_until(lambda: "/login?code=" in "".join(seen), 60, "the link on the terminal")
        assert "valid 15 minutes, once" in "".join(seen)
        assert not (tmp_path / "var" / "sign-in-url").exists()
    finally:
        stop(process)
        os.close(leader)
        reader.join(timeout=10)
