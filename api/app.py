"""The FastAPI application: ``create_app(settings)``; ``ask serve`` runs it under uvicorn."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.cors import CORSMiddleware
from swagger_ui_bundle import swagger_ui_path

from api import openai_compat, reading, routes
from api.deps import Services
from api.errors import install_error_handlers
from api.middleware import ApiKeyMiddleware, BodyLimitMiddleware, MetricsMiddleware
from qa import __version__
from qa.pipeline import Pipeline, build_pipeline
from qa.settings import Settings

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"


def open_pipeline(settings: Settings, svc: Services) -> Pipeline:
    """Build the pipeline once, index the shipped corpus into an empty data directory, and
    warm the question encoder so the first request does not pay for loading it."""
    pipeline = build_pipeline(settings)
    pipeline.check()
    if pipeline.is_empty() and settings.auto_ingest:
        log.info(
            "empty data directory %s: indexing the shipped corpus first (a minute or two)",
            settings.data_dir,
        )
    report = pipeline.ensure_corpus()
    if report is not None:
        log.info("indexed the shipped corpus: %s", report.summary())
    pipeline.warm_up()
    if settings.warm_ingest:
        log.info("loading the ingest models (QA_WARM_INGEST)")
        pipeline.warm_ingest()
    return pipeline


def create_app(settings: Settings | None = None, *, pipeline: Pipeline | None = None) -> FastAPI:
    """The app. With ``pipeline`` given it serves that one (and leaves closing it to the
    caller); otherwise the lifespan builds one from ``settings``."""
    settings = settings or Settings()
    svc = Services(settings=settings, pipeline=pipeline)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if svc.pipeline is None:
            svc.pipeline = await run_in_threadpool(open_pipeline, settings, svc)
            svc.owns_pipeline = True
        try:
            yield
        finally:
            svc.close()

    app = FastAPI(
        title="article-qa",
        version=__version__,
        description="Ask questions of your own articles, offline: short answers with cited, "
        "quoted passages. Send `Authorization: Bearer <QA_API_KEY>` when the server "
        "has a key.",
        lifespan=lifespan,
        docs_url=None,
    )
    app.state.services = svc
    install_error_handlers(app)
    app.include_router(routes.router)
    app.include_router(openai_compat.router)
    app.include_router(reading.router)
    # FastAPI's own /docs loads Swagger UI from a CDN, which is blank on an offline machine;
    # serve the copy the swagger-ui-bundle package carries (mounted before /static, which
    # would otherwise shadow it).
    app.mount("/static/docs", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="article-qa API",
            swagger_js_url="/static/docs/swagger-ui-bundle.js",
            swagger_css_url="/static/docs/swagger-ui.css",
            swagger_favicon_url="/static/docs/favicon-32x32.png",
        )

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    # Added innermost first: a request meets metrics, then CORS, then the key check, then the
    # body limit, so refused requests are counted and never have their bodies read.
    app.add_middleware(
        BodyLimitMiddleware, max_body=settings.max_body_bytes, max_upload=settings.max_upload_bytes
    )
    if settings.api_key is not None and settings.api_key.get_secret_value():
        app.add_middleware(ApiKeyMiddleware, api_key=settings.api_key.get_secret_value())
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(MetricsMiddleware, metrics=svc.metrics)
    return app
