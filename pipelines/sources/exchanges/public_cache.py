"""A small on-disk TTL cache for public market data (markets, currencies, tickers).

In-memory caching only helps inside one process, but Dagster runs each step of a `dagster dev` run in its own
process, and every scheduled tick is a new run: the disk is what they share. Entries are whole JSON documents
written atomically (temp file + rename), so a reader never sees half an entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any


class PublicCache:
    def __init__(self, root: Path, *, enabled: bool = True) -> None:
        self.root = root
        self.enabled = enabled
        self.hits = 0
        self.misses = 0

    def _path(self, namespace: str, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        return self.root / namespace / f"{digest}.json"

    def get(self, namespace: str, key: str, ttl_s: float) -> Any | None:
        if not self.enabled:
            return None
        path = self._path(namespace, key)
        try:
            with path.open() as handle:
                entry = json.load(handle)
        except (OSError, ValueError):
            self.misses += 1
            return None
        if entry.get("key") != key or time.time() - float(entry.get("stored_at", 0)) > ttl_s:
            self.misses += 1
            return None
        self.hits += 1
        return entry["value"]

    def put(self, namespace: str, key: str, value: Any) -> None:
        if not self.enabled:
            return
        path = self._path(namespace, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump({"key": key, "stored_at": time.time(), "value": value}, handle, default=str)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def clear(self) -> None:
        if self.root.exists():
            for path in self.root.rglob("*.json"):
                path.unlink(missing_ok=True)
