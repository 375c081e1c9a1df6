"""The typed errors of hafs-actors.

Two families under :class:`HafsError`:

* :class:`ProviderError` and its subclasses: one failed call to one provider, raised by adapters
  and provider actors. Each says provider, model, HTTP status, request id, whether retrying the
  same provider is worthwhile (``retryable``) and the server's delay, if it gave one.
* Runtime errors: mailboxes, actors, routing, configuration, lifecycle.

No error ever carries key material: adapters build messages from response bodies and status
lines only, and :func:`redact` scrubs anything that looks like a key before it is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._root import HafsError
from ._secrets import redact, register_secret
from .actors._errors import ActorCrashed, ActorStopped, CallTimeout, MailboxFull

if TYPE_CHECKING:
    from .types import Attempt, RateLimitInfo, Usage

__all__ = [
    "ActorCrashed",
    "ActorStopped",
    "AllProvidersFailed",
    "AuthenticationError",
    "BadRequestError",
    "CallTimeout",
    "CircuitOpenError",
    "ConfigError",
    "ContentFilterError",
    "ContextLengthError",
    "HafsError",
    "InvalidRequestError",
    "InvalidRequestTypeError",
    "MailboxFull",
    "NotFoundError",
    "OrchestratorClosed",
    "OverloadedError",
    "ProtocolError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "RateLimitError",
    "RateLimitWaitExceeded",
    "ResponseTooLarge",
    "ServerError",
    "StreamAbandoned",
    "StreamInterruptedError",
    "StructuredOutputError",
    "ToolArgumentsError",
    "UnknownProviderError",
    "UnsupportedError",
    "redact",
    "register_secret",
]

# --- one provider call ----------------------------------------------------------------------


class ProviderError(HafsError):
    """A call to one provider failed.

    ``retryable`` says whether trying the *same* provider again may succeed (transient errors);
    every ProviderError lets the router move on to the next candidate.
    """

    retryable: bool = False
    #: Whether this failure counts against the provider's circuit breaker by default.
    breaker_failure: bool = True

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.message = redact(message)
        self.provider = provider
        self.model = model
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after
        if retryable is not None:
            self.retryable = retryable
        super().__init__(self.message)

    def __str__(self) -> str:
        where = "/".join(p for p in (self.provider, self.model) if p) or "provider"
        bits = [f"{where}: {self.message}"]
        if self.status is not None:
            bits.append(f"status={self.status}")
        if self.request_id:
            bits.append(f"request_id={self.request_id}")
        if self.retry_after is not None:
            bits.append(f"retry_after={self.retry_after:g}s")
        return " ".join(bits)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[ProviderError], state: dict[str, object]) -> ProviderError:
    err = cls.__new__(cls)
    Exception.__init__(err, state.get("message", ""))
    err.__dict__.update(state)
    return err


class RateLimitError(ProviderError):
    """HTTP 429 or a quota error. ``rate_limit`` has the parsed headers, when sent."""

    retryable = True
    breaker_failure = False

    def __init__(
        self, message: str, *, rate_limit: RateLimitInfo | None = None, **kw: object
    ) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.rate_limit = rate_limit


class OverloadedError(ProviderError):
    """The provider is overloaded (Anthropic 529, HTTP 503)."""

    retryable = True


class ServerError(ProviderError):
    """HTTP 5xx other than overload."""

    retryable = True


class ProviderTimeoutError(ProviderError):
    """A timeout. ``phase`` is connect, read, write, pool, ttft, idle or attempt."""

    retryable = True

    def __init__(self, message: str, *, phase: str = "read", **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.phase = phase


class ProviderConnectionError(ProviderError):
    """The connection could not be made or broke before a response arrived."""

    retryable = True


class AuthenticationError(ProviderError):
    """HTTP 401/403: the key is missing, wrong or lacks permission."""

    breaker_failure = False


class BadRequestError(ProviderError):
    """HTTP 400/422: the request itself was rejected."""

    breaker_failure = False


class ContextLengthError(BadRequestError):
    """The prompt does not fit the model's context window."""


class NotFoundError(ProviderError):
    """HTTP 404: unknown model or endpoint."""

    breaker_failure = False


class ContentFilterError(ProviderError):
    """The provider refused or blocked the content."""

    breaker_failure = False


class ProtocolError(ProviderError):
    """The provider answered something this library cannot parse."""


class StreamAbandoned(ProviderError):
    """The caller stopped reading a stream; the attempt ends (never a provider failure)."""

    breaker_failure = False


class UnsupportedError(ProviderError):
    """The provider or adapter cannot do what was asked (no embeddings, no streaming)."""

    breaker_failure = False


class StreamInterruptedError(ProviderError):
    """A stream failed after some output: an error event or a cut connection.

    Carries what arrived before the failure so nothing is silently truncated.
    """

    def __init__(
        self,
        message: str,
        *,
        partial_text: str = "",
        usage: Usage | None = None,
        cause: BaseException | None = None,
        attempts: Sequence[Attempt] = (),
        **kw: object,
    ) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.partial_text = partial_text
        self.usage = usage
        self.cause = cause
        self.attempts = tuple(attempts)


class ToolArgumentsError(ProtocolError):
    """The provider sent a tool call whose arguments are not a JSON object; ``raw_arguments``
    keeps them as received (the model's output, not the caller's: the request may be retried
    elsewhere)."""

    def __init__(self, message: str, *, tool_name: str, raw_arguments: str, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.tool_name = tool_name
        self.raw_arguments = raw_arguments


class StructuredOutputError(ProviderError):
    """A reply that does not match the request's ``response_format``; ``raw_text`` is the reply.

    Not the provider's fault as a service, so it never counts against its circuit breaker. Not
    retryable unless the request asked for it (``invalid_output="retry"``): the chain moves on.
    """

    breaker_failure = False

    def __init__(self, message: str, *, raw_text: str, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.raw_text = raw_text


# --- runtime --------------------------------------------------------------------------------


class CircuitOpenError(ProviderError):
    """The provider's circuit breaker is open; ``retry_after`` is when it may half-open."""

    breaker_failure = False


class RateLimitWaitExceeded(ProviderError):
    """Waiting for the local rate limiter would pass the request's deadline."""

    breaker_failure = False


class AllProvidersFailed(HafsError):
    """Every candidate of a request failed or was skipped; ``attempts`` lists each one."""

    def __init__(self, message: str, *, attempts: Sequence[Attempt] = ()) -> None:
        self.attempts = tuple(attempts)
        lines = [message]
        for a in self.attempts:
            detail = f": {a.error}" if a.error else ""
            lines.append(f"  - {a.provider}/{a.model}: {a.outcome}{detail}")
        super().__init__("\n".join(lines))


class OrchestratorClosed(HafsError):
    """The orchestrator is closed or shutting down; the request was not (or no longer) served."""


class ConfigError(HafsError):
    """Bad configuration: says which file (or variable), which key, and what was expected."""

    def __init__(self, message: str, *, source: str = "", key: str = "") -> None:
        self.source = source
        self.key = key
        where = ", ".join(x for x in (source, f"key {key!r}" if key else "") if x)
        super().__init__(f"{where}: {message}" if where else message)


class UnknownProviderError(ConfigError, ValueError):
    """A provider name that no configuration or registered adapter defines.

    Raised before anything is sent, wherever the name appears (an argument, a chain, a route,
    the environment, the configuration); ``choices`` lists the names that exist.
    """

    def __init__(
        self, name: str, choices: Sequence[str], *, where: str = "", source: str = ""
    ) -> None:
        import difflib

        self.name = name
        self.choices = tuple(sorted(choices))
        close = difflib.get_close_matches(name, self.choices, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        known = ", ".join(self.choices) or "none"
        place = f" in {where}" if where else ""
        super().__init__(f"unknown provider {name!r}{place}{hint} (known: {known})", source=source)
        self.key = where


class InvalidRequestError(HafsError, ValueError):
    """A caller's argument is invalid; raised at the call, before anything reaches an actor.

    ``argument`` names it (``"messages[2].content"``, ``"max_tokens"``).
    """

    def __init__(self, argument: str, message: str) -> None:
        self.argument = argument
        super().__init__(f"{argument}: {message}")


class InvalidRequestTypeError(InvalidRequestError, TypeError):
    """A caller's argument has the wrong type."""


class ResponseTooLarge(ProtocolError):
    """A response passed one of the adapter's size limits (its body, decoded, or one stream
    event or line): the read stopped there. ``setting`` names the limit, ``limit`` its value.
    Not retryable: the same request would get the same answer."""

    def __init__(self, message: str, *, limit: int, setting: str, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.limit = limit
        self.setting = setting
