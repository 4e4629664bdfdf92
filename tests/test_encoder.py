"""The ONNX question encoder gives the same vectors as the sentence-transformers reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embeddings.encoder import EncoderUnavailable, OnnxEncoder, SentenceTransformerEncoder
from qa.settings import DEFAULT_CORPUS
from tests.conftest import FOUNDING_Q, Models

FOUNDING_TEXT = (DEFAULT_CORPUS / "north-korea-troops-to-russia-2025-02-11.txt").read_text()

TEXTS = [
    FOUNDING_Q,
    "capital of Australia",
    "a",
    "",
    "   ",
    "11,000 troops; 300 killed, 2,700 wounded (Yonhap, 11 Feb 2025).",
    "Café owners in Málaga protest — «naïve» rules, says Zoë Østergaard.",
    "北朝鮮はロシアに兵士を派遣した。 Северная Корея отправила войска.",
    "Emoji 🚀🔥 and symbols ∑ ≤ ≥ € £ ¥ © ™",
    "URLs https://example.org/a?b=c&d=e#f and e-mail someone@example.org",
    "UPPER CASE HEADLINE: MARKETS FALL 3.2% AS RATES RISE",
    "word " * 40,
    FOUNDING_TEXT[:1200],
    FOUNDING_TEXT,  # far past the 256-token limit: both must truncate alike
    ("The quick brown fox jumps over the lazy dog. " * 200),
]


@pytest.fixture(scope="module")
def onnx_encoder(corpus_index_dir: Path) -> OnnxEncoder:
    return OnnxEncoder(corpus_index_dir / "encoder")


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)  # type: ignore[no-any-return]


def test_onnx_matches_sentence_transformers(models: Models, onnx_encoder: OnnxEncoder) -> None:
    reference = models.encoder.encode(TEXTS)
    batched = onnx_encoder.encode(TEXTS)  # padded together, as a batch
    single = np.vstack([onnx_encoder.encode([t]) for t in TEXTS])  # as questions arrive
    assert reference.shape == batched.shape == single.shape == (len(TEXTS), 384)
    assert reference.dtype == batched.dtype == np.float32
    for got in (batched, single):
        cos = _cosines(reference, got)
        worst = int(np.argmin(cos))
        assert cos.min() >= 0.9999, f"cosine {cos[worst]:.6f} for {TEXTS[worst][:60]!r}"
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_long_texts_are_truncated_at_max_length(models: Models, onnx_encoder: OnnxEncoder) -> None:
    assert onnx_encoder.config.max_length == models.encoder.config().max_length == 256
    long = FOUNDING_TEXT
    longer = long + "\n\nAn extra paragraph far beyond the limit changes nothing." * 20
    for encoder in (models.encoder, onnx_encoder):
        a, b = encoder.encode([long, longer])
        assert float(a @ b) > 0.99999
    # and a text that fits is not truncated: its end matters
    short = "North Korea sent troops to Russia."
    a, b = onnx_encoder.encode([short, short.replace("Russia", "Ukraine")])
    assert float(a @ b) < 0.99


def test_encoder_config_round_trips(models: Models, onnx_encoder: OnnxEncoder) -> None:
    cfg = models.encoder.config()
    assert onnx_encoder.config == cfg
    assert (cfg.pooling, cfg.normalize, cfg.dimension) == ("mean", True, 384)


def test_missing_or_broken_export_is_reported(tmp_path: Path) -> None:
    with pytest.raises(EncoderUnavailable, match="no usable ONNX encoder"):
        OnnxEncoder(tmp_path)
    (tmp_path / "encoder.json").write_text(
        '{"model": "m", "dimension": 3, "max_length": 8, "pooling": "mean", '
        '"normalize": true, "input_names": ["input_ids", "attention_mask"]}'
    )
    (tmp_path / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(EncoderUnavailable, match="cannot load ONNX encoder"):
        OnnxEncoder(tmp_path).encode(["x"])


def test_unknown_model_without_hub_is_refused() -> None:
    encoder = SentenceTransformerEncoder("someone/not-a-local-model", allow_hub=False)
    with pytest.raises(EncoderUnavailable, match="hub access is off"):
        encoder.encode(["x"])


def test_small_batches_keep_each_texts_vector(models: Models, corpus_index_dir: Path) -> None:
    """Length-sorted batches of three give every text its own vector, in the order given."""
    small = OnnxEncoder(corpus_index_dir / "encoder", batch_size=3)
    reference = models.encoder.encode(TEXTS)
    got = small.encode(TEXTS)
    assert got.shape == reference.shape
    assert _cosines(reference, got).min() >= 0.9999
    assert small.encode([]).shape == (0, 384)


def test_passages_are_stored_with_the_reference_encoders_vectors(
    models: Models, corpus_index_dir: Path
) -> None:
    """Ingest encodes passages with the ONNX export; what it stores is what
    sentence-transformers gives for the same passages."""
    import sqlite3

    db = sqlite3.connect(corpus_index_dir / "store.sqlite")
    rows = db.execute("SELECT text, vector FROM chunks ORDER BY rowid").fetchall()
    db.close()
    assert len(rows) > 100
    stored = np.stack([np.frombuffer(v, dtype=np.float32) for _, v in rows])
    reference = models.encoder.encode([t for t, _ in rows])
    assert float(np.abs(stored - reference).max()) < 1e-5


def test_ingest_without_onnx_encodes_with_sentence_transformers(
    models: Models, tmp_path: Path
) -> None:
    pipeline = models.pipeline(tmp_path / "data", onnx_ingest=False)
    assert pipeline._passage_encoder() is models.encoder
    pipeline.close()


def test_an_export_for_another_model_is_replaced_before_ingest(
    models: Models, corpus_copy: Path, tmp_path: Path
) -> None:
    """A stale encoder.json (another model's export) is never used to encode passages."""
    import json

    cfg_path = corpus_copy / "encoder" / "encoder.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["model"] = "some-other-model"
    cfg_path.write_text(json.dumps(cfg))
    pipeline = models.pipeline(corpus_copy)
    encoder = pipeline._passage_encoder()
    assert isinstance(encoder, OnnxEncoder)
    assert encoder.config.model == models.encoder.model_name
    assert json.loads(cfg_path.read_text())["model"] == models.encoder.model_name
    pipeline.close()


def test_a_damaged_export_is_replaced_before_ingest(models: Models, corpus_copy: Path) -> None:
    """A model.onnx that cannot be loaded is exported again; the ingest goes on."""
    (corpus_copy / "encoder" / "model.onnx").write_bytes(b"not an onnx file")
    pipeline = models.pipeline(corpus_copy)
    encoder = pipeline._passage_encoder()
    assert isinstance(encoder, OnnxEncoder)
    assert encoder.encode(["works again"]).shape == (1, 384)
    pipeline.close()
