"""One hash for configurations, protocol cards and cache keys: SHA-256 of a value's canonical JSON form."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_hash(value: Any) -> str:
    """SHA-256 of the canonical JSON form of ``value`` (sorted keys, no whitespace)."""
    encoded = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(encoded).hexdigest()
