"""What the ledger is sent (DESIGN §12): one `LeadRecord` per answered lead, one `AuditEntry` per
operator action. Plain, frozen data with one stored form each (bytes), so the outbox that carries
them (store/outbox/) and the ledger that files them (ledger/) agree without knowing each other.

A record is made once, by the router, when the lead's answer is known, and put in the outbox
before the seller hears it; the ledger files it later, idempotently by `id` (the lead's id, or the
audit entry's). It holds the lead's PII apart from its facts (`pii`), so the ledger can erase the
one and keep the other, and keyed hashes of the phone and email (`phone_hash`, `email_hash`: the
tree's dedup keys), so an operator finds a consumer's leads without the ledger keeping their phone
in clear once the PII is gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pingtree.core import jsonenc
from pingtree.core.lead import Lead, split_pii
from pingtree.core.outcome import Outcome, decode_outcome, encode_outcome


@dataclass(frozen=True, slots=True)
class LeadRecord:
    outcome: Outcome  # the answer, its sale (buyer, price, payout) and its trace (the calls)
    facts: dict[str, Any]  # the lead without PII: vertical, sub_id, state, zip, attributes…
    pii: dict[str, Any]  # name, phone, email, address…, PII attributes: erasable; {} once erased
    phone_hash: str | None = None
    email_hash: str | None = None
    # The outcome's stored form as the record carried it (decode_record): the ledger keeps it
    # as it came rather than encode the outcome a second time. None: encode `outcome`.
    outcome_text: str | None = field(default=None, compare=False, repr=False)

    @property
    def id(self) -> str:
        return self.outcome.id

    @classmethod
    def of(
        cls,
        outcome: Outcome,
        lead: Lead,
        *,
        pii_attributes: frozenset[str] = frozenset(),
        hashes: tuple[str, ...] = (),
    ) -> LeadRecord:
        """The record of `lead` answered with `outcome`; `hashes` are the tree's dedup keys of
        its phone and (if any) email, in that order (config/tree.py `dedup_keys`)."""
        facts, pii = split_pii(lead, pii_attributes)
        phone_hash = hashes[0] if hashes else None
        email_hash = hashes[1] if len(hashes) > 1 else None
        return cls(outcome, facts, pii, phone_hash, email_hash)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who did what when: `action` is a closed list (docs: operating.md), `target` what it acted
    on (a buyer id, a lead id, a job id; None for the whole router), `detail` what the action
    needs said (a reload's config diff, a pause's reason), never PII."""

    id: str
    at: str  # UTC RFC 3339, ms
    operator: str
    action: str  # reload · pause · resume · forget · replay · retry · return_approve …
    target: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def encode_record(record: LeadRecord) -> bytes:
    return jsonenc.dumps(
        {
            "outcome": encode_outcome(record.outcome).decode(),
            "facts": record.facts,
            "pii": record.pii,
            "phone_hash": record.phone_hash,
            "email_hash": record.email_hash,
        }
    )


def decode_record(data: bytes) -> LeadRecord:
    fields = jsonenc.loads(data)
    outcome_text = fields["outcome"]
    return LeadRecord(
        outcome=decode_outcome(outcome_text.encode()),
        facts=fields["facts"],
        pii=fields["pii"],
        phone_hash=fields["phone_hash"],
        email_hash=fields["email_hash"],
        outcome_text=outcome_text,
    )


def encode_audit(entry: AuditEntry) -> bytes:
    return jsonenc.dumps(
        {
            "id": entry.id,
            "at": entry.at,
            "operator": entry.operator,
            "action": entry.action,
            "target": entry.target,
            "detail": entry.detail,
        }
    )


def decode_audit(data: bytes) -> AuditEntry:
    return AuditEntry(**jsonenc.loads(data))
