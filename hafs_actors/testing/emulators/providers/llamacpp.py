"""llama.cpp ``llama-server``: /health, the OpenAI-compatible endpoints and native /completion.

One model is loaded and the request's ``model`` is not checked (any name works, and it may be
left out). ``/health`` answers 503 ``Loading model`` until the configured loading time has
passed, and so does every other endpoint. The key is only checked when the emulator is
configured with ``require_auth=True`` (``llama-server --api-key``); ``/health`` stays public.
Streamed chat puts ``usage`` and ``timings`` in the finish chunk, as recorded from build b6097;
native ``/completion`` streams ``data:`` events and ends after the ``stop: true`` one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, ClassVar

from ..caching import Segment
from ..content import Generation
from ..profiles import ModelKind, ModelProfile
from ..quota import QuotaDecision
from ..wire import HttpRequest, Rendered, json_bytes, sse_event
from ._base import (
    Call,
    Context,
    RateLimitSignal,
    nominal_seconds,
    optional_bool,
    retry_after_headers,
)
from .openai import OpenAIProtocol

__all__ = ["LlamaCppProtocol"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "server_error",
    501: "not_supported_error",
    503: "unavailable_error",
}
_SSE_HEADERS = (("content-type", "text/event-stream"),)


def error_type_for(status: int) -> str:
    if status in _ERROR_TYPES:
        return _ERROR_TYPES[status]
    return "server_error" if status >= 500 else "invalid_request_error"


class LlamaCppProtocol(OpenAIProtocol):
    provider: ClassVar[str] = "llamacpp"
    request_id_header: ClassVar[str | None] = None
    meters_per_model: ClassVar[bool] = False
    owned_by: ClassVar[str] = "llamacpp"
    fingerprint: ClassVar[str] = "b6097-emulator"
    usage_in_finish_chunk: ClassVar[bool] = True

    def route(self, request: HttpRequest, now: float) -> Call:
        method, path = request.method, request.path
        if path in ("/health", "/v1/health") and method == "GET":
            return self.health(now)
        if now < self.settings.loading_until:
            return Call(endpoint="loading", category="other", error=self.loading())
        if method == "POST" and path in ("/v1/chat/completions", "/chat/completions"):
            return self.chat(request)
        if method == "POST" and path in ("/completion", "/completions"):
            return self.completion(request)
        if method == "POST" and path in ("/v1/embeddings", "/embeddings"):
            return self.embeddings(request)
        if method == "GET" and path in ("/v1/models", "/models"):
            return self.list_models(request)
        return self.unknown_route(request)

    def unknown_route(self, request: HttpRequest) -> Call:
        return Call(endpoint="unknown", category="other", error=self.error(404, "File Not Found"))

    def loading(self) -> Rendered:
        return self.error(503, "Loading model", "unavailable_error")

    def health(self, now: float) -> Call:
        if now < self.settings.loading_until:
            return Call(endpoint="health", category="health", error=self.loading())
        rendered = Rendered.json(200, {"status": "ok"})
        return Call(endpoint="health", category="health", render=lambda ctx: rendered)

    # --- auth and errors ------------------------------------------------------------------

    def missing_key(self) -> Rendered:
        return self.error(401, "Invalid API Key", "authentication_error")

    def invalid_key(self) -> Rendered:
        return self.error(401, "Invalid API Key", "authentication_error")

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
        body = {
            "error": {
                "code": status,
                "message": message,
                "type": error_type or error_type_for(status),
            }
        }
        return Rendered.json(status, body, headers)

    def model_not_found(self, name: str) -> Rendered:
        return self.error(404, f"model '{name}' not found", "not_found_error")

    def bad_json(self, detail: str) -> Rendered:
        return self.error(400, f"Failed to parse JSON: {detail}")

    def context_exceeded(self, profile: ModelProfile, tokens: int, endpoint: str) -> Rendered:
        body = {
            "error": {
                "code": 400,
                "message": f"the request exceeds the available context size ({tokens} tokens > "
                f"{profile.context_window}), try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": tokens,
                "n_ctx": profile.context_window,
            }
        }
        return Rendered.json(400, body)

    def rate_limited(self, signal: RateLimitSignal) -> Rendered:
        message = signal.message or f"Too many requests, retry after {signal.retry_after:g}s"
        return self.error(429, message, "rate_limit_error", headers=retry_after_headers(signal))

    def quota_headers(self, decision: QuotaDecision, wall: float) -> tuple[tuple[str, str], ...]:
        return ()  # llama-server reports no rate-limit headers

    def stream_error_event(self, status: int, message: str, error_type: str | None) -> bytes:
        error = {"code": status, "message": message, "type": error_type or error_type_for(status)}
        return sse_event(json_bytes({"error": error}))

    # --- models: the one loaded model answers to any name ---------------------------------

    def model_profile(
        self, name: object, kind: ModelKind, endpoint: str, category: str
    ) -> ModelProfile:
        models = self.settings.models
        default = next(iter(models.values()), None)
        if name is None or name == "":
            if default is None:
                self.fail(endpoint, category, self.missing_model())
            return default
        if not isinstance(name, str):
            self.fail(endpoint, category, self.missing_model())
        profile = models.get(name)
        if profile is not None:
            return profile
        if not self.settings.accept_any_model:
            self.fail(endpoint, category, self.model_not_found(name))
        return default if default is not None else ModelProfile(name=name, kind=kind)

    # --- validation: llama-server reads what it knows and ignores the rest --------------------

    def check_chat(self, body: dict[str, Any], ep: str) -> None:
        """The few checks ``oaicompat_chat_params_parse`` makes; unknown or mistyped fields pass.

        llama-server reads each parameter with a typed default, so an unknown field is ignored
        and a mistyped one falls back to its default (with a log line). It rejects only these.
        """
        for name in ("best_of", "suffix"):
            if name in body:
                self.bad_request(ep, "generate", f"Unsupported param: {name}")
        if body.get("n", 1) != 1:
            self.bad_request(ep, "generate", "Only one completion choice is allowed")
        response_format = body.get("response_format")
        if isinstance(response_format, Mapping):
            kind = response_format.get("type")
            if kind not in ("text", "json_object", "json_schema"):
                self.bad_request(
                    ep,
                    "generate",
                    f'response_format type must be one of "text" or "json_object", but got: {kind}',
                )
        messages = body.get("messages")
        if messages is None:
            self.bad_request(ep, "generate", "'messages' is required")
        if not isinstance(messages, list):
            self.bad_request(ep, "generate", "Expected 'messages' to be an array")
        for message in messages:
            if not isinstance(message, Mapping) or "role" not in message:
                self.bad_request(ep, "generate", "Missing 'role' in message")
            if "content" not in message and not message.get("tool_calls"):
                self.bad_request(
                    ep,
                    "generate",
                    "Expected 'content' (ref: https://github.com/ggml-org/llama.cpp/issues/8367)",
                )

    def check_embeddings(self, body: dict[str, Any], ep: str) -> None:
        """llama-server ignores unknown embedding fields too."""

    def reasons(self, body: Mapping[str, Any]) -> bool:
        """The emulated model does not think (llama-server ignores ``reasoning_effort``)."""
        return False

    def cached_tokens(self, scope: str, segments: Sequence[Segment]) -> int:
        """Nothing reported as cached: llama-server's prompt cache shows only in timings."""
        return 0

    def timings(self, profile: ModelProfile, prompt_n: int, predicted_n: int) -> dict[str, Any]:
        prompt_s, gen_s = nominal_seconds(profile, prompt_n, predicted_n)
        prompt_ms, predicted_ms = prompt_s * 1000, gen_s * 1000
        return {
            "cache_n": 0,
            "prompt_n": prompt_n,
            "prompt_ms": round(prompt_ms, 3),
            "prompt_per_token_ms": round(prompt_ms / prompt_n, 3) if prompt_n else 0.0,
            "prompt_per_second": round(prompt_n / prompt_s, 3) if prompt_s else 0.0,
            "predicted_n": predicted_n,
            "predicted_ms": round(predicted_ms, 3),
            "predicted_per_token_ms": round(predicted_ms / predicted_n, 3) if predicted_n else 0.0,
            "predicted_per_second": round(predicted_n / gen_s, 3) if gen_s else 0.0,
        }

    def extra_fields(self, profile: ModelProfile, generation: Generation) -> dict[str, Any]:
        return {"timings": self.timings(profile, generation.input_tokens, generation.output_tokens)}

    # --- native /completion ---------------------------------------------------------------

    def completion(self, request: HttpRequest) -> Call:
        ep, cat = "completion", "generate"
        key = self.authenticate(request, ep, cat)
        body = self.parse_json(request, ep, cat)
        prompt = body.get("prompt")
        if prompt is None:
            self.bad_request(ep, cat, '"prompt" must be provided')
        if isinstance(prompt, list):
            prompt_text = " ".join(str(p) for p in prompt)
        elif isinstance(prompt, str):
            prompt_text = prompt
        else:
            self.bad_request(ep, cat, '"prompt" must be a string or an array of tokens')
        profile = self.model_profile(body.get("model"), "chat", ep, cat)
        n_predict = body.get("n_predict", -1)
        if isinstance(n_predict, bool) or not isinstance(n_predict, int):
            self.bad_request(ep, cat, '"n_predict" must be an integer')
        stream = bool(optional_bool(self, body, "stream", ep))
        generation = self.generate(
            model=profile.name,
            prompt=prompt_text,
            last_user_text=prompt_text,
            max_tokens=n_predict if n_predict >= 0 else None,
            request_seed=body.get("seed"),
        )
        self.check_context(profile, generation.input_tokens, ep, cat)
        return Call(
            endpoint=ep,
            category=cat,
            model=profile.name,
            stream=stream,
            profile=profile,
            input_tokens=generation.input_tokens,
            output_tokens=generation.output_tokens,
            key_id=key,
            render=partial(self.render_completion, profile, prompt_text, body, generation, stream),
        )

    def render_completion(
        self,
        profile: ModelProfile,
        prompt: str,
        body: Mapping[str, Any],
        generation: Generation,
        stream: bool,
        ctx: Context,
    ) -> Rendered:
        n_predict = body.get("n_predict", -1)
        final = {
            "index": 0,
            "content": "" if stream else generation.text,
            "tokens": [],
            "id_slot": 0,
            "stop": True,
            "model": profile.name,
            "tokens_predicted": generation.output_tokens,
            "tokens_evaluated": generation.input_tokens,
            "generation_settings": {
                "n_predict": n_predict,
                "seed": body.get("seed", 4294967295),
                "temperature": body.get("temperature", 0.8),
                "stream": stream,
            },
            "prompt": prompt,
            "has_new_line": False,
            "truncated": False,
            "stop_type": "limit" if generation.finish == "length" else "eos",
            "stopping_word": "",
            "tokens_cached": generation.input_tokens + generation.output_tokens,
            "timings": self.timings(profile, generation.input_tokens, generation.output_tokens),
        }
        if not stream:
            return Rendered.json(200, final)
        events = []
        for index, piece in enumerate(generation.pieces):
            chunk = {
                "index": 0,
                "content": piece,
                "tokens": [],
                "stop": False,
                "id_slot": -1,
                "tokens_predicted": index + 1,
                "tokens_evaluated": generation.input_tokens,
            }
            events.append(sse_event(json_bytes(chunk)))
        events.append(sse_event(json_bytes(final)))
        tokens = (1,) * len(generation.pieces) + (0,)
        return Rendered(200, _SSE_HEADERS, tuple(events), streaming=True, tokens=tokens)
