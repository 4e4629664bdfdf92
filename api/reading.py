"""The reading page: one article with a cited passage and its answer highlighted.

``GET /read/{article_id}?passage=S-E&answer=S-E`` is where every ``[n]`` of a chat reply
links (see ``api.links``), so a source opens on the quoted words even when the article has
no public URL. Offsets are characters of the article text, as in the citations.
"""

from __future__ import annotations

import html
import itertools

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse

from api.deps import get_pipeline
from api.schemas import ERRORS
from qa.errors import NotFoundError
from qa.pipeline import Pipeline
from qa.types import Article

# Errors are JSON even though the page is HTML: say so, or the schema promises HTML for them.
_JSON_ERRORS = {
    code: {
        "description": spec["description"],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
    }
    for code, spec in ERRORS.items()
}
router = APIRouter(responses=_JSON_ERRORS)

_RANGE = r"^\d{1,9}-\d{1,9}$"
_STYLE = """
body{font:17px/1.55 Georgia,serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.6rem;line-height:1.25;margin-bottom:.3rem}
.meta{font:14px system-ui,sans-serif;color:#555;margin-bottom:1.5rem}
.note{font:14px system-ui,sans-serif;background:#fff4d6;padding:.5rem .75rem}
.text{white-space:pre-wrap}
mark.passage{background:#e6f0ff;padding:.1em 0}
mark.answer{background:#ffd54f;font-weight:bold}
"""


def _range(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    a, b = (int(x) for x in text.split("-"))
    return (a, b) if a < b else None


def _body(text: str, passage: tuple[int, int] | None, answer: tuple[int, int] | None) -> str:
    """The article text as HTML, the passage in one mark and the answer in another inside it."""
    cuts = {0, len(text)}
    for r in (passage, answer):
        if r:
            cuts |= set(r)
    marks = sorted(cuts)
    out = []
    for a, b in itertools.pairwise(marks):
        piece = html.escape(text[a:b])
        if answer and answer[0] <= a and b <= answer[1]:
            piece = f'<mark class="answer">{piece}</mark>'
        if passage and passage[0] <= a and b <= passage[1]:
            anchor = ' id="passage"' if a == passage[0] else ""
            piece = f'<mark class="passage"{anchor}>{piece}</mark>'
        out.append(piece)
    return "".join(out)


def render_page(
    article: Article, passage: tuple[int, int] | None, answer: tuple[int, int] | None
) -> str:
    """The whole HTML page for one article (everything from the article escaped)."""
    n = len(article.text)
    note = ""
    if (passage and passage[1] > n) or (answer and answer[1] > n):
        # A link made before the article was re-ingested with a shorter text.
        note = '<p class="note">The cited passage is no longer at these offsets.</p>'
        passage = answer = None
    if answer and passage and not (passage[0] <= answer[0] and answer[1] <= passage[1]):
        answer = None
    e = html.escape
    who = " · ".join(e(x) for x in (article.author, article.source, article.date) if x)
    link = ""
    if article.url and article.url.startswith(("http://", "https://")):
        link = f' · <a href="{e(article.url)}" rel="noopener noreferrer">original</a>'
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{e(article.title or article.id)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{e(article.title or article.id)}</h1>"
        f'<div class="meta">{who or e(article.id)}{link}</div>{note}'
        f'<div class="text">{_body(article.text, passage, answer)}</div>'
        "<script>document.getElementById('passage')?.scrollIntoView({block:'center'})</script>"
        "</body></html>"
    )


@router.get(
    "/read/{article_id:path}",
    response_class=HTMLResponse,
    tags=["articles"],
    summary="An article as a page, a cited passage and its answer highlighted",
)
def read_article(
    article_id: str,
    passage: str | None = Query(default=None, pattern=_RANGE, description="S-E, characters."),
    answer: str | None = Query(default=None, pattern=_RANGE, description="S-E, characters."),
    sig: str | None = Query(default=None, max_length=64, description="Link signature."),
    pipeline: Pipeline = Depends(get_pipeline),
) -> HTMLResponse:
    article = pipeline.article(article_id)
    if article is None:
        raise NotFoundError(f"no article with id {article_id!r}; GET /articles lists them")
    page = render_page(article, _range(passage), _range(answer))
    # The page quotes stored text; nothing on it runs but the one scroll line.
    csp = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
    return HTMLResponse(page, headers={"Content-Security-Policy": csp})
