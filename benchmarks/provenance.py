"""Where a benchmark's numbers come from: the command that ran, the commit of the code, the date."""

from __future__ import annotations

import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import denoise2seg


def code_commit() -> str:
    """Short commit hash of the denoise2seg checkout that is imported (``+dirty`` with local changes)."""
    package = Path(denoise2seg.__file__).parent
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(package), *args], capture_output=True, text=True).stdout.strip()
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


# Taken when the benchmark starts: the code that runs is the code imported then, even if
# the checkout moves on during a long run.
STARTED_AT_COMMIT = code_commit()
STARTED_ON = datetime.now(timezone.utc).strftime("%Y-%m-%d")


def provenance_line() -> str:
    """One Markdown line naming the command (as typed), the commit of the code and the UTC date it started."""
    command = " ".join(shlex.quote(part) for part in ["python", *sys.argv])
    return f"Command: `{command}`; commit {STARTED_AT_COMMIT}; {STARTED_ON}."


def write_report(text: str, out: Path | None) -> None:
    """Print a benchmark's Markdown ``text`` and, when ``out`` is given, write it there (its folder made first)."""
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
