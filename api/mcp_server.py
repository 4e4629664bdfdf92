"""A Model Context Protocol server over stdio (the official ``mcp`` SDK) with the tools
``ask`` and ``search``, so MCP chat clients can answer from the articles.

Each tool answers with readable text (``[n]`` markers and sources, as the chat endpoint) for
the model, and the structured object (the ``ask --json`` answer, or the ranked passages) for
the application.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from pydantic import Field

from api.render import reply_text
from api.schemas import HitOut
from qa import __version__
from qa.errors import QAError
from qa.pipeline import Pipeline, build_pipeline
from qa.settings import Settings

INSTRUCTIONS = (
    "Answers questions from a private collection of news articles, offline. Use `ask` for a "
    "question (a short answer with numbered citations quoting the articles, or 'not in the "
    "articles'); use `search` to see the most relevant passages without an answer. Cite the "
    "[n] sources when you repeat an answer."
)


def build_server(pipeline: Pipeline) -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer(
        name="article-qa", version=__version__, instructions=INSTRUCTIONS
    )

    @server.tool(description="Answer a question from the articles, with cited passages.")
    def ask(
        question: Annotated[str, Field(description="The question, in plain words.")],
        top_k: Annotated[
            int | None, Field(ge=1, le=50, description="Passages to retrieve and cite.")
        ] = None,
    ) -> CallToolResult:
        try:
            answer = pipeline.ask(question, top_k=top_k)
        except QAError as exc:
            # A ToolError reaches the client as an error result with this message.
            raise ToolError(str(exc)) from exc
        return CallToolResult(
            content=[TextContent(type="text", text=reply_text(answer))],
            structured_content=answer.to_dict(),
        )

    @server.tool(
        description="The passages most relevant to a query, best first, without answering."
    )
    def search(
        query: Annotated[str, Field(description="What to look for.")],
        k: Annotated[int, Field(ge=1, le=50, description="How many passages.")] = 5,
    ) -> CallToolResult:
        try:
            hits = pipeline.search(query, k)
        except QAError as exc:
            raise ToolError(str(exc)) from exc
        passages = [HitOut.of(n, h).model_dump() for n, h in enumerate(hits, 1)]
        lines = [
            f"[{p['rank']}] {p['title'] or p['article_id']}"
            + (f" ({p['date']})" if p["date"] else "")
            + "\n"
            + " ".join(p["text"].split())
            for p in passages
        ]
        text = "\n\n".join(lines) or "No passages found."
        return CallToolResult(
            content=[TextContent(type="text", text=text)],
            structured_content={"query": query, "passages": passages},
        )

    return server


def run_stdio(settings: Settings) -> None:
    pipeline = build_pipeline(settings)
    try:
        # stdout is the protocol channel: anything printed while a first run indexes the
        # shipped corpus (the ONNX exporter reports progress with print) goes to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            pipeline.check()
            pipeline.ensure_corpus()
        build_server(pipeline).run("stdio")
    finally:
        pipeline.close()
