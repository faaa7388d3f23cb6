"""ONNX Runtime serving for the transformer services: export once, cache, verify, run.

The embedder and the qa reader export their transformers model to ONNX the first time they
start (``torch.onnx.export`` with the TorchScript exporter, eager attention, dynamic batch
and sequence axes) and keep the file under the data directory, keyed by the SHA-256 of the
weights it was exported from::

    <cache_dir>/<kind>-<weights sha256>/model.onnx          fp32
    <cache_dir>/<kind>-<weights sha256>/model.int8.onnx     dynamic int8 (optional)
    <cache_dir>/<kind>-<weights sha256>/export.json         what each file was made from

``export.json`` records, per file, the weights' SHA-256, the file's own SHA-256 and the
export format version. A cached file is used only when all three match; otherwise (other
weights, a truncated or altered file, an older export format) it is exported again.

Sessions get as many intra-op threads as the process has CPUs (its affinity mask, capped by
a cgroup ``cpu.max`` quota), one inter-op thread, and no busy-spinning: an idle service or
a single short query does not burn cores waiting for work.

torch and onnx are imported only to export; serving needs only onnxruntime and numpy.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.common.errors import FailedPrecondition
from services.common.hashing import sha256_file
from services.common.settings import data_dir

log = logging.getLogger(__name__)

#: Bump when what the exporters put in the graph changes: cached files are then re-exported.
EXPORT_FORMAT = 2
OPSET = 17
META_FILE = "export.json"


def default_cache_dir() -> Path:
    return data_dir() / "cache" / "onnx"


def cpu_share() -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup v2/v1 CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def _cgroup_quota() -> float | None:
    """CPUs allowed by the cgroup quota (``cpu.max`` or ``cpu.cfs_quota_us``), None if unlimited."""
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
        if text:
            return None
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def weights_file(model_dir: Path) -> Path | None:
    """The weights file of a saved transformers model directory (safetensors first)."""
    for name in ("model.safetensors", "pytorch_model.bin"):
        path = model_dir / name
        if path.is_file():
            return path
    return None


def make_session(path: Path, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session: ``threads`` intra-op threads (None = ``cpu_share()``),
    one inter-op thread, sequential execution, no spinning while waiting for work."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or cpu_share()
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3  # warnings from the optimiser are noise in JSON logs
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise FailedPrecondition(f"ONNX Runtime cannot load {path}: {exc}") from exc


def cached_onnx(
    *,
    kind: str,
    weights_sha256: str,
    export: Callable[[Path], None],
    quantize: bool = False,
    cache_dir: Path | None = None,
) -> Path:
    """The verified ONNX file for these weights, exporting (and quantising) it if needed.

    ``export(path)`` writes the fp32 graph to ``path``. ``kind`` names what the graph
    computes (``embedder-mean-pooled``, ``qa-span-logits``) so two graphs from the same
    weights do not collide. A cache directory that cannot be written falls back to one
    under the system's temporary directory (a read-only container file system).
    """
    if len(weights_sha256) != 64:
        raise FailedPrecondition(
            f"need the weights' SHA-256 to key the ONNX cache, got {weights_sha256!r}"
        )
    base = _writable(cache_dir or default_cache_dir())
    folder = base / f"{kind}-{weights_sha256}"
    folder.mkdir(parents=True, exist_ok=True)
    with _lock(folder):
        meta = _read_meta(folder)
        fp32 = folder / "model.onnx"
        if not _valid(folder, meta, fp32.name, weights_sha256):
            t0 = time.perf_counter()
            _atomic_write(fp32, export)
            meta[fp32.name] = _record(fp32, weights_sha256, quantized=False)
            _write_meta(folder, meta)
            log.info(
                "exported model to ONNX",
                extra={
                    "path": str(fp32),
                    "kind": kind,
                    "seconds": round(time.perf_counter() - t0, 2),
                },
            )
        if not quantize:
            return fp32
        int8 = folder / "model.int8.onnx"
        if not _valid(folder, meta, int8.name, weights_sha256):
            t0 = time.perf_counter()
            _atomic_write(int8, lambda out: _quantize(fp32, out))
            meta[int8.name] = _record(int8, weights_sha256, quantized=True)
            _write_meta(folder, meta)
            log.info(
                "quantised ONNX model to int8",
                extra={"path": str(int8), "seconds": round(time.perf_counter() - t0, 2)},
            )
        return int8


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # per-channel weight scales: vectors stay at cosine ~0.99 to fp32 (per-tensor: ~0.95)
    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True)


def _writable(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
        return path
    except OSError as exc:
        fallback = Path(tempfile.gettempdir()) / "arxivqa-onnx"
        log.warning(
            "ONNX cache %s is not writable (%s); using %s", path, exc.strerror or exc, fallback
        )
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback


def _valid(folder: Path, meta: dict[str, Any], name: str, weights_sha256: str) -> bool:
    entry = meta.get(name)
    path = folder / name
    if not isinstance(entry, dict) or not path.is_file():
        return False
    if entry.get("weights_sha256") != weights_sha256 or entry.get("format") != EXPORT_FORMAT:
        log.warning("cached %s was made from other weights or an older export; redoing it", path)
        return False
    if sha256_file(path) != entry.get("onnx_sha256"):
        log.warning("cached %s does not match its recorded SHA-256; exporting it again", path)
        return False
    return True


def _record(path: Path, weights_sha256: str, *, quantized: bool) -> dict[str, Any]:
    import onnxruntime

    return {
        "weights_sha256": weights_sha256,
        "onnx_sha256": sha256_file(path),
        "format": EXPORT_FORMAT,
        "opset": OPSET,
        "quantized": "int8-dynamic" if quantized else "",
        "onnxruntime": onnxruntime.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _read_meta(folder: Path) -> dict[str, Any]:
    try:
        meta = json.loads((folder / META_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _write_meta(folder: Path, meta: dict[str, Any]) -> None:
    tmp = folder / f".{META_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, folder / META_FILE)


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.onnx")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _lock(folder: Path) -> Any:
    """One exporter per folder at a time (two services starting together share the work)."""
    import fcntl

    with (folder / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def export_torch(
    module: Any,
    path: Path,
    *,
    inputs: dict[str, Any],
    outputs: list[str],
    output_axes: dict[str, dict[int, str]],
) -> None:
    """``torch.onnx.export`` (TorchScript exporter) with dynamic batch/sequence inputs."""
    import warnings

    import torch

    names = list(inputs)
    axes: dict[str, dict[int, str]] = {n: {0: "batch", 1: "sequence"} for n in names}
    axes.update(output_axes)
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            tuple(inputs[n] for n in names),
            str(path),
            dynamo=False,
            input_names=names,
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
        )
