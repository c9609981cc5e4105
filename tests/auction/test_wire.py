"""wire.py's secret values of an endpoint, and their masking in a buyer's words."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from pingtree.auction.wire import mask_secrets, secret_values
from pingtree.config import BuyerConfig

WHSEC = "whsec_" + base64.b64encode(b"a-buyer-signing-secret-32-bytes!").decode()


def _buyer(**ping: Any) -> BuyerConfig:
    return BuyerConfig.model_validate(
        {
            "id": "firm",
            "ping": {"url": "https://firm.example/ping", **ping},
            "post": {"url": "https://user:p%40ss-word@firm.example/post?token=url-token-1"},
        }
    )


@pytest.mark.parametrize(
    ("ping", "secrets", "kept"),
    [
        pytest.param(
            {"auth": {"type": "bearer", "token": "tok-123456"}},
            {"tok-123456"},
            set(),
            id="bearer",
        ),
        pytest.param(
            {"auth": {"type": "basic", "username": "pingtree", "password": "hunter22"}},
            {"hunter22", base64.b64encode(b"pingtree:hunter22").decode()},
            {"pingtree"},
            id="basic, and its header's base64",
        ),
        pytest.param(
            {"headers": {"X-Api-Key": "hdr-key-9", "X-Campaign": "spring-sale"}},
            {"hdr-key-9"},
            {"spring-sale"},
            id="secret-named headers only",
        ),
        pytest.param(
            {"query": {"campaign": "c-2024", "k": "abc"}},
            {"c-2024"},
            {"abc"},
            id="query values, not the too-short",
        ),
        pytest.param({"sign": {"secret": WHSEC}}, {WHSEC, WHSEC[6:]}, set(), id="signing secret"),
        pytest.param(
            {
                "query": {"key": "qk-55555", "state": {"from": "state"}},
                "headers": {"X-Token": "ht-66666", "X-Zip-Token": {"from": "zip"}},
            },
            {"qk-55555", "ht-66666"},
            set(),
            id="values read per lead are not the config's secrets",
        ),
    ],
)
def test_secret_values(ping: dict[str, Any], secrets: set[str], kept: set[str]) -> None:
    buyer = _buyer(**ping)
    assert buyer.ping is not None and buyer.post is not None
    found = secret_values(buyer.ping)
    assert secrets <= found and not kept & found
    assert all(isinstance(value, str) for value in found)
    assert {"p@ss-word", "url-token-1"} <= secret_values(buyer.post)  # the URL's own


def test_a_buyers_words_are_masked_with_either_endpoints_secrets() -> None:
    buyer = _buyer(auth={"type": "bearer", "token": "tok-123456"})
    words = "bad key TOK-123456 (Bearer tok-123456); url-token-1 expired; lead 42 refused"
    assert mask_secrets(words, buyer) == "bad key *** (Bearer ***); *** expired; lead 42 refused"
