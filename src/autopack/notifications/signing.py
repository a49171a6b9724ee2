"""Webhook signatures: what Autopack sends and how a receiver checks it.

Autopack signs ``"<timestamp>.<body>"`` with HMAC-SHA256 under the channel's secret and
sends ``X-Autopack-Timestamp: <unix seconds>`` and ``X-Autopack-Signature: sha256=<hex>``.
A receiver recomputes the HMAC over the raw body it got, compares in constant time, and
refuses a timestamp older (or newer) than its tolerance, so a captured request cannot be
replayed later. :func:`verify_signature` does all three; it needs nothing but the
standard library, so a receiver can copy it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

TIMESTAMP_HEADER = "X-Autopack-Timestamp"
SIGNATURE_HEADER = "X-Autopack-Signature"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def sign_body(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The two headers that sign ``body`` at ``now`` (default: the clock)."""
    timestamp = int(time.time() if now is None else now)
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance_s: float = 300,
    *,
    now: float | None = None,
) -> bool:
    """Whether ``body`` was signed by a holder of ``secret`` within ``tolerance_s`` seconds
    of ``now``. ``headers`` may be any mapping; names are matched case-insensitively."""
    lowered = {k.lower(): v for k, v in headers.items()}
    stamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    given = lowered.get(SIGNATURE_HEADER.lower(), "")
    if not stamp.isdigit() or not given.startswith("sha256="):
        return False
    timestamp = int(stamp)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), given)
