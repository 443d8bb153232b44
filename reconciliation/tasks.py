"""django-q2 tasks of the reconciliation: thin, each calls one service. Running one twice does
no harm: the pull upserts, the poster claims and looks up before it sends."""

from __future__ import annotations


def reconcile_pull_task(connection_id: int | None = None, full: bool = False) -> str:
    from reconciliation.services.ingest import reconciliation_pull

    return "; ".join(str(report) for report in reconciliation_pull(connection_id=connection_id, full=full))


def match_post_task(match_id: int) -> str:
    from reconciliation.services.posting import match_post

    match = match_post(match_id=match_id)
    return "not confirmed any more" if match is None else match.get_posting_status_display()


def postings_retry_task() -> int:
    from reconciliation.services.posting import postings_retry_due

    return postings_retry_due()
