"""Links that open a cited passage on the reading page (``GET /read/{article_id}``).

Every source gets one, so ``[n]`` is clickable in any chat client even for an article with no
public URL. When the server has an API key, a link carries a signature of its article id
made with that key: a browser that follows it sends no ``Authorization`` header, and the
signature lets it read that one article and nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote, urlencode

from qa.types import Citation

READ_PREFIX = "/read/"


def signature(api_key: str, article_id: str) -> str:
    """The HMAC of one article id under the server's key (128 bits, hex)."""
    mac = hmac.new(api_key.encode(), article_id.encode("utf-8"), hashlib.sha256)
    return mac.hexdigest()[:32]


def signed_ok(api_key: str, path: str, sig: str) -> bool:
    """Whether ``sig`` opens the reading page at ``path`` (``/read/<id>``, already
    percent-decoded, as ASGI gives it)."""
    if not path.startswith(READ_PREFIX):
        return False
    article_id = path[len(READ_PREFIX) :]
    return hmac.compare_digest(signature(api_key, article_id), sig)


def passage_link(base_url: str, c: Citation, api_key: str | None = None) -> str:
    """``<base>/read/<id>?passage=S-E&answer=S-E#passage``: the article with the passage (and
    the answer in it, when it is there) highlighted and scrolled into view."""
    params = {"passage": f"{c.start}-{c.end}"}
    if c.answer_start is not None and c.answer_end is not None:
        params["answer"] = f"{c.start + c.answer_start}-{c.start + c.answer_end}"
    if api_key:
        params["sig"] = signature(api_key, c.article_id)
    path = READ_PREFIX + quote(c.article_id, safe="")
    return f"{base_url.rstrip('/')}{path}?{urlencode(params)}#passage"
