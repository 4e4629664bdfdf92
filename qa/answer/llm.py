"""Optional fluent answers from an LLM behind the OpenAI chat-completions protocol.

Ollama, llama.cpp's server, vLLM and OpenAI all speak it; ``QA_LLM_URL`` names the base URL
(".../v1"). The LLM only ever sees the numbered passages and the question. Its reply is
checked before anyone reads it: every ``[n]`` must name a passage that was given, and the
span the offline answerer found must appear in a cited passage. A reply that fails, or an
endpoint that is down or slow, yields the offline answer with a note saying why.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import replace

from qa.answer.base import AnswerContext, Answerer
from qa.citations import article_numbers, citation_order
from qa.squad import normalize_answer
from qa.types import Draft, Hit

_MARKER = re.compile(r"\[(\d+)\]")
NOT_IN_ARTICLES = "NOT IN THE ARTICLES"
_SYSTEM = (
    "You answer questions using only the numbered passages given. Answer in one or two short "
    "sentences and cite every passage you use as [n]. If the passages do not answer the "
    f"question, reply exactly: {NOT_IN_ARTICLES}"
)


class LLMAnswerer:
    """Wraps an offline answerer: the LLM phrases, the offline answerer vouches."""

    name = "llm"

    def __init__(
        self,
        fallback: Answerer,
        url: str,
        *,
        model: str = "default",
        api_key: str | None = None,
        timeout: float = 20.0,
    ) -> None:
        self.fallback = fallback
        self.url = url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout = timeout

    def warm_up(self) -> None:
        self.fallback.warm_up()

    @property
    def threshold(self) -> float:
        return self.fallback.threshold

    def answer(self, question: str, hits: Sequence[Hit], context: AnswerContext) -> Draft:
        base = self.fallback.answer(question, hits, context)
        if not hits:
            return base
        # Passages go out in the order citations will be numbered (the supporting one
        # first), so the LLM's [n] is the reader's [n].
        order = citation_order(len(hits), base)
        passages = [hits[i].chunk.text for i in order]
        try:
            reply = self._complete(question, passages)
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            return replace(base, note=f"LLM unavailable ({_reason(exc)}); offline answer given")
        problem = self._verify(reply, passages, base)
        if problem:
            return replace(base, note=f"LLM answer rejected ({problem}); offline answer given")
        if reply.strip().upper().startswith(NOT_IN_ARTICLES):
            return replace(base, answer="", confidence=0.0, note="the LLM found no answer")
        # The LLM cites passages by position; citations are numbered by article.
        numbers = article_numbers(hits, order)
        reply = _MARKER.sub(lambda m: f"[{numbers[int(m.group(1)) - 1]}]", reply)
        return replace(
            base,
            answer=reply.strip(),
            note="answer phrased by the LLM, checked against the cited passages",
        )

    def _complete(self, question: str, passages: list[str]) -> str:
        numbered = "\n\n".join(f"[{n}] {text}" for n, text in enumerate(passages, 1))
        body = json.dumps(
            {
                "model": self.model,
                "temperature": 0,
                "messages": [
                    {"role": "system", "content": _SYSTEM},
                    {"role": "user", "content": f"Passages:\n\n{numbered}\n\nQuestion: {question}"},
                ],
            }
        ).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            data = json.loads(response.read().decode("utf-8"))
        content = data["choices"][0]["message"]["content"]
        if not isinstance(content, str):
            raise ValueError("reply has no text content")
        return content

    @staticmethod
    def _verify(reply: str, passages: list[str], base: Draft) -> str | None:
        if reply.strip().upper().startswith(NOT_IN_ARTICLES):
            return None
        cited = [int(n) for n in _MARKER.findall(reply)]
        if not cited:
            return "it cites no passage"
        bad = sorted({n for n in cited if not 1 <= n <= len(passages)})
        if bad:
            return f"it cites passages that were not given: {bad}"
        if base.answer:
            span = normalize_answer(base.answer)
            if not any(span in normalize_answer(passages[n - 1]) for n in set(cited)):
                return "no passage it cites holds the offline answer"
        return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return f"cannot reach it: {exc.reason}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"
