"""What a deployment lets source reading do, as one frozen value built from settings."""

from __future__ import annotations

from dataclasses import dataclass

from photostage.config import SourcesSettings
from photostage.sources.addresses import AllowList


@dataclass(frozen=True)
class SourcePolicy:
    """Limits for fetching inputs. ``allow_hosts`` lists host names, IPs or CIDRs that may be
    fetched even though they are loopback/private (e.g. ``"127.0.0.1"``, ``"10.0.0.0/8"``,
    ``"assets.internal"``); https is always allowed, plain http only with ``allow_http``;
    ``timeout_s`` bounds one whole fetch, redirects included."""

    allow_hosts: tuple[str, ...] = ()
    allow_http: bool = True
    timeout_s: float = 20.0
    max_redirects: int = 5
    max_bytes: int = 50 * 1024 * 1024
    allow_data_uris: bool = True

    def __post_init__(self) -> None:
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")
        if self.max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        AllowList.parse(self.allow_hosts)  # refuse a malformed entry at start, not at first fetch

    @classmethod
    def from_settings(cls, sources: SourcesSettings, max_bytes: int) -> SourcePolicy:
        return cls(
            allow_hosts=tuple(sources.allow_hosts),
            allow_http=sources.allow_http,
            timeout_s=sources.timeout_s,
            max_redirects=sources.max_redirects,
            max_bytes=max_bytes,
            allow_data_uris=sources.allow_data_uris,
        )

    def allow_list(self) -> AllowList:
        return AllowList.parse(self.allow_hosts)
