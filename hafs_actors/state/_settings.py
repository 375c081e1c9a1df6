"""Where limiter and breaker state lives, and how the Redis backend behaves when Redis fails."""

from __future__ import annotations

import math
import os
import urllib.parse
from collections.abc import Mapping

import attrs

from ..errors import ConfigError

__all__ = ["StateSettings", "check_redis_url"]

_SCHEMES = ("redis", "rediss", "unix")


def check_redis_url(url: str, *, source: str, key: str) -> str:
    """``url`` when it is a Redis URL coredis can open; else a ConfigError naming ``key``."""
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"must be a redis:// URL, got {url!r}", source=source, key=key)
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"malformed Redis URL {url!r}: {exc}", source=source, key=key) from None
    if parts.scheme not in _SCHEMES:
        raise ConfigError(
            f"scheme must be one of {', '.join(_SCHEMES)}, got {url!r}", source=source, key=key
        )
    if parts.scheme == "unix":
        if not parts.path:
            raise ConfigError(f"a unix:// URL needs a socket path: {url!r}", source=source, key=key)
    elif not parts.hostname:
        raise ConfigError(f"no host in Redis URL {url!r}", source=source, key=key)
    if port == 0:
        raise ConfigError(f"port 0 in Redis URL {url!r}", source=source, key=key)
    db = parts.path.lstrip("/")
    if parts.scheme != "unix" and db and not db.isdigit():
        raise ConfigError(f"database must be a number, got {db!r}", source=source, key=key)
    return url


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ConfigError(
            f"must be a positive finite number, got {value!r}", source="state", key=attribute.name
        )


def _check_share(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"must be an integer >= 1, got {value!r}", source="state", key="share")


def _check_burst(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"must be in [0, 1], got {value!r}", source="state", key="burst")


def _check_url(instance: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None:
        check_redis_url(value, source="state", key="redis_url")


@attrs.frozen
class StateSettings:
    """The ``[state]`` section. ``redis_url=None`` keeps all state in the process.

    ``share`` is N, the number of processes that share each quota: while Redis does not answer,
    each process admits at most ``1/N`` of every rate limit on its own.
    """

    redis_url: str | None = attrs.field(default=None, validator=_check_url)
    share: int = attrs.field(default=1, validator=_check_share)
    #: the deadline of every Redis call (the client's own retries are off)
    call_timeout: float = attrs.field(default=0.05, validator=_positive)
    #: how often each process reads the shared breakers
    breaker_poll: float = attrs.field(default=0.05, validator=_positive)
    #: how long the half-open probe lease lasts (renewed while the probe is pending)
    probe_lease: float = attrs.field(default=30.0, validator=_positive)
    #: the first retry of Redis after a failure, doubling up to ``reconnect_max``
    reconnect_after: float = attrs.field(default=0.1, validator=_positive)
    reconnect_max: float = attrs.field(default=0.5, validator=_positive)
    #: GCRA tolerance as a share of the period: 0 paces requests evenly (no burst beyond one
    #: request); 1 lets a whole period's quota through at once (a token bucket)
    burst: float = attrs.field(default=0.0, validator=_check_burst)
    #: a waiter re-asks Redis at least this often, so pauses and outages are noticed
    recheck: float = attrs.field(default=1.0, validator=_positive)
    key_prefix: str = "hafs"
    #: names this process in probe leases; None: unique per backend instance
    node_id: str | None = None

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, base: StateSettings | None = None
    ) -> StateSettings:
        """``base`` (or defaults) overridden by ``HAFS_REDIS_URL`` and ``HAFS_STATE_SHARE``."""
        env = os.environ if env is None else env
        settings = base if base is not None else cls()
        url = env.get("HAFS_REDIS_URL")
        if url is not None:  # set but empty: state stays in the process
            if url.strip():
                check_redis_url(url, source="environment", key="HAFS_REDIS_URL")
            settings = attrs.evolve(settings, redis_url=url.strip() or None)
        share = env.get("HAFS_STATE_SHARE")
        if share is not None:
            if not share.strip().isdigit() or int(share) < 1:
                raise ConfigError(
                    f"must be an integer >= 1, got {share!r}",
                    source="environment",
                    key="HAFS_STATE_SHARE",
                )
            settings = attrs.evolve(settings, share=int(share))
        return settings
