"""Who acts on the command line: the OS account (``cli:<OS user>``), and the name the
deployment's first admin gets. Light on purpose: no database, no services."""

from __future__ import annotations

import getpass
import os
import re


def os_user() -> str:
    """The OS account running this command."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def cli_identity() -> str:
    """Who decides from the command line: ``cli:<OS user>``. The database is local to this
    user (or reached with its credentials), so the OS account is the identity we know."""
    return f"cli:{os_user()}"


def first_admin_name() -> str:
    """The OS user's name as an Autopack user name (characters a user name cannot hold
    become ``-``); ``admin`` when nothing usable is left."""
    name = re.sub(r"[^A-Za-z0-9._@-]", "-", os_user()).lstrip("._@-")[:64]
    return name or "admin"
