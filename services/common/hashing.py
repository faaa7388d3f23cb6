"""SHA-256 of a file, read in chunks: weights checks, ONNX cache keys, data-file hashes."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def safetensors_sha256(folder: Path) -> dict[str, str]:
    """The SHA-256 of each ``*.safetensors`` weights file in a model folder, by file name."""
    return {f.name: sha256_file(f) for f in sorted(folder.glob("*.safetensors"))}
