"""What of the OpenAI chat-completions request this server honours, and how.

Honoured: ``messages``, ``stream`` and ``stream_options``, ``max_tokens`` /
``max_completion_tokens`` (the text is cut and ``finish_reason`` says ``"length"``),
``stop``, ``response_format`` (``text``, ``json_object``, ``json_schema``) and ``n: 1``.
Sampling settings (``temperature``, ``top_p``, ``seed``, penalties...) are accepted and change
nothing: the answer is extracted from the articles, not sampled, so every setting of them
gives the same reply. Offered ``tools`` are never called, which ``tool_choice: auto`` (the
default) allows: Open WebUI, for one, offers its built-in tools with every request. A field
that asks for something this server cannot do (``n > 1``, a ``tool_choice`` that demands a
call, ``logprobs``, audio...) is refused with a 400 that names it, never ignored.
Tokens are counted as whitespace-separated words, in ``usage`` and in ``max_tokens`` alike.
"""

from __future__ import annotations

import json
import re
from typing import Any

from qa.errors import BadInputError

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ProtocolError(BadInputError):
    """A request field this server cannot honour, or honours only in some forms; ``param``
    names it, as OpenAI's errors do."""

    http_status = 400

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param


def _set(value: Any) -> bool:
    """Whether a field was sent with a value that asks for something (``null``, ``false``,
    ``[]`` and ``{}`` ask for nothing)."""
    return value not in (None, False, [], {}, "")


def refuse_unsupported(extra: dict[str, Any]) -> None:
    """400 for the first field that cannot be honoured (in a stable order)."""
    n = extra.get("n")
    if n is not None and n != 1:
        raise ProtocolError("n", "only one choice per request (n: 1); send n > 1 as n requests")
    for field in ("tool_choice", "function_call"):
        value = extra.get(field)
        if _set(value) and value not in ("none", "auto"):
            raise ProtocolError(
                field,
                "demands a tool call, and this server never calls tools: answers come from "
                "the articles (offered tools with tool_choice auto or none are accepted)",
            )
    for field in ("tools", "functions"):
        value = extra.get(field)
        if _set(value) and not isinstance(value, list):
            raise ProtocolError(field, "must be a list")
    if _set(extra.get("logprobs")) or _set(extra.get("top_logprobs")):
        field = "logprobs" if _set(extra.get("logprobs")) else "top_logprobs"
        raise ProtocolError(field, "log probabilities are not available from an extractive reader")
    if _set(extra.get("audio")):
        raise ProtocolError("audio", "audio output is not supported")
    modalities = extra.get("modalities")
    if _set(modalities) and modalities != ["text"]:
        raise ProtocolError("modalities", "only text output is supported")
    if _set(extra.get("prediction")):
        raise ProtocolError("prediction", "predicted outputs are not supported")
    if _set(extra.get("web_search_options")):
        raise ProtocolError("web_search_options", "answers come from the articles, not the web")


def max_tokens(extra: dict[str, Any]) -> int | None:
    """``max_completion_tokens`` (the current name) or ``max_tokens``; None: no limit."""
    for field in ("max_completion_tokens", "max_tokens"):
        value = extra.get(field)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ProtocolError(field, "must be a whole number of at least 1")
        return value
    return None


def stop_sequences(extra: dict[str, Any]) -> list[str]:
    value = extra.get("stop")
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or len(items) > 4 or not all(isinstance(s, str) for s in items):
        raise ProtocolError("stop", "a string or a list of at most 4 strings")
    return [s for s in items if s]


def cut(text: str, limit: int | None, stops: list[str]) -> tuple[str, str]:
    """The text as sent and its ``finish_reason``: cut before the first stop sequence, then
    to ``limit`` words (``"length"`` when that cut anything)."""
    for s in stops:
        i = text.find(s)
        if i >= 0:
            text = text[:i]
    if limit is not None:
        pieces = re.findall(r"\S+\s*", text)
        lead = text[: len(text) - len(text.lstrip())]
        if len(pieces) > limit:
            return (lead + "".join(pieces[:limit])).rstrip(), "length"
    return text, "stop"


class ResponseFormat:
    """``response_format``: plain text, the answer object as JSON, or the answer object's
    fields shaped to a caller's JSON schema."""

    def __init__(self, raw: Any) -> None:
        self.kind = "text"
        self.schema: dict[str, Any] | None = None
        if raw is None:
            return
        kinds = ("text", "json_object", "json_schema")
        if not isinstance(raw, dict) or raw.get("type") not in kinds:
            raise ProtocolError(
                "response_format", "type must be one of text, json_object, json_schema"
            )
        self.kind = raw["type"]
        if self.kind != "json_schema":
            return
        spec = raw.get("json_schema")
        if not isinstance(spec, dict):
            raise ProtocolError("response_format.json_schema", "an object with name and schema")
        name = spec.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ProtocolError(
                "response_format.json_schema.name", "1 to 64 letters, digits, '_' or '-'"
            )
        schema = spec.get("schema")
        if not isinstance(schema, dict):
            raise ProtocolError("response_format.json_schema.schema", "a JSON Schema object")
        import jsonschema

        try:
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ProtocolError(
                "response_format.json_schema.schema", f"not a valid JSON Schema ({exc.message})"
            ) from exc
        if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
            raise ProtocolError(
                "response_format.json_schema.schema",
                "must describe an object (type: object, with properties): the answer object",
            )
        self.schema = schema

    @property
    def text(self) -> bool:
        return self.kind == "text"

    def render(self, answer: dict[str, Any]) -> str:
        """The content for ``answer`` (the answer object as JSON) in this format."""
        if self.schema is None:
            return json.dumps(answer, ensure_ascii=False)
        return json.dumps(shape(answer, self.schema), ensure_ascii=False)


def shape(answer: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The answer object's fields that ``schema`` names, checked against it. A required
    field the answer object lacks, or a value of another type, is a 400 naming it: the
    caller learns the schema cannot be met instead of receiving made-up values."""
    import jsonschema

    props: dict[str, Any] = schema["properties"]
    out = {k: answer[k] for k in props if k in answer}
    missing = [k for k in schema.get("required", []) if k not in out]
    if missing:
        raise ProtocolError(
            "response_format.json_schema.schema",
            f"requires {', '.join(map(repr, missing))}, which an answer does not have; "
            f"its fields are {', '.join(sorted(answer))}",
        )
    try:
        jsonschema.validate(out, schema)
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "the answer"
        raise ProtocolError(
            "response_format.json_schema.schema", f"{where} cannot meet it: {exc.message}"
        ) from exc
    return out
