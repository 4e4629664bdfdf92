"""``ask mcp`` driven by the official MCP SDK's own client over stdio."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.api_helpers import copy_index
from tests.conftest import FOUNDING_Q

# End to end through real processes and servers: run by the README's test command and CI,
# left out of the quick tier (`pytest -m "not slow"`).
pytestmark = pytest.mark.slow

FOUNDING_ID = "north-korea-troops-to-russia-2025-02-11"


def test_mcp_tools_over_stdio(corpus_index_dir: Path, tmp_path: Path) -> None:
    data = copy_index(corpus_index_dir, tmp_path / "data")
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "qa.cli.main", "mcp"],
        env={
            "QA_DATA_DIR": str(data),
            "QA_AUTO_INGEST": "0",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PATH": os.environ.get("PATH", ""),
        },
        cwd=str(Path(__file__).resolve().parent.parent),
    )

    async def session() -> None:
        async with Client(params, read_timeout_seconds=120) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert {"ask", "search"} <= set(tools)
            assert "question" in tools["ask"].input_schema["properties"]

            result = await client.call_tool("ask", {"question": FOUNDING_Q})
            assert not result.is_error
            text = result.content[0].text  # type: ignore[union-attr]
            assert "11,000" in text and "[1]" in text and "Sources:" in text
            answer = result.structured_content or {}
            assert answer["citations"][0]["article_id"] == FOUNDING_ID

            result = await client.call_tool("search", {"query": "North Korea troops", "k": 2})
            assert not result.is_error
            passages = (result.structured_content or {})["passages"]
            assert len(passages) == 2 and passages[0]["article_id"] == FOUNDING_ID

            result = await client.call_tool("ask", {"question": "   "})
            assert result.is_error
            assert "empty" in result.content[0].text  # type: ignore[union-attr]

    anyio.run(session)


@pytest.mark.parametrize("name", ["ask", "search"])
def test_tool_listing_is_described(name: str) -> None:
    from api.mcp_server import build_server

    server = build_server(pipeline=None)  # type: ignore[arg-type]  # listing needs no index
    tools = anyio.run(server.list_tools)
    tool = next(t for t in tools if t.name == name)
    assert tool.description
