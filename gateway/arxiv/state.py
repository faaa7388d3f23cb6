"""Per-set harvest state on disk, so a harvest resumes and the next one is incremental.

One JSON file per (endpoint, source, set, format) under the harvest data directory:
the resumption token (or API offset) of the next page after the last *completed* one,
the latest datestamp seen, and the version of each paper whose PDF was ingested. Written
atomically (temp file + rename) after every page the gateway acknowledged.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


@dataclass
class HarvestState:
    endpoint: str
    source: str  # "oai" | "api"
    set_spec: str
    prefix: str
    # The request in progress (None when the last harvest finished).
    from_date: str | None = None
    until: str | None = None
    token: str | None = None  # OAI: resumption token of the next page
    start: int = 0  # API: offset of the next page
    in_progress: bool = False
    # Latest header datestamp over completed pages: the next run's ``from``.
    last_datestamp: str | None = None
    pages: int = 0
    records: int = 0
    deleted: int = 0
    errors: int = 0
    # paper id -> what its stored PDF text came from: "v2", or the record's update date
    # when the metadata format names no version.
    pdf_versions: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def path_for(root: Path, endpoint: str, source: str, set_spec: str, prefix: str) -> Path:
        host = urlsplit(endpoint).netloc or "local"
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{host}-{source}-{set_spec or 'all'}-{prefix}")
        return root / f"{name}.json"

    @classmethod
    def load(
        cls, root: Path, endpoint: str, source: str, set_spec: str, prefix: str
    ) -> HarvestState:
        path = cls.path_for(root, endpoint, source, set_spec, prefix)
        if path.exists():
            data = json.loads(path.read_text())
            return cls(**data)
        return cls(endpoint=endpoint, source=source, set_spec=set_spec, prefix=prefix)

    def save(self, root: Path) -> Path:
        path = self.path_for(root, self.endpoint, self.source, self.set_spec, self.prefix)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1, sort_keys=True))
        tmp.replace(path)
        return path
