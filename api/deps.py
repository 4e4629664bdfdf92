"""What routes share: the services held by the app, and the dependencies that hand them out.

Routes get the pipeline through ``Depends(get_pipeline)`` only, so a test can point a whole
app at another pipeline with ``app.dependency_overrides[get_pipeline]``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from fastapi import Depends, Request

from api.jobs import Jobs
from api.metrics import Metrics
from qa.chat.chat import Chat
from qa.chat.sessions import ConversationStore
from qa.errors import IndexError_
from qa.pipeline import Pipeline
from qa.settings import Settings

CHAT_DB = "chat.sqlite"


@dataclass
class Services:
    settings: Settings
    metrics: Metrics = field(default_factory=Metrics)
    pipeline: Pipeline | None = None
    owns_pipeline: bool = False
    conversations: dict[str, ConversationStore] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    jobs: Jobs = field(default_factory=Jobs)

    def conversation_store(self, pipeline: Pipeline) -> ConversationStore:
        """One store per data directory, beside (never inside) the index store."""
        path = pipeline.settings.data_dir / CHAT_DB
        with self.lock:
            store = self.conversations.get(str(path))
            if store is None:
                store = self.conversations[str(path)] = ConversationStore(path)
            return store

    def close(self) -> None:
        # Running ingest jobs finish first: each commits whole batches, and the pipeline
        # must outlive them.
        self.jobs.close()
        with self.lock:
            for store in self.conversations.values():
                store.close()
            self.conversations.clear()
            if self.owns_pipeline and self.pipeline is not None:
                self.pipeline.close()
                self.pipeline = None


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def get_pipeline(request: Request) -> Pipeline:
    pipeline = services(request).pipeline
    if pipeline is None:
        raise IndexError_("the server is still starting: the index is not loaded yet")
    return pipeline


def get_conversations(
    request: Request, pipeline: Pipeline = Depends(get_pipeline)
) -> ConversationStore:
    return services(request).conversation_store(pipeline)


def get_chat(
    pipeline: Pipeline = Depends(get_pipeline),
    store: ConversationStore = Depends(get_conversations),
) -> Chat:
    return Chat(pipeline, store)
