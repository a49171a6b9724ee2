"""Memory tests share the generated retrieval set (retrieval_set.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # retrieval_set, under importlib mode
