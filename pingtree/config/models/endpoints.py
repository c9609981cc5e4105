"""Where pingtree sends a request: a buyer's ping or post (`Endpoint`, in the native protocol or
the buyer's dialect), a sold lead's delivery or a seller's postback (`Destination`, an Endpoint
with retries), and how an https buyer's certificate is checked (`TLS`). A URL prints without its
credentials (`masked_url`, from config/urls.py)."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from pingtree.config.checked import ConfigModel, Loc, Problem, across
from pingtree.config.dialect import Auth, FieldMap, MappedValue, Signing, TextOrMapped, yaml_text
from pingtree.config.dialect_response import ResponseMap
from pingtree.config.types import FrozenMap
from pingtree.config.urls import masked_url as masked_url  # re-exported (models/__init__.py)

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_RESERVED_HEADERS = frozenset({"content-length", "host", "transfer-encoding", "connection"})


class TLS(ConfigModel):
    """How a buyer's https certificate is checked. `ca_file` is a PEM bundle of the CA(s) that
    signed it, trusted for this endpoint *instead of* the system store: a buyer on a private CA is
    trusted with certificates that CA signed and no others (a buyer that also wants the public
    CAs lists them in the same file). The file is read at load, so a reload re-reads it; a file
    that holds no certificate stops the load. Verification itself is never switched off: see
    docs/wiring-a-buyer.md ("Buyers over https")."""

    ca_file: Path
    _ca_pem: str = PrivateAttr("")

    @model_validator(mode="after")
    def _read_bundle(self) -> TLS:
        try:
            pem = self.ca_file.read_text(encoding="ascii")  # PEM is ASCII by definition
        except OSError as exc:
            raise ValueError(f"cannot read {self.ca_file}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ValueError(f"{self.ca_file} is not a PEM file (not ASCII text)") from None
        # An empty `cadata` would quietly mean "the system store": refuse it by name.
        if "-----BEGIN CERTIFICATE-----" not in pem:
            raise ValueError(f"{self.ca_file} holds no PEM certificate")
        try:
            ssl.create_default_context(cadata=pem)
        except ssl.SSLError as exc:
            raise ValueError(f"{self.ca_file}: not a valid PEM CA bundle ({exc.reason})") from None
        self._ca_pem = pem
        return self

    @property
    def ca_pem(self) -> str:
        """The bundle's text as read at load (what the transport builds its SSL context from)."""
        return self._ca_pem


class Endpoint(ConfigModel):
    """Where and how a buyer is called: the native protocol by default, or the buyer's own
    dialect (config/dialect.py describes every key)."""

    url: str = Field(pattern=r"^https?://")
    timeout_ms: int = Field(1000, ge=10, le=60_000)
    method: Literal["POST", "PUT", "GET"] = "POST"
    format: Literal["json", "form", "xml"] = "json"
    root: str = Field("lead", pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")
    query: FrozenMap[str, TextOrMapped] = Field(default_factory=dict)
    headers: FrozenMap[str, TextOrMapped] = Field(default_factory=dict)
    auth: Auth | None = None
    sign: Signing | None = None
    sandbox_url: str | None = Field(None, pattern=r"^https?://")
    fields: tuple[FieldMap, ...] | None = Field(None, min_length=1)
    response: ResponseMap | None = None
    tls: TLS | None = None

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("query", "headers", mode="before")
    @classmethod
    def _text_values(cls, value: Any) -> Any:
        # `X-Campaign: 12` in YAML is a number; a header or query value is text (or a mapping).
        if isinstance(value, dict):
            return {
                str(k): v if isinstance(v, str | dict) else yaml_text(v) for k, v in value.items()
            }
        return value

    @field_validator("headers")
    @classmethod
    def _settable(cls, value: Mapping[str, str | MappedValue]) -> Mapping[str, str | MappedValue]:
        for name, text in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"header name {name!r} is not a valid HTTP header name")
            if name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by pingtree itself")
            if isinstance(text, str) and ("\r" in text or "\n" in text):
                raise ValueError(f"header {name!r}: a value cannot hold a line break")
        return value

    @across("tls", "url", "sandbox_url")
    def _tls_for_https(self) -> Iterator[Problem]:
        urls = [self.url, self.sandbox_url or ""]
        if self.tls is not None and not any(u.startswith("https://") for u in urls):
            yield ("tls",), "tls applies to https URLs: url (or sandbox_url) is not https"

    @across("format", "method", "fields")
    def _body_described(self) -> Iterator[Problem]:
        if self.format != "json" and self.fields is None:
            yield ("fields",), f"format: {self.format} needs `fields` (the native body is JSON)"
        if self.method == "GET" and self.fields is None:
            yield ("fields",), "method: GET sends `fields` as the query string: give `fields`"
        seen: set[str] = set()
        for index, field in enumerate(self.fields or ()):
            where: Loc = ("fields", index, "to")
            if field.to in seen:
                yield where, f"{field.to!r} is given twice"
            seen.add(field.to)
            if self.format == "xml":
                for part in field.to.split("."):
                    if not _XML_NAME.match(part.removeprefix("@")):
                        yield where, f"{part!r} is not an XML name"

    @property
    def native(self) -> bool:
        """Whether this endpoint speaks the native protocol both ways (the fast path)."""
        return (
            self.fields is None
            and self.response is None
            and self.method == "POST"
            and not self.query
            and not self.headers
            and self.auth is None
            and self.sign is None
        )

    def url_for(self, test: bool) -> str:
        """A test lead goes to the sandbox when there is one."""
        return self.sandbox_url if test and self.sandbox_url else self.url

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Buyers often put their API key in the URL (?key=${BUYER_KEY}): never print it back.
        yield "url", masked_url(self.url)
        yield "timeout_ms", self.timeout_ms
        yield "method", self.method
        yield "format", self.format


DEFAULT_RETRY_S: tuple[float, ...] = (0, 30, 120, 600, 3600)  # at once, 30 s, 2 min, 10 min, 1 h


class Destination(Endpoint):
    """Where a sold lead goes besides the buyer's post (a CRM, a webhook, a dialer), or where a
    seller hears of its sale: an Endpoint (every dialect key applies) with a retry schedule.

    A destination answering 2xx has its lead. 410 disables it; 429 and 503 are retried after
    their `Retry-After`; another 4xx is dead-lettered at once; 5xx, timeouts and connection
    errors are retried on `retry_s` (the delay before each attempt, each ± `jitter`), then sent to
    `failover_url` on the same schedule, then dead-lettered."""

    id: str = Field("delivery", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    timeout_ms: int = Field(5000, ge=10, le=60_000)
    retry_s: tuple[float, ...] = Field(DEFAULT_RETRY_S, min_length=1, max_length=50)
    jitter: float = Field(0.1, ge=0, le=1)
    failover_url: str | None = Field(None, pattern=r"^https?://")

    @field_validator("retry_s")
    @classmethod
    def _delays(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(delay < 0 or delay > 7 * 86400 for delay in value):
            raise ValueError("each delay is 0 to 604800 seconds (7 days)")
        return value
