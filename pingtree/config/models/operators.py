"""`operators:` in buyers.yaml (DESIGN §13): who may use the operator API, each by a token of its
own, as an `admin` (everything) or a `viewer` (reads only: 403 on anything that changes state).
`router.admin_token` stays an admin named `admin`. Names and tokens are unique across both, so
the audit names one operator per token (checked in root.py with every other error at once)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from pingtree.config.checked import ConfigModel

Role = Literal["admin", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "viewer")
# The operator `router.admin_token` stands for: the audit names its actions so.
ADMIN_TOKEN_NAME = "admin"
# Shorter tokens are guessable by an online attacker; a token is an operator's whole identity.
MIN_TOKEN_CHARS = 16


@dataclass(frozen=True, slots=True)
class Operator:
    """Who is asking, once their token is known: what the audit names and the role decides."""

    name: str
    role: Role

    @property
    def admin(self) -> bool:
        return self.role == "admin"


class OperatorConfig(ConfigModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")
    token: SecretStr
    role: Role

    @field_validator("token")
    @classmethod
    def _token_long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_TOKEN_CHARS:
            raise ValueError(f"token must be at least {MIN_TOKEN_CHARS} characters")
        return value

    @property
    def operator(self) -> Operator:
        return Operator(self.name, self.role)


__all__ = ["ADMIN_TOKEN_NAME", "MIN_TOKEN_CHARS", "ROLES", "Operator", "OperatorConfig", "Role"]
