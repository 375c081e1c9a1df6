"""Ollama's native API: /api/chat and /api/generate (NDJSON streams), embeddings, tags, version.

No auth by default (a local server). Streams are on unless ``"stream": false``; every line is a
JSON object and the last one has ``done: true``, ``done_reason`` and the counts and durations
(nanoseconds). Errors are ``{"error": "..."}``; a mid-stream error is one more such line with
the status left at 200. ``llama3.2`` and ``llama3.2:latest`` name the same model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from functools import partial
from typing import Any, ClassVar

from ..content import Generation, ToolSpec, count_tokens, embedding_vector
from ..profiles import ModelKind, ModelProfile
from ..wire import HttpRequest, Rendered, json_bytes, ndjson_line
from ._base import (
    Call,
    Context,
    ProviderProtocol,
    RateLimitSignal,
    bearer_token,
    nominal_seconds,
    retry_after_headers,
    text_of,
)
from ._schema import Fields, Problem, Spec, check_fields, json_type

__all__ = ["OllamaProtocol"]

_NDJSON = (("content-type", "application/x-ndjson"),)
_JSON = (("content-type", "application/json; charset=utf-8"),)
_VERSION = "0.12.6"


def _go(*types: str, wire: str) -> Spec:
    return Spec(types, wire_type=wire)


_STRING = _go("string", wire="string")
_BOOL = _go("boolean", wire="bool")
_COMMON: dict[str, Spec] = {
    "model": _STRING,
    "stream": _BOOL,
    "format": Spec(("any",)),
    "options": _go("object", wire="map[string]interface {}"),
    "keep_alive": _go("number", "string", wire="api.Duration"),
    "think": Spec(
        ("boolean", "string"), choices=("high", "medium", "low"), wire_type="api.ThinkValue"
    ),
    "logprobs": _BOOL,
    "top_logprobs": _go("integer", wire="int"),
}
_MESSAGE_FIELDS = Fields(
    {
        "role": _STRING,
        "content": _STRING,
        "thinking": _STRING,
        "images": _go("array", wire="[]api.ImageData"),
        "tool_calls": _go("array", wire="[]api.ToolCall"),
        "tool_name": _STRING,
    }
)
# Go structs ignore unknown members; these tables list what is type-checked on decoding.
CHAT_FIELDS = Fields(
    {
        **_COMMON,
        "messages": Spec(
            ("array",),
            items=Spec(("object",), fields=_MESSAGE_FIELDS, extra=True, wire_type="api.Message"),
            wire_type="[]api.Message",
        ),
        "tools": _go("array", wire="api.Tools"),
    }
)
GENERATE_FIELDS = Fields(
    {
        **_COMMON,
        "prompt": _STRING,
        "suffix": _STRING,
        "system": _STRING,
        "template": _STRING,
        "context": _go("array", wire="[]int"),
        "raw": _BOOL,
        "images": _go("array", wire="[]api.ImageData"),
    }
)
EMBED_FIELDS = Fields(
    {
        "model": _STRING,
        "input": _go("string", "array", wire="interface {}"),
        "truncate": _BOOL,
        "options": _COMMON["options"],
        "keep_alive": _COMMON["keep_alive"],
        "dimensions": _go("integer", wire="int"),
        "prompt": _STRING,
    }
)
_STRUCTS = {"chat": "ChatRequest", "generate": "GenerateRequest", "embed": "EmbedRequest"}
# api.Options by kind, as Options.FromMap converts them.
OPTION_KINDS: dict[str, str] = {
    **dict.fromkeys(
        [
            "num_keep",
            "seed",
            "num_predict",
            "top_k",
            "repeat_last_n",
            "mirostat",
            "num_ctx",
            "num_batch",
            "num_gpu",
            "main_gpu",
            "num_thread",
        ],
        "integer",
    ),
    **dict.fromkeys(
        [
            "top_p",
            "min_p",
            "tfs_z",
            "typical_p",
            "temperature",
            "repeat_penalty",
            "presence_penalty",
            "frequency_penalty",
            "mirostat_tau",
            "mirostat_eta",
        ],
        "float32",
    ),
    **dict.fromkeys(
        [
            "numa",
            "low_vram",
            "f16_kv",
            "logits_all",
            "vocab_only",
            "use_mmap",
            "use_mlock",
            "penalize_newline",
        ],
        "boolean",
    ),
    "stop": "array",
}
_GO_JSON = {"boolean": "bool", "integer": "number", "number": "number"}
_FINISH = {"stop": "stop", "length": "length", "tool_calls": "stop"}


def created_at(wall: float) -> str:
    """Ollama's ``created_at``: RFC 3339 with sub-second digits, in UTC."""
    return datetime.fromtimestamp(wall, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def go_type_error(problem: Problem, struct: str) -> str:
    """``encoding/json``'s UnmarshalTypeError text, which gin returns as the 400 message."""
    _, path, spec, value = problem
    assert spec is not None
    names = [str(part) for part in path if isinstance(part, str)]
    if len(names) > 1 and names[0] == "messages":
        struct = "Message"
    got = _GO_JSON.get(json_type(value), json_type(value))
    return (
        f"json: cannot unmarshal {got} into Go struct field {struct}.{'.'.join(names)} "
        f"of type {spec.wire_type}"
    )


_BASE64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def go_base64_error(text: str) -> int | None:
    """Where Go's ``base64.StdEncoding`` stops decoding ``text`` (None: it decodes): the first
    byte outside the alphabet, misplaced padding, or the start of an incomplete last quantum.
    Line breaks are skipped, as Go skips them."""
    data = text.replace("\r", "").replace("\n", "")
    body = data.rstrip("=")
    padding = len(data) - len(body)
    for index, char in enumerate(body):
        if char not in _BASE64_ALPHABET:
            return index
    if padding > 2 or len(data) % 4:
        return len(data) - len(data) % 4 if len(data) % 4 else len(body)
    return None


def option_error(options: Mapping[str, Any]) -> str | None:
    """``Options.FromMap``: unknown options are ignored (logged), mistyped ones are an error."""
    for key, value in options.items():
        kind = OPTION_KINDS.get(key)
        if kind is None or value is None:
            continue
        found = json_type(value)
        if kind == "integer" and found not in ("integer", "number"):
            return f'option "{key}" must be of type integer'
        if kind == "float32" and found not in ("integer", "number"):
            return f'option "{key}" must be of type float32'
        if kind == "boolean" and found != "boolean":
            return f'option "{key}" must be of type boolean'
        if kind == "array":
            if found != "array":
                return f'option "{key}" must be of type array'
            if not all(isinstance(item, str) for item in value):
                return f'option "{key}" must be of an array of strings'
    return None


class OllamaProtocol(ProviderProtocol):
    provider: ClassVar[str] = "ollama"

    def route(self, request: HttpRequest, now: float) -> Call:
        method, path = request.method, request.path
        if method == "POST":
            if path == "/api/chat":
                return self.chat(request)
            if path == "/api/generate":
                return self.generate_endpoint(request)
            if path == "/api/embed":
                return self.embed(request, legacy=False)
            if path == "/api/embeddings":
                return self.embed(request, legacy=True)
            if path == "/api/show":
                return self.show(request)
        if method in ("GET", "HEAD"):
            if path == "/api/tags":
                return self.static(
                    request,
                    "tags",
                    {"models": [self.tag(p) for p in self.settings.models.values()]},
                )
            if path == "/api/version":
                return self.static(request, "version", {"version": _VERSION})
            if path == "/api/ps":
                return self.static(request, "ps", {"models": []})
            if path == "/":
                rendered = Rendered(
                    200, (("content-type", "text/plain; charset=utf-8"),), (b"Ollama is running",)
                )
                return Call(endpoint="root", category="health", render=lambda ctx: rendered)
        return Call(
            endpoint="unknown", category="other", error=self.error(404, "404 page not found")
        )

    def authenticate(self, request: HttpRequest, endpoint: str, category: str) -> str:
        key = bearer_token(request)
        if self.settings.require_auth and key != self.settings.api_key:
            self.fail(endpoint, category, self.error(401, "unauthorized"))
        return self.key_id(key)

    # --- errors ---------------------------------------------------------------------------

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
        return Rendered(status, _JSON + headers, (json_bytes({"error": message}),))

    def missing_model(self) -> Rendered:
        return self.error(400, "model is required")

    def model_not_found(self, name: str) -> Rendered:
        return self.error(404, f"model '{name}' not found")

    def wrong_model_kind(self, name: str, kind: ModelKind) -> Rendered:
        return self.error(
            400, f'"{name}" does not support {"chat" if kind == "chat" else "embeddings"}'
        )

    def bad_json(self, detail: str) -> Rendered:
        return self.error(400, f"invalid character in request body: {detail}")

    def context_exceeded(self, profile: ModelProfile, tokens: int, endpoint: str) -> Rendered:
        return self.error(400, "the input length exceeds the context length")

    def rate_limited(self, signal: RateLimitSignal) -> Rendered:
        message = signal.message or f"rate limit exceeded, retry after {signal.retry_after:g}s"
        return self.error(429, message, headers=retry_after_headers(signal))

    def stream_error_event(self, status: int, message: str, error_type: str | None) -> bytes:
        return ndjson_line({"error": message})

    def malformed_event(self) -> bytes:
        return b'{"model":"broken","message":{"role":"assistant","content":"br\n'

    def default_message(self, status: int) -> str:
        if status >= 500:
            return "the model failed to generate a response"
        return super().default_message(status)

    # --- models ---------------------------------------------------------------------------

    def find_model(self, name: str) -> ModelProfile | None:
        models = self.settings.models
        if name in models:
            return models[name]
        if name.endswith(":latest"):
            return models.get(name[: -len(":latest")])
        if ":" not in name:
            return models.get(f"{name}:latest")
        return None

    def tag(self, profile: ModelProfile) -> dict[str, Any]:
        name = profile.name if ":" in profile.name else f"{profile.name}:latest"
        family = profile.name.split(":")[0].rstrip("0123456789.")
        return {
            "name": name,
            "model": name,
            "modified_at": "2025-06-01T00:00:00Z",
            "size": 2_000_000_000 if profile.kind == "chat" else 274_302_450,
            "digest": hashlib.sha256(name.encode()).hexdigest(),
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": family or "llama",
                "families": [family or "llama"],
                "parameter_size": "7B" if profile.kind == "chat" else "137M",
                "quantization_level": "Q4_K_M" if profile.kind == "chat" else "F16",
            },
        }

    def static(self, request: HttpRequest, endpoint: str, body: Mapping[str, Any]) -> Call:
        key = self.authenticate(request, endpoint, "models")
        rendered = Rendered(200, _JSON, (json_bytes(body),))
        return Call(endpoint=endpoint, category="models", key_id=key, render=lambda ctx: rendered)

    def show(self, request: HttpRequest) -> Call:
        ep, cat = "show", "models"
        key = self.authenticate(request, ep, cat)
        body = self.parse_json(request, ep, cat)
        name = body.get("model", body.get("name"))
        profile = self.model_profile(name, "chat", ep, cat, check_kind=False)
        tag = self.tag(profile)
        info = {
            "modelfile": f"FROM {tag['name']}\n",
            "parameters": "",
            "template": "{{ .Prompt }}",
            "details": tag["details"],
            "model_info": {"general.context_length": profile.context_window},
            "capabilities": ["embedding"]
            if profile.kind == "embedding"
            else ["completion", "tools"],
            "modified_at": tag["modified_at"],
        }
        rendered = Rendered(200, _JSON, (json_bytes(info),))
        return Call(
            endpoint=ep, category=cat, model=profile.name, key_id=key, render=lambda ctx: rendered
        )

    def model_profile(
        self, name: object, kind: ModelKind, endpoint: str, category: str, check_kind: bool = True
    ) -> ModelProfile:
        """Any Ollama model can embed; only embedding-only models refuse chat."""
        if not isinstance(name, str) or not name:
            self.fail(endpoint, category, self.missing_model())
        profile = self.find_model(name)
        if profile is None:
            if not self.settings.accept_any_model:
                self.fail(endpoint, category, self.model_not_found(name))
            return ModelProfile(name=name, kind=kind)
        if check_kind and kind == "chat" and profile.kind == "embedding":
            self.fail(endpoint, category, self.wrong_model_kind(name, kind))
        return profile

    # --- request validation -----------------------------------------------------------------

    def check(self, fields: Fields, body: dict[str, Any], ep: str) -> None:
        """Decode like Go, then load options like ``Options.FromMap``.

        Unknown members are ignored, as ``encoding/json`` ignores them, except sampling options
        placed at the top level: Ollama would silently drop them, which always hides a client
        bug, so the emulator refuses them (its one departure from the real server).
        A mistyped member is Go's 400; a mistyped option is the real server's 500.
        """
        cat = "embed" if ep in ("embed", "embeddings") else "generate"
        problem = check_fields(fields, body, extra=True)
        if problem is not None and problem.path == ("think",) and problem.kind == "value":
            self.bad_request(
                ep,
                cat,
                f"invalid think value: {json.dumps(problem.value)} "
                '(must be "high", "medium", "low", true, or false)',
            )
        if problem is not None:
            self.bad_request(ep, cat, go_type_error(problem, _STRUCTS.get(ep, "EmbeddingRequest")))
        for name in body:
            if name in OPTION_KINDS and name not in fields:
                self.bad_request(
                    ep,
                    cat,
                    f'"{name}" is not a request field (Ollama would ignore it there); '
                    'set it in "options"',
                )
        options = body.get("options")
        if isinstance(options, Mapping):
            message = option_error(options)
            if message is not None:
                self.fail(ep, cat, self.error(500, message))

    # --- generation -----------------------------------------------------------------------

    def options(self, body: Mapping[str, Any], ep: str) -> tuple[int | None, object]:
        options = body.get("options")
        if options is None:
            return None, None
        if not isinstance(options, Mapping):
            self.bad_request(ep, "generate", "options must be an object")
        num_predict = options.get("num_predict")  # check() admitted only numbers
        max_tokens = int(num_predict) if num_predict is not None and num_predict >= 0 else None
        return max_tokens, options.get("seed")

    def stream_flag(self, body: Mapping[str, Any], ep: str) -> bool:
        value = body.get("stream", True)
        if not isinstance(value, bool):
            self.bad_request(ep, "generate", "stream must be a boolean")
        return value

    def chat(self, request: HttpRequest) -> Call:
        ep, cat = "chat", "generate"
        key = self.authenticate(request, ep, cat)
        body = self.parse_json(request, ep, cat)
        self.check(CHAT_FIELDS, body, ep)
        model = body.get("model")
        profile = self.model_profile(model, "chat", ep, cat)
        assert isinstance(model, str)
        messages = body.get("messages", [])
        if not isinstance(messages, list):
            self.bad_request(ep, cat, "messages must be an array")
        stream = self.stream_flag(body, ep)
        if not messages:
            return self.load_reply(
                ep, model, key, {"message": {"role": "assistant", "content": ""}}
            )
        texts, last_user, tool_results = [], "", False
        for index, message in enumerate(messages):
            role = message.get("role") if isinstance(message, Mapping) else None
            if role not in ("system", "user", "assistant", "tool"):
                self.bad_request(ep, cat, f"invalid role in messages[{index}]: {role!r}")
            assert isinstance(message, Mapping)
            self.check_images(message.get("images"), ep, "Message.messages.images")
            text = text_of(message.get("content"))
            texts.append(text)
            if role == "user":
                last_user, tool_results = text, False
            elif role == "tool":
                tool_results = True
        tools = []
        for tool in body.get("tools") or ():
            function = tool.get("function") if isinstance(tool, Mapping) else None
            if isinstance(function, Mapping) and isinstance(function.get("name"), str):
                params = function.get("parameters")
                tools.append(
                    ToolSpec(function["name"], params if isinstance(params, Mapping) else {})
                )
        max_tokens, seed = self.options(body, ep)
        schema = self.read_format(body, ep, stream)
        generation = self.generate(
            model=model,
            prompt="\n".join(texts),
            last_user_text=last_user,
            max_tokens=max_tokens,
            request_seed=seed,
            tools=tools,
            tool_results_present=tool_results,
            json_reply=schema is not None,
            json_schema=schema or None,
            thinking=body.get("think") not in (None, False),
        )
        return Call(
            endpoint=ep,
            category=cat,
            model=model,
            stream=stream,
            profile=profile,
            input_tokens=generation.input_tokens,
            output_tokens=generation.output_tokens + generation.reasoning_tokens,
            key_id=key,
            render=partial(self.render, model, profile, generation, stream, True),
        )

    def check_images(self, images: Any, ep: str, field: str) -> None:
        """Images are Go ``[]byte`` values: base64 strings, never URLs (decoding error 400)."""
        for image in images or ():
            if not isinstance(image, str):
                got = _GO_JSON.get(json_type(image), json_type(image))
                self.bad_request(
                    ep,
                    "generate",
                    f"json: cannot unmarshal {got} into Go struct field {field} of type "
                    "api.ImageData",
                )
            at = go_base64_error(image)
            if at is not None:
                self.bad_request(ep, "generate", f"illegal base64 data at input byte {at}")

    def read_format(self, body: Mapping[str, Any], ep: str, stream: bool) -> dict[str, Any] | None:
        """``format``: ``"json"`` (``{}``: any JSON) or a JSON schema; unset, null or ``""``
        is no format. Anything else fails when the runner loads it: a 500, or an error line
        in a stream."""
        fmt = body.get("format")
        if fmt is None or fmt == "":
            return None
        if fmt == "json":
            return {}
        if isinstance(fmt, dict):
            return fmt
        raw = json.dumps(fmt, separators=(",", ":"))
        message = (
            f'invalid format: {json.dumps(raw)}; expected "json" or a valid JSON Schema object'
        )
        if stream:
            self.fail(
                ep,
                "generate",
                Rendered(200, _NDJSON, (ndjson_line({"error": message}),), streaming=True),
            )
        self.fail(ep, "generate", self.error(500, message))

    def generate_endpoint(self, request: HttpRequest) -> Call:
        ep, cat = "generate", "generate"
        key = self.authenticate(request, ep, cat)
        body = self.parse_json(request, ep, cat)
        self.check(GENERATE_FIELDS, body, ep)
        model = body.get("model")
        profile = self.model_profile(model, "chat", ep, cat)
        assert isinstance(model, str)
        prompt = body.get("prompt", "")
        if not isinstance(prompt, str):
            self.bad_request(ep, cat, "prompt must be a string")
        stream = self.stream_flag(body, ep)
        if not prompt:
            return self.load_reply(ep, model, key, {"response": ""})
        self.check_images(body.get("images"), ep, "GenerateRequest.images")
        system = body.get("system")
        full_prompt = f"{system}\n{prompt}" if isinstance(system, str) and system else prompt
        max_tokens, seed = self.options(body, ep)
        schema = self.read_format(body, ep, stream)
        generation = self.generate(
            model=model,
            prompt=full_prompt,
            last_user_text=prompt,
            max_tokens=max_tokens,
            request_seed=seed,
            json_reply=schema is not None,
            json_schema=schema or None,
            thinking=body.get("think") not in (None, False),
        )
        return Call(
            endpoint=ep,
            category=cat,
            model=model,
            stream=stream,
            profile=profile,
            input_tokens=generation.input_tokens,
            output_tokens=generation.output_tokens,
            key_id=key,
            render=partial(self.render, model, profile, generation, stream, False),
        )

    def load_reply(self, ep: str, model: str, key: str, content: Mapping[str, Any]) -> Call:
        """An empty prompt loads the model: one object with ``done_reason: "load"``."""

        def render(ctx: Context) -> Rendered:
            body = {
                "model": model,
                "created_at": created_at(ctx.created),
                **content,
                "done_reason": "load",
                "done": True,
            }
            return Rendered(200, _JSON, (json_bytes(body),))

        return Call(endpoint=ep, category="generate", model=model, key_id=key, render=render)

    def metrics(self, profile: ModelProfile, generation: Generation) -> dict[str, int]:
        prompt_s, gen_s = nominal_seconds(
            profile, generation.input_tokens, generation.output_tokens
        )
        load_ns = 1_250_000
        prompt_ns, eval_ns = int(prompt_s * 1e9), int(gen_s * 1e9)
        return {
            "total_duration": load_ns + prompt_ns + eval_ns,
            "load_duration": load_ns,
            "prompt_eval_count": generation.input_tokens,
            "prompt_eval_duration": prompt_ns,
            "eval_count": generation.output_tokens + generation.reasoning_tokens,
            "eval_duration": eval_ns,
        }

    def render(
        self,
        model: str,
        profile: ModelProfile,
        generation: Generation,
        stream: bool,
        chat: bool,
        ctx: Context,
    ) -> Rendered:
        stamp = created_at(ctx.created)
        done_reason = _FINISH[generation.finish]
        calls = [
            {"function": {"index": index, "name": call.name, "arguments": call.arguments}}
            for index, call in enumerate(generation.tool_calls)
        ]
        final: dict[str, Any] = {"model": model, "created_at": stamp}
        if chat:
            message: dict[str, Any] = {
                "role": "assistant",
                "content": "" if stream else generation.text,
            }
            if generation.thinking and not stream:
                message["thinking"] = generation.thinking_text
            if calls and not stream:
                message["tool_calls"] = calls
            final["message"] = message
        else:
            final["response"] = "" if stream else generation.text
            if generation.thinking and not stream:
                final["thinking"] = generation.thinking_text
        final["done_reason"] = done_reason
        final["done"] = True
        final.update(self.metrics(profile, generation))
        if not stream:
            return Rendered(200, _JSON, (json_bytes(final),))
        prefix = json_bytes({"model": model, "created_at": stamp})[:-1]
        if chat:
            head = prefix + b',"message":{"role":"assistant","content":'
            thought_head = prefix + b',"message":{"role":"assistant","content":"","thinking":'
            tail = b'},"done":false}\n'
        else:
            head = prefix + b',"response":'
            thought_head = prefix + b',"response":"","thinking":'
            tail = b',"done":false}\n'
        events = [thought_head + json_bytes(piece) + tail for piece in generation.thinking]
        events += [head + json_bytes(piece) + tail for piece in generation.pieces]
        tokens = [1] * len(events)
        if calls and chat:
            line = {
                "model": model,
                "created_at": stamp,
                "message": {"role": "assistant", "content": "", "tool_calls": calls},
                "done": False,
            }
            events.append(ndjson_line(line))
            tokens.append(generation.output_tokens)
        events.append(ndjson_line(final))
        tokens.append(0)
        return Rendered(200, _NDJSON, tuple(events), streaming=True, tokens=tuple(tokens))

    # --- embeddings -----------------------------------------------------------------------

    def embed(self, request: HttpRequest, legacy: bool) -> Call:
        ep, cat = ("embeddings" if legacy else "embed"), "embed"
        key = self.authenticate(request, ep, cat)
        body = self.parse_json(request, ep, cat)
        self.check(EMBED_FIELDS, body, ep)
        model = body.get("model")
        profile = self.model_profile(model, "embedding", ep, cat)
        assert isinstance(model, str)
        if legacy:
            prompt = body.get("prompt", "")
            if not isinstance(prompt, str):
                self.bad_request(ep, cat, "prompt must be a string")
            texts = [prompt]
        else:
            raw = body.get("input")
            if isinstance(raw, str):
                texts = [raw]
            elif isinstance(raw, list) and all(isinstance(t, str) for t in raw):
                texts = list(raw)
            else:
                self.bad_request(
                    ep, cat, "invalid input type: input must be a string or an array of strings"
                )
            if body.get("truncate") is False:
                for text in texts:
                    self.check_context(profile, count_tokens(text), ep, cat)
        dims = self.embedding_dims(profile, body.get("dimensions"), ep)
        tokens = sum(count_tokens(text) for text in texts)
        return Call(
            endpoint=ep,
            category=cat,
            model=model,
            profile=profile,
            input_tokens=tokens,
            key_id=key,
            render=partial(self.render_embeddings, model, profile, texts, dims, legacy, tokens),
        )

    def render_embeddings(
        self,
        model: str,
        profile: ModelProfile,
        texts: list[str],
        dims: int,
        legacy: bool,
        tokens: int,
        ctx: Context,
    ) -> Rendered:
        seed = self.settings.seed
        if legacy:
            vector = embedding_vector(texts[0], model, dims, seed) if texts[0] else ()
            return Rendered(200, _JSON, (json_bytes({"embedding": vector}),))
        prompt_s, _ = nominal_seconds(profile, tokens, 0)
        body = {
            "model": model,
            "embeddings": [embedding_vector(text, model, dims, seed) for text in texts],
            "total_duration": int(prompt_s * 1e9) + 1_000_000,
            "load_duration": 1_000_000,
            "prompt_eval_count": tokens,
        }
        return Rendered(200, _JSON, (json_bytes(body),))
