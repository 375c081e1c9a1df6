"""What every emulated provider shares: routing, parsing, errors, rate-limit signals.

A provider protocol turns one :class:`~hafs_actors.testing.emulators.wire.HttpRequest` into a
:class:`Call`: either an immediate error answer (bad auth, bad JSON, unknown model, unknown
path), or a valid call that says its endpoint, model, token counts and how to render the normal
answer. The core decides faults, quota and pacing between the two steps, so the providers only
know their own wire formats.
"""

from __future__ import annotations

import abc
import base64
import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from email.utils import formatdate
from typing import Any, ClassVar, NoReturn

import attrs

from ..caching import PromptCache
from ..content import Generation, ToolSpec, generate_reply, stable_id
from ..profiles import ModelKind, ModelProfile
from ..quota import QuotaDecision
from ..wire import HttpRequest, Rendered

__all__ = [
    "Call",
    "Context",
    "ProviderProtocol",
    "RateLimitSignal",
    "Settings",
    "WireError",
    "go_duration",
    "nominal_seconds",
    "optional_bool",
    "optional_int",
    "retry_after_headers",
    "rfc3339",
    "text_of",
]


@attrs.frozen
class Settings:
    """An :class:`~hafs_actors.testing.emulators.EmulatorConfig` resolved for one provider."""

    provider: str
    api_key: str = attrs.field(repr=False)
    require_auth: bool
    models: Mapping[str, ModelProfile]
    accept_any_model: bool
    seed: int = 0
    reply_prefix: str = ""
    reply_tokens: tuple[int, int] = (12, 48)
    embedding_dimensions: int | None = None
    loading_until: float = 0.0  # clock time before which llama.cpp reports "Loading model"


@attrs.frozen
class Context:
    """Per-answer values the core supplies at render time."""

    request_id: str
    created: float  # wall-clock seconds since the epoch
    now: float  # the serving loop's clock


@attrs.frozen
class RateLimitSignal:
    """Everything a provider's 429 can report, from a quota decision or a ``rate_limit`` fault."""

    retry_after: float
    reset_after: float
    wall: float
    retry_after_format: str = "seconds"
    model: str | None = None
    requests_limit: int | None = None
    requests_remaining: int | None = None
    tokens_limit: int | None = None
    tokens_remaining: int | None = None
    by_tokens: bool = False
    message: str | None = None


Renderer = Callable[[Context], Rendered]


@attrs.frozen
class Call:
    """A routed request. ``error`` set: answer it as is (no faults, no quota)."""

    endpoint: str
    category: str  # generate | embed | models | health | other
    model: str | None = None
    stream: bool = False
    profile: ModelProfile | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    key_id: str = ""
    render: Renderer | None = None
    error: Rendered | None = None


class WireError(Exception):
    """Raised inside a protocol to answer at once with ``rendered``."""

    def __init__(self, endpoint: str, category: str, rendered: Rendered) -> None:
        super().__init__(endpoint)
        self.endpoint = endpoint
        self.category = category
        self.rendered = rendered


def go_duration(seconds: float) -> str:
    """A Go-style duration as OpenAI's ``x-ratelimit-reset-*`` headers use (``12ms``, ``6m0s``)."""
    seconds = max(0.0, seconds)
    if seconds < 1.0:
        return f"{max(1, round(seconds * 1000))}ms" if seconds > 0 else "0s"
    if seconds < 60.0:
        return f"{round(seconds, 3):g}s"
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)}m{round(rest, 3):g}s"


def rfc3339(wall: float) -> str:
    """An RFC 3339 UTC timestamp, rounded up to the second (a reset is never early)."""
    return datetime.fromtimestamp(math.ceil(wall), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def retry_after_headers(signal: RateLimitSignal) -> tuple[tuple[str, str], ...]:
    """``retry-after`` (and ``retry-after-ms``) in the format the fault or quota asked for."""
    delay = signal.retry_after
    fmt = signal.retry_after_format
    if fmt == "float":
        return (("retry-after", f"{round(delay, 3):g}"),)
    if fmt == "ms":
        return (
            ("retry-after-ms", str(round(delay * 1000))),
            ("retry-after", str(math.ceil(delay))),
        )
    if fmt == "http_date":
        return (("retry-after", formatdate(math.ceil(signal.wall + delay), usegmt=True)),)
    return (("retry-after", str(math.ceil(delay))),)


def bearer_token(request: HttpRequest) -> str | None:
    """The token of an ``Authorization: Bearer ...`` header, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def text_of(content: Any) -> str:
    """Text of a message ``content``: a string, or a list of parts/blocks with ``text``."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, Mapping):
                if isinstance(part.get("text"), str):
                    out.append(part["text"])
                elif "content" in part:  # Anthropic tool_result blocks
                    out.append(text_of(part["content"]))
        return "\n".join(out)
    return ""


class ProviderProtocol(abc.ABC):
    """Base of the five wire protocols. Subclasses implement :meth:`route` and error formats."""

    provider: ClassVar[str]
    request_id_header: ClassVar[str | None] = None
    meters_per_model: ClassVar[bool] = False
    # The status a ``stream_error`` fault reports when it does not name one.
    stream_error_status: ClassVar[int] = 500

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = PromptCache()

    # --- entry point ----------------------------------------------------------------------

    def handle(self, request: HttpRequest, now: float) -> Call:
        try:
            return self.route(request, now)
        except WireError as exc:
            return Call(endpoint=exc.endpoint, category=exc.category, error=exc.rendered)

    @abc.abstractmethod
    def route(self, request: HttpRequest, now: float) -> Call:
        """Dispatch on method and path; raise :class:`WireError` for immediate answers."""

    # --- formats each provider defines ----------------------------------------------------

    @abc.abstractmethod
    def error(
        self,
        status: int,
        message: str,
        error_type: str | None = None,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> Rendered:
        """An error answer in this provider's envelope."""

    @abc.abstractmethod
    def rate_limited(self, signal: RateLimitSignal) -> Rendered:
        """This provider's 429, headers included."""

    @abc.abstractmethod
    def stream_error_event(self, status: int, message: str, error_type: str | None) -> bytes:
        """An error in the middle of a stream, framed as this provider frames it."""

    @abc.abstractmethod
    def malformed_event(self) -> bytes:
        """A stream event whose JSON does not parse."""

    @abc.abstractmethod
    def context_exceeded(self, profile: ModelProfile, tokens: int, endpoint: str) -> Rendered:
        """The provider's "prompt too long" error."""

    def quota_headers(self, decision: QuotaDecision, wall: float) -> tuple[tuple[str, str], ...]:
        """Rate-limit headers on every answer while a quota is active (none by default)."""
        return ()

    def default_message(self, status: int) -> str:
        return _DEFAULT_MESSAGES.get(status, f"HTTP {status}")

    # --- helpers for subclasses -----------------------------------------------------------

    def fail(self, endpoint: str, category: str, rendered: Rendered) -> NoReturn:
        raise WireError(endpoint, category, rendered)

    def bad_request(
        self, endpoint: str, category: str, message: str, param: str | None = None
    ) -> NoReturn:
        self.fail(endpoint, category, self.error(400, message, param=param))

    def parse_json(self, request: HttpRequest, endpoint: str, category: str) -> dict[str, Any]:
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            self.fail(endpoint, category, self.bad_json(str(exc)))
        if not isinstance(body, dict):
            self.fail(endpoint, category, self.bad_json("the request body must be a JSON object"))
        return body

    def bad_json(self, detail: str) -> Rendered:
        return self.error(400, f"The request body is not valid JSON: {detail}")

    def key_id(self, key: str | None) -> str:
        """A stable, non-reversible bucket name for a key (keys never appear anywhere)."""
        return stable_id("key", key, length=12) if key else "anonymous"

    def find_model(self, name: str) -> ModelProfile | None:
        return self.settings.models.get(name)

    def model_profile(
        self, name: object, kind: ModelKind, endpoint: str, category: str
    ) -> ModelProfile:
        """The profile for ``name``; the provider's 404 when it is unknown."""
        if not isinstance(name, str) or not name:
            self.fail(endpoint, category, self.missing_model())
        profile = self.find_model(name)
        if profile is None:
            if not self.settings.accept_any_model:
                self.fail(endpoint, category, self.model_not_found(name))
            profile = ModelProfile(name=name, kind=kind)
        elif profile.kind != kind and not self.settings.accept_any_model:
            self.fail(endpoint, category, self.wrong_model_kind(name, kind))
        return profile

    def missing_model(self) -> Rendered:
        return self.error(400, "model is required", param="model")

    def model_not_found(self, name: str) -> Rendered:
        return self.error(404, f"The model {name!r} does not exist.", code="model_not_found")

    def wrong_model_kind(self, name: str, kind: ModelKind) -> Rendered:
        what = "an embedding" if kind == "embedding" else "a chat"
        return self.error(400, f"The model {name!r} is not {what} model.", param="model")

    def generate(
        self,
        *,
        model: str,
        prompt: str,
        last_user_text: str,
        max_tokens: int | None,
        request_seed: object = None,
        tools: Sequence[ToolSpec] = (),
        tool_choice: str | bool | None = None,
        tool_results_present: bool = False,
        parallel_tool_calls: bool = True,
        json_reply: bool = False,
        json_schema: Mapping[str, Any] | None = None,
        thinking: bool = False,
    ) -> Generation:
        settings = self.settings
        return generate_reply(
            seed=settings.seed,
            provider=settings.provider,
            model=model,
            prompt=prompt,
            last_user_text=last_user_text,
            max_tokens=max_tokens,
            reply_tokens=settings.reply_tokens,
            prefix=settings.reply_prefix,
            request_seed=request_seed,
            tools=tools,
            tool_choice=tool_choice,
            tool_results_present=tool_results_present,
            parallel_tool_calls=parallel_tool_calls,
            json_reply=json_reply,
            json_schema=json_schema,
            thinking=thinking,
        )

    def sign(self, *parts: object) -> str:
        """An opaque signature of ``parts`` (a thought), keyed by this emulator's provider and
        seed: a replayed turn is checked by signing its content again."""
        key = f"{self.settings.provider}\x1f{self.settings.seed}".encode()[:64]
        data = json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()
        return base64.b64encode(hashlib.blake2b(data, key=key, digest_size=48).digest()).decode()

    def check_context(
        self, profile: ModelProfile, tokens: int, endpoint: str, category: str
    ) -> None:
        if tokens > profile.context_window:
            self.fail(endpoint, category, self.context_exceeded(profile, tokens, endpoint))

    def embedding_dims(self, profile: ModelProfile, requested: object, endpoint: str) -> int:
        if requested is None:
            return self.settings.embedding_dimensions or profile.embedding_dimensions
        if isinstance(requested, bool) or not isinstance(requested, int) or not requested >= 1:
            self.bad_request(
                endpoint, "embed", "dimensions must be a positive integer", "dimensions"
            )
        return requested

    def reply_id(self, model: str, generation: Generation) -> str:
        """A content-derived id: the same reply always gets the same id."""
        return stable_id(
            self.settings.seed,
            self.settings.provider,
            model,
            generation.text,
            "".join(call.arguments_json for call in generation.tool_calls),
        )


def nominal_seconds(
    profile: ModelProfile, input_tokens: int, output_tokens: int
) -> tuple[float, float]:
    """Prompt-processing and generation seconds a body reports (Ollama, llama.cpp timings).

    Derived from the model's realistic profile even when the emulator does not sleep, so the
    numbers look plausible and stay deterministic.
    """
    latency = profile.latency
    prompt = latency.ttft_median if latency.ttft_median > 0 else 0.01 + input_tokens * 0.0002
    tps = latency.tokens_per_second or 100.0
    return prompt, (output_tokens / tps if output_tokens else 0.0)


def optional_int(
    protocol: ProviderProtocol,
    body: Mapping[str, Any],
    name: str,
    endpoint: str,
    minimum: int = 1,
    label: str | None = None,
) -> int | None:
    """An optional integer field, with the provider's 400 when it is not one."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        protocol.bad_request(
            endpoint, "generate", f"{label or name} must be an integer >= {minimum}", name
        )
    return value


def optional_bool(
    protocol: ProviderProtocol, body: Mapping[str, Any], name: str, endpoint: str
) -> bool | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        protocol.bad_request(endpoint, "generate", f"{name} must be a boolean", name)
    return value


_DEFAULT_MESSAGES = {
    400: "Bad request",
    401: "Unauthorized",
    402: "Payment required",
    403: "Forbidden",
    404: "Not found",
    408: "Request timeout",
    409: "Conflict",
    413: "Request too large",
    422: "Unprocessable entity",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
    529: "Overloaded",
}
