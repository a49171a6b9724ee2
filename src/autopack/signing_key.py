"""The server's signing key: ``HOME/web_secret``, shared by everything Autopack signs
(dashboard cookies, decision links), created (mode 0600) on first use so signatures
survive a restart."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def load_secret(home: Path) -> bytes:
    """The key in ``HOME/web_secret``, created on first use."""
    path = home / "web_secret"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            return path.read_text(encoding="utf-8").strip().encode()
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text(encoding="utf-8").strip().encode()
