"""``ask serve`` and ``ask mcp``, registered under the ``article_qa.commands`` entry points so
``qa.cli.main`` finds them without importing ``api``."""

from __future__ import annotations

import ipaddress
import logging
import sys

import click

from qa.errors import QAError
from qa.settings import Settings, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except QAError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _preflight(settings: Settings) -> None:
    """Refuse to start on a store that cannot be used (unreachable, another model) with the
    message and exit code the other commands give, not a startup traceback."""
    from qa.pipeline import build_pipeline

    try:
        pipeline = build_pipeline(settings)
        try:
            pipeline.check()
        finally:
            pipeline.close()
    except QAError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


@click.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (loopback by default; 0.0.0.0 for every interface).",
)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
@click.option(
    "--warm-ingest",
    is_flag=True,
    help="Load the ingest models at start, so the first POST /articles does not wait for "
    "them (QA_WARM_INGEST=1).",
)
def serve_cmd(host: str, port: int, log_level: str, warm_ingest: bool) -> None:
    """Serve the JSON API, the chat page (/), an OpenAI-compatible endpoint (/v1) and
    metrics over HTTP. QA_API_KEY, when set, is required as a Bearer token."""
    import uvicorn

    from api.app import create_app

    settings = _settings()
    if warm_ingest:
        settings = settings.model_copy(update={"warm_ingest": True})
    keyed = settings.api_key is not None and bool(settings.api_key.get_secret_value())
    if not _is_loopback(host) and not keyed:
        click.echo(
            f"warning: listening on {host} without QA_API_KEY: anyone who can reach it "
            "can read and change the index",
            err=True,
        )
    _preflight(settings)
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    click.echo(f"article-qa on http://{host}:{port}/  (API docs at /docs)", err=True)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=log_level,
        proxy_headers=False,
        server_header=False,
    )


@click.command("mcp")
def mcp_cmd() -> None:
    """Run a Model Context Protocol server over stdio with the tools `ask` and `search`,
    for MCP chat clients (configure the command `ask mcp`)."""
    from api.mcp_server import run_stdio

    # stdout carries the protocol: everything else, logs included, goes to stderr.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    run_stdio(_settings())
