"""`suppression:` in buyers.yaml (DESIGN §16): lists of phones or emails that must not be sold,
each from a CSV file of the operator's (a do-not-call or litigator list), matched on the lead's
normalized phone or email, for every buyer (`scope: all`: the lead is rejected) or for the buyers
named (they are skipped). The files are read by gates/suppression_file.py; here only whether
they are there. Ids unique and buyers known are checked across the file in root.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from pingtree.config.checked import ConfigModel

SuppressionMatch = Literal["phone", "email"]


class SuppressionList(ConfigModel):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    # A CSV of one value per line (optional header row), relative to the working directory as
    # the state file is. None: a list fed only at runtime (POST /admin/suppression/{id}).
    file: str | None = None
    match: SuppressionMatch
    scope: Literal["all"] | tuple[str, ...] = "all"

    @field_validator("file")
    @classmethod
    def _file_there(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("scope")
    @classmethod
    def _scope_names_buyers(
        cls, value: Literal["all"] | tuple[str, ...]
    ) -> Literal["all"] | tuple[str, ...]:
        if value != "all" and not value:
            raise ValueError("scope must be all or a list of buyer ids")
        return value

    @property
    def every_buyer(self) -> bool:
        return self.scope == "all"


__all__ = ["SuppressionList", "SuppressionMatch"]
