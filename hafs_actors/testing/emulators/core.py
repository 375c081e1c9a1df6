"""The emulator's protocol logic, independent of the server and of the clock.

:class:`EmulatorCore` answers one request with a :class:`~.wire.Reply` plan:
the provider protocol parses and renders, and between the two the core applies the fault plan,
the quota and the latency model. It never sleeps and never reads a clock: the server passes its
loop's ``now`` in and executes the plan's delays with its own sleep (trio's in-process, so tests
run under ``MockClock``).
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

import attrs

from ...errors import ConfigError
from .config import EmulatorConfig
from .faults import Fault, FaultPlan, FaultSelector
from .profiles import PROVIDERS, LatencyModel, ModelProfile, default_profiles
from .providers import PROTOCOLS, Call, Context, ProviderProtocol, RateLimitSignal, Settings
from .providers._base import retry_after_headers
from .quota import QuotaTracker
from .stats import NO_RESPONSE, StatsRecorder
from .wire import HttpRequest, Piece, Rendered, Reply, json_bytes

__all__ = ["EmulatorCore", "resolve_settings"]

_ZERO = LatencyModel.zero()
_PACED_CATEGORIES = ("generate", "embed")
_ADMIN_PREFIX = "/_emulator/"


def resolve_settings(provider: str, config: EmulatorConfig, now: float) -> Settings:
    """Fill in the provider's defaults for everything the config leaves open."""
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}")
    models = config.models if config.models is not None else default_profiles(provider)
    return Settings(
        provider=provider,
        api_key=config.api_key,
        require_auth=(
            config.require_auth
            if config.require_auth is not None
            else provider in ("openai", "anthropic", "gemini")
        ),
        models={profile.name: profile for profile in models},
        accept_any_model=(
            config.accept_any_model
            if config.accept_any_model is not None
            else provider == "llamacpp"
        ),
        seed=config.seed,
        reply_prefix=config.reply_prefix,
        reply_tokens=config.reply_tokens,
        embedding_dimensions=config.embedding_dimensions,
        loading_until=now + config.loading_seconds,
    )


def _immediate(rendered: Rendered) -> Reply:
    return Reply(
        rendered.status,
        rendered.headers,
        (Piece(b"".join(rendered.events)),),
        chunked=rendered.streaming,
    )


def _admin_reply(status: int, obj: Any) -> Reply:
    return Reply(status, (("content-type", "application/json"),), (Piece(json_bytes(obj)),))


def _sniff_content_type(body: bytes) -> str:
    start = body.lstrip()[:6]
    if start.startswith((b"data:", b"event:")):
        return "text/event-stream"
    lines = body.strip().splitlines()
    if len(lines) > 1 and all(
        line.lstrip().startswith(b"{") and line.rstrip().endswith(b"}") for line in lines
    ):
        return "application/x-ndjson"
    return "application/json"


class EmulatorCore:
    """Answers requests for one emulated provider; owns its fault plan, quota and counters."""

    def __init__(
        self, provider: str, config: EmulatorConfig | None = None, *, now: float = 0.0
    ) -> None:
        config = config or EmulatorConfig()
        self.provider = provider
        self.config = config
        self.protocol: ProviderProtocol = PROTOCOLS[provider](
            resolve_settings(provider, config, now)
        )
        self.stats = StatsRecorder(provider)
        self._clock_base = now
        self._wall_base = config.epoch if config.epoch is not None else time.time()
        self._latency_rng = random.Random(config.seed)
        self._sequence = 0
        self.set_faults(config.faults)

    # --- faults ---------------------------------------------------------------------------

    @property
    def faults(self) -> FaultPlan:
        return self._plan

    def set_faults(self, plan: FaultPlan) -> None:
        """Replace the plan; rule counters and quota windows start over."""
        self._plan = plan
        self._selector = FaultSelector(plan, self.config.seed)
        self._quota = QuotaTracker(plan.quota) if plan.quota is not None else None

    def wall(self, now: float) -> float:
        """Wall-clock seconds matching the serving loop's ``now``."""
        return self._wall_base + (now - self._clock_base)

    # --- one request ----------------------------------------------------------------------

    def handle(self, request: HttpRequest, now: float) -> Reply:
        if self.config.admin and request.path.startswith(_ADMIN_PREFIX):
            return self._admin(request)
        call = self.protocol.handle(request, now)
        self._sequence += 1
        request_id = f"req_emu{self._sequence:017d}"
        header = self.protocol.request_id_header
        id_headers: tuple[tuple[str, str], ...] = ((header, request_id),) if header else ()
        stats = self.stats
        if call.error is not None:
            stats.requests[(call.endpoint, call.error.status)] += 1
            return _immediate(call.error.with_headers(id_headers))
        wall = self.wall(now)
        ctx = Context(request_id=request_id, created=wall, now=now)
        fault = self._selector.select(
            call.endpoint, request.path, call.category, call.model, call.stream
        )
        if fault is not None:
            stats.faults[fault.kind] += 1
            reply = self._fault_reply(fault, call, ctx, id_headers)
            status = NO_RESPONSE if reply.ending == "hang" else reply.status
            stats.requests[(call.endpoint, status)] += 1
            return reply
        extra: tuple[tuple[str, str], ...] = id_headers
        if self._quota is not None and call.category in _PACED_CATEGORIES:
            decision = self._quota.admit(
                self._bucket(call), call.input_tokens + call.output_tokens, now
            )
            if not decision.admitted:
                stats.quota_rejections += 1
                stats.requests[(call.endpoint, 429)] += 1
                by_tokens = decision.requests_limit is None or bool(decision.requests_remaining)
                signal = RateLimitSignal(
                    retry_after=decision.retry_after or decision.reset_after,
                    reset_after=decision.reset_after,
                    wall=wall,
                    model=call.model,
                    requests_limit=decision.requests_limit,
                    requests_remaining=decision.requests_remaining,
                    tokens_limit=decision.tokens_limit,
                    tokens_remaining=decision.tokens_remaining,
                    by_tokens=by_tokens,
                )
                return _immediate(self.protocol.rate_limited(signal).with_headers(id_headers))
            extra = extra + self.protocol.quota_headers(decision, wall)
        assert call.render is not None
        rendered = call.render(ctx).with_headers(extra)
        stats.requests[(call.endpoint, rendered.status)] += 1
        stats.input_tokens += call.input_tokens
        stats.output_tokens += call.output_tokens
        return self._paced(rendered, call)

    def _bucket(self, call: Call) -> tuple[str, str]:
        quota = self._plan.quota
        assert quota is not None
        per_model = quota.scope == "model" or (
            quota.scope is None and self.protocol.meters_per_model
        )
        return (call.key_id, call.model or "") if per_model else (call.key_id, "")

    # --- latency --------------------------------------------------------------------------

    def latency_for(self, profile: ModelProfile | None) -> LatencyModel:
        mode = self.config.latency
        if isinstance(mode, LatencyModel):
            return mode
        if mode == "realistic" and profile is not None:
            return profile.latency
        return _ZERO

    def _paced(self, rendered: Rendered, call: Call) -> Reply:
        latency = self.latency_for(call.profile)
        if latency.is_zero or call.category not in _PACED_CATEGORIES:
            return _immediate(rendered)
        ttft = latency.sample_ttft(self._latency_rng)
        if not rendered.streaming:
            delay = ttft + latency.generation_time(call.output_tokens)
            return Reply(
                rendered.status, rendered.headers, (Piece(rendered.events[0]),), delay=delay
            )
        interval = latency.token_interval
        tokens = rendered.tokens or (0,) * len(rendered.events)
        pieces: list[Piece] = []
        group: list[bytes] = []
        group_delay = 0.0
        seen_token = False
        for data, count in zip(rendered.events, tokens, strict=True):
            if count > 0 and seen_token and interval > 0:
                pieces.append(Piece(b"".join(group), group_delay))
                group, group_delay = [data], count * interval
            else:
                group.append(data)
            seen_token = seen_token or count > 0
        pieces.append(Piece(b"".join(group), group_delay))
        return Reply(rendered.status, rendered.headers, tuple(pieces), chunked=True, delay=ttft)

    # --- faults ---------------------------------------------------------------------------

    def _fault_reply(
        self, fault: Fault, call: Call, ctx: Context, id_headers: tuple[tuple[str, str], ...]
    ) -> Reply:
        protocol = self.protocol
        kind = fault.kind
        if kind == "hang":
            return Reply(0, ending="hang")
        if kind == "http_error":
            status = fault.status or 500
            headers = id_headers
            if fault.retry_after is not None:
                headers += retry_after_headers(self._signal(fault, call, ctx))
            message = fault.message or protocol.default_message(status)
            return _immediate(protocol.error(status, message, fault.error_type, headers=headers))
        if kind == "rate_limit":
            rendered = protocol.rate_limited(self._signal(fault, call, ctx))
            return _immediate(rendered.with_headers(id_headers))
        if kind == "replay":
            assert fault.body is not None
            content_type = fault.content_type or _sniff_content_type(fault.body)
            streaming = content_type.startswith("text/event-stream") or "ndjson" in content_type
            headers = (("content-type", content_type), *fault.headers, *id_headers)
            return Reply(fault.status or 200, headers, (Piece(fault.body),), chunked=streaming)
        assert call.render is not None
        rendered = call.render(ctx).with_headers(id_headers)
        events = rendered.events
        tokens = rendered.tokens or (0,) * len(events)
        if kind == "slow_drip":
            body = b"".join(events)
            size = fault.piece_size
            pieces = tuple(
                Piece(body[i : i + size], 0.0 if i == 0 else fault.interval)
                for i in range(0, len(body), size)
            )
            return Reply(rendered.status, rendered.headers, pieces, chunked=rendered.streaming)
        if kind == "malformed_json":
            if rendered.streaming:
                at = min(
                    len(events),
                    fault.after_chunks if fault.after_chunks is not None else len(events) // 2,
                )
                rendered = attrs.evolve(
                    rendered,
                    events=(*events[:at], protocol.malformed_event(), *events[at:]),
                    tokens=(*tokens[:at], 0, *tokens[at:]),
                )
            else:
                rendered = attrs.evolve(
                    rendered, events=(events[0][: max(1, len(events[0]) // 2)],)
                )
            return self._paced(rendered, call)
        if kind == "stream_error":
            at = fault.after_chunks if fault.after_chunks is not None else max(1, len(events) // 2)
            status = fault.status or protocol.stream_error_status
            error = protocol.stream_error_event(
                status, fault.message or protocol.default_message(status), fault.error_type
            )
            rendered = attrs.evolve(
                rendered, events=(*events[:at], error), tokens=(*tokens[:at], 0)
            )
            return self._paced(rendered, call)
        # drop: cut after N body bytes, or after N stream events.
        full_length = sum(map(len, events))
        if fault.after_bytes is not None or not rendered.streaming:
            remaining = fault.after_bytes if fault.after_bytes is not None else full_length // 2
            cut_events: list[bytes] = []
            cut_tokens: list[int] = []
            for data, count in zip(events, tokens, strict=True):
                if remaining <= 0:
                    break
                cut_events.append(data[:remaining])
                cut_tokens.append(count)
                remaining -= len(data)
        else:
            keep = (
                fault.after_chunks if fault.after_chunks is not None else max(1, len(events) // 2)
            )
            cut_events, cut_tokens = list(events[:keep]), list(tokens[:keep])
        if not cut_events:
            cut_events, cut_tokens = [b""], [0]
        paced = self._paced(
            attrs.evolve(rendered, events=tuple(cut_events), tokens=tuple(cut_tokens)), call
        )
        return attrs.evolve(
            paced,
            ending="drop",
            content_length=None if rendered.streaming else full_length,
        )

    def _signal(self, fault: Fault, call: Call, ctx: Context) -> RateLimitSignal:
        retry = fault.retry_after if fault.retry_after is not None else 1.0
        quota = self._plan.quota
        requests_limit = quota.requests_per_minute if quota is not None else None
        tokens_limit = quota.tokens_per_minute if quota is not None else None
        return RateLimitSignal(
            retry_after=retry,
            reset_after=retry,
            wall=ctx.created,
            retry_after_format=fault.retry_after_format,
            model=call.model,
            requests_limit=requests_limit or 60,
            requests_remaining=0,
            tokens_limit=tokens_limit or 150_000,
            tokens_remaining=tokens_limit or 150_000,
            message=fault.message,
        )

    # --- admin endpoints ------------------------------------------------------------------

    def _admin(self, request: HttpRequest) -> Reply:
        method, path = request.method, request.path[len(_ADMIN_PREFIX) :]
        if path == "stats" and method == "GET":
            return _admin_reply(200, self.stats.snapshot().to_json())
        if path == "stats/reset" and method == "POST":
            self.stats.reset()
            return _admin_reply(200, {"ok": True})
        if path == "faults":
            if method == "GET":
                return _admin_reply(200, self._plan.to_dict())
            if method == "DELETE":
                self.set_faults(FaultPlan())
                return _admin_reply(200, {"ok": True})
            if method in ("POST", "PUT"):
                try:
                    data = json.loads(request.body or b"{}")
                    plan = FaultPlan.from_dict(data, source="POST /_emulator/faults")
                except (ValueError, ConfigError) as exc:
                    return _admin_reply(400, {"error": str(exc)})
                self.set_faults(plan)
                return _admin_reply(200, {"ok": True, "faults": len(plan.faults)})
        if path == "info" and method == "GET":
            settings = self.protocol.settings
            latency = self.config.latency
            return _admin_reply(
                200,
                {
                    "provider": self.provider,
                    "models": list(settings.models),
                    "accept_any_model": settings.accept_any_model,
                    "require_auth": settings.require_auth,
                    "latency": latency if isinstance(latency, str) else attrs.asdict(latency),
                    "seed": settings.seed,
                },
            )
        return _admin_reply(
            404, {"error": f"unknown admin endpoint {request.method} {request.path}"}
        )
