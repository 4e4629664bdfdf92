"""Property-based requests generated from the app's own OpenAPI schema, run in-process (ASGI)
against a private writable index: no input may produce a 5xx, and answers must match the
schema. The number of examples is bounded to keep the run short."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from api.app import create_app
from qa.pipeline import Pipeline
from tests.api_helpers import copy_index
from tests.conftest import Models, make_settings

# End to end through real processes and servers: run by the README's test command and CI,
# left out of the quick tier (`pytest -m "not slow"`).
pytestmark = pytest.mark.slow

MAX_EXAMPLES = 12


@pytest.fixture(scope="module")
def fuzz_pipeline(
    corpus_index_dir: Path, models: Models, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    data = copy_index(corpus_index_dir, tmp_path_factory.mktemp("fuzz") / "data")
    pipeline = models.pipeline(data, auto_ingest=False)
    yield pipeline
    pipeline.close()


# Built at import so the schema can parametrize the test; the pipeline is attached by the
# fixture below. (``schemathesis.pytest.from_fixture`` would defer this, but it does not run
# under pytest 9.) The placeholder data directory is never opened.
APP = create_app(
    make_settings(Path(tempfile.gettempdir()) / "article-qa-fuzz-unused", auto_ingest=False)
)
schema = schemathesis.openapi.from_dict(APP.openapi())
schema.app = APP


@pytest.fixture(scope="module", autouse=True)
def _serve(fuzz_pipeline: Pipeline) -> Iterator[None]:
    APP.state.services.pipeline = fuzz_pipeline  # not owned: the lifespan will not close it
    yield
    APP.state.services.close()
    APP.state.services.pipeline = None


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_api_conforms_to_its_schema(case: Any) -> None:
    # Every check but one: the API checks meaning beyond the schema and answers 422 by
    # design (a question of only spaces, a date it cannot read, a chat history without a
    # user message, an article text that is blank), each tested in test_api.py, so
    # "schema-valid data must be accepted" does not hold here.
    excluded = [positive_data_acceptance]
    if case.method.upper() == "POST" and case.path == "/articles":
        # A batch of more than 5 is a job that validates record by record: a record the
        # schema refuses is reported in the job and the rest ingested, by design (issue 12;
        # tests/test_jobs.py). A smaller batch still refuses it whole, tested there too.
        excluded.append(negative_data_rejection)
    case.call_and_validate(excluded_checks=excluded)
