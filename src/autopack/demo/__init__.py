"""The offline demo's bundled assets, shipped inside the wheel.

``demo_assets_dir()`` holds:

``example_project/``
    ``textstats``, a tiny pure-Python package with a real pytest suite
    (``python -m pytest -q`` passes on it as shipped). The demo copies it into a new
    directory and makes it a git repository before running the plan against it.
``plan.yaml``
    A RunSpec (run id ``demo``): tier T1 "Core" with phases ``word-frequencies`` and
    ``reading-time``, tier T2 "Quality" with ``cli`` and ``docs``.
``script.jsonl``
    The scripted model responses for that plan, one JSON object per line
    (``role``, ``phase_id``, ``content``, ``usage``), in the order the calls happen:

    - ``word-frequencies``: Builder, Auditor approves;
    - ``reading-time``: Builder writes an off-by-one (an exact minute rounds up) that the
      tests it adds catch; Doctor diagnoses it (``retry_with_fix`` with a hint); Builder
      fixes it; Auditor approves;
    - ``cli``: Builder passes the tests; Auditor answers ``revise`` (a missing file ends in
      a traceback); Builder handles it and adds a test; Auditor approves;
    - ``docs``: Builder, Auditor approves.

    Builder content is NDJSON edit operations (``op`` is ``create``, ``replace_file``,
    ``search_replace`` or ``append``; the fields are those of
    :mod:`autopack.domain.edits`). A retry works whether or not the executor rolled the
    failed attempt back to the phase's savepoint first: files that change between
    attempts are written with ``replace_file``, and the rest of a retry is identical to
    the first attempt, which governed apply reports as already present.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from autopack.errors import ConfigurationError

#: Names of the assets inside :func:`demo_assets_dir`.
EXAMPLE_PROJECT = "example_project"
PLAN_FILE = "plan.yaml"
SCRIPT_FILE = "script.jsonl"


def demo_assets_dir() -> Path:
    """The directory holding the demo's assets, as a real filesystem path.

    Treat it as read-only: copy ``example_project`` somewhere else before changing it.
    Raises ConfigurationError when Autopack is imported from a zip archive, where the
    assets are not files on disk.
    """
    root = files(__name__)
    if not isinstance(root, Path) or not root.is_dir():
        raise ConfigurationError(
            f"the demo assets of {__name__} are not a directory on disk ({root!r}); "
            "install Autopack from a wheel or a source checkout"
        )
    return root
