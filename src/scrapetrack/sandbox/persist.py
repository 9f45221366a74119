"""The sandbox's runs kept in a file, so the embedded sandbox outlives a restart of
`scrapetrack serve`: a search stopped mid-run resumes the same run, to the same counts.

Items are not kept: item i of a run is a function of its input and plan, so a run is its
input, caps, ids and times (see SandboxRun.to_json). The file is rewritten whole, atomically,
with mode 0600, on every start and abort: a few kilobytes for the embedded default's runs.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class RunFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[dict[str, Any]]:
        """The runs kept; none if there is no file, or (said in the log) an unreadable one."""
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.warning("sandbox: %s is unreadable, its runs are forgotten: %s", self.path, exc)
            return []
        return [run for run in data.get("runs", []) if isinstance(run, dict)] \
            if isinstance(data, dict) else []

    def save(self, runs: list[dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({"runs": runs}, out, separators=(",", ":"))
        os.replace(temporary, self.path)
