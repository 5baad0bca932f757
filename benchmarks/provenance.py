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


def provenance_line() -> str:
    """One Markdown line naming the command (as typed), the code's commit and the UTC date."""
    command = " ".join(shlex.quote(part) for part in ["python", *sys.argv])
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    return f"Command: `{command}`; commit {code_commit()}; {date}."
