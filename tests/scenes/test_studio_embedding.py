"""The numpy MiniLM encoder: the same tokens as the reference tokenizer, the same vectors as
sentence-transformers, and a tiny model built in the test for the loading code."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from photostage.scenes.studio.embedding import Embedder, WordPiece, load_embedder, packaged_model_dir, read_safetensors

PROMPTS = [
    "kitchen counter, morning light, plants in background",
    "Crème brûlée on a café table — 50% off!",
    "where the surf rolls in",
    "",
]

needs_model = pytest.mark.skipif(packaged_model_dir() is None, reason="the `prompts` extra is not installed")


def _write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    header: dict[str, object] = {}
    blobs: list[bytes] = []
    offset = 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))


def _tiny_model(folder: Path) -> Path:
    """A 2-layer, 8-wide BERT with random weights and a 12-word vocabulary."""
    rng = np.random.default_rng(0)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "kitchen", "counter", "light", "##s", "morning", ",", "plant", "sea"]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    hidden, inner = 8, 16
    config = {"num_attention_heads": 2, "num_hidden_layers": 2, "layer_norm_eps": 1e-12}
    (folder / "config.json").write_text(json.dumps(config))
    tensors = {
        "embeddings.word_embeddings.weight": rng.normal(size=(len(vocab), hidden)),
        "embeddings.position_embeddings.weight": rng.normal(size=(32, hidden)),
        "embeddings.token_type_embeddings.weight": rng.normal(size=(2, hidden)),
        "embeddings.LayerNorm.weight": np.ones(hidden),
        "embeddings.LayerNorm.bias": np.zeros(hidden),
    }
    for layer in range(2):
        prefix = f"encoder.layer.{layer}."
        for name, shape in (
            ("attention.self.query", (hidden, hidden)),
            ("attention.self.key", (hidden, hidden)),
            ("attention.self.value", (hidden, hidden)),
            ("attention.output.dense", (hidden, hidden)),
            ("intermediate.dense", (inner, hidden)),
            ("output.dense", (hidden, inner)),
        ):
            tensors[prefix + name + ".weight"] = rng.normal(size=shape) * 0.3
            tensors[prefix + name + ".bias"] = rng.normal(size=shape[0]) * 0.1
        for name in ("attention.output.LayerNorm", "output.LayerNorm"):
            tensors[prefix + name + ".weight"] = np.ones(hidden)
            tensors[prefix + name + ".bias"] = np.zeros(hidden)
    _write_safetensors(folder / "model.safetensors", tensors)
    return folder


def test_a_tiny_model_loads_and_embeds(tmp_path: Path) -> None:
    folder = _tiny_model(tmp_path)
    tensors = read_safetensors(folder / "model.safetensors")
    assert tensors["embeddings.word_embeddings.weight"].shape == (12, 8)
    embedder = Embedder(folder)
    tokens = embedder.tokenizer.encode("Kitchen counters, morning light!")
    assert tokens == [2, 4, 5, 7, 9, 8, 6, 1, 3]  # "!" is unknown to this vocabulary
    vectors = embedder.embed(["kitchen counter", "sea", "kitchen counter"])
    assert vectors.shape == (3, 8)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors[0], vectors[2])
    # padding does not change a sentence's vector: batched equals alone
    alone = Embedder(folder).embed(["sea"])[0]
    assert np.allclose(alone, vectors[1], atol=1e-5)


def test_no_model_means_no_embedder(tmp_path: Path) -> None:
    assert load_embedder(tmp_path) is None


def test_wordpiece_splits_punctuation_and_strips_accents(tmp_path: Path) -> None:
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\ncreme\nbr\n##ule\n##e\n")
    tokenizer = WordPiece(tmp_path / "vocab.txt")
    assert tokenizer.basic("Crème brûlée, now!") == ["creme", "brulee", ",", "now", "!"]
    assert tokenizer.word_ids("brulee") == [5, 6, 7]
    assert tokenizer.word_ids("zzz") == [1]


@needs_model
def test_tokens_match_the_reference_tokenizer() -> None:
    tokenizers = pytest.importorskip("tokenizers")
    folder = packaged_model_dir()
    assert folder is not None
    reference = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    reference.no_padding()
    ours = load_embedder()
    assert ours is not None
    for text in PROMPTS:
        assert ours.tokenizer.encode(text) == reference.encode(text).ids


@needs_model
@pytest.mark.slow
def test_vectors_match_sentence_transformers() -> None:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    folder = packaged_model_dir()
    ours = load_embedder()
    assert ours is not None and folder is not None
    reference = sentence_transformers.SentenceTransformer(str(folder), device="cpu")
    expected = reference.encode(PROMPTS[:3], normalize_embeddings=True)
    got = ours.embed(PROMPTS[:3])
    assert np.min(np.sum(expected * got, axis=1)) > 0.9999
