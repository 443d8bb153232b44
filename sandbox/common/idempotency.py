"""Idempotency keys, shared by the emulators whose real API has them (Xero, api-notes §5.5).

A key is kept for a configurable time from its first call. Inside that time the same request
(method, path, query and body) gets the stored response, errors included; a different request
with the same key is refused; a second call while the first is still running is refused too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from sandbox.models.common import IdempotencyRecord

KEY_COLUMN_LENGTH = IdempotencyRecord._meta.get_field("key").max_length


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    headers: dict
    body: bytes


@dataclass(frozen=True)
class IdempotencyClaim:
    """The outcome of presenting a key: ``record_id`` to complete, or a replay, or a conflict."""

    record_id: int | None = None
    replay: StoredResponse | None = None
    conflict: str = ""  # "different_request" or "in_progress"


def request_fingerprint(*, method: str, path: str, query: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def stored_key(key: str, *, fold_case: bool = True) -> str:
    """The key as stored: folded to lower case for systems whose keys ignore case (Xero), and
    hashed when longer than the column (TIMS keys run to 255 characters)."""
    if fold_case:
        key = key.lower()
    if len(key) > KEY_COLUMN_LENGTH:
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def idempotency_claim(
    *, system: str, scope: str, key: str, fingerprint: str, ttl_seconds: int, fold_case: bool = True
) -> IdempotencyClaim:
    """Claim ``key`` for this request, or say why it cannot run. ``fold_case``: Xero's keys are
    not case-sensitive; TIMS's are."""
    key = stored_key(key, fold_case=fold_case)
    now = timezone.now()
    with transaction.atomic():  # one commit: the expired record goes, the claim is taken
        IdempotencyRecord.objects.filter(system=system, scope=scope, key=key, expires_at__lte=now).delete()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    system=system,
                    scope=scope,
                    key=key,
                    fingerprint=fingerprint,
                    created_at=now,
                    expires_at=now + timedelta(seconds=ttl_seconds),
                )
            return IdempotencyClaim(record_id=record.pk)
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(system=system, scope=scope, key=key).first()
    if existing is None:  # expired and purged between the two statements: run it as new
        return idempotency_claim(
            system=system, scope=scope, key=key, fingerprint=fingerprint, ttl_seconds=ttl_seconds, fold_case=fold_case
        )
    if existing.fingerprint != fingerprint:
        return IdempotencyClaim(conflict="different_request")
    if existing.status_code is None:
        return IdempotencyClaim(conflict="in_progress")
    return IdempotencyClaim(
        replay=StoredResponse(existing.status_code, dict(existing.headers), bytes(existing.body))
    )


def idempotency_complete(*, record_id: int, status_code: int, headers: dict, body: bytes) -> None:
    IdempotencyRecord.objects.filter(pk=record_id).update(status_code=status_code, headers=headers, body=body)


def idempotency_abandon(*, record_id: int) -> None:
    """Forget a claim whose request crashed before it had a response to store."""
    IdempotencyRecord.objects.filter(pk=record_id, status_code__isnull=True).delete()
