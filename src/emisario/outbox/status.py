"""What ``emisario cronus --status`` prints: the queue as an operator watches it.

Queue depth per status, what is due now and how late the oldest due message is (the first
sign of workers that cannot keep up), per account the messages it carried by status, and each
account's shared state (pause switch, pause, circuit breaker).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Min, Q
from django.utils import timezone

from emisario.outbox.models import (
    DUE_STATUSES,
    AccountHealth,
    CompanyHold,
    MessageStatus,
    OutboundMessage,
)


def snapshot() -> dict[str, Any]:
    now = timezone.now()
    by_status = dict(
        OutboundMessage.objects.values_list("status").annotate(n=Count("id")).order_by()
    )
    due = OutboundMessage.objects.filter(status__in=DUE_STATUSES, next_attempt_at__lte=now)
    oldest = due.aggregate(at=Min("next_attempt_at"))["at"]
    stale = OutboundMessage.objects.filter(
        status=MessageStatus.SENDING, lease_expires_at__lt=now
    ).count()
    accounts: dict[str, dict[str, int]] = {}
    rows = (
        OutboundMessage.objects.exclude(account_used=None)
        .values_list("account_used__sender", "account_used__host", "account_used__port", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for sender, host, port, status, count in rows:
        accounts.setdefault(f"{sender} ({host}:{port})", {})[status] = count
    health = [
        {
            "account": str(row.account) if row.account_id else row.key,
            "switched_off": row.switched_off,
            "paused_until": row.paused_until.isoformat() if row.paused_until else None,
            "pause_reason": row.pause_reason or None,
            "breaker": row.breaker_state,
        }
        for row in AccountHealth.objects.select_related("account").filter(
            Q(switched_off=True) | Q(paused_until__gt=now) | ~Q(breaker_state="closed")
        )
    ]
    return {
        "statuses": {status: by_status.get(status, 0) for status in MessageStatus.values},
        "due_now": due.count(),
        "oldest_due_seconds": round((now - oldest).total_seconds(), 1) if oldest else None,
        "expired_leases": stale,
        "accounts": accounts,
        "account_health": health,
        "held_companies": list(
            CompanyHold.objects.values_list("company__code", flat=True).order_by("company__code")
        ),
    }


def render(data: dict[str, Any]) -> str:
    lines = ["Messages by status:"]
    lines += [f"  {status:<15} {count:>9}" for status, count in data["statuses"].items()]
    oldest = data["oldest_due_seconds"]
    lines.append(f"Due now: {data['due_now']}" + (f" (oldest {oldest:g} s late)" if oldest else ""))
    lines.append(f"Expired leases (workers that stopped): {data['expired_leases']}")
    if data["accounts"]:
        lines.append("By account:")
        for account, counts in sorted(data["accounts"].items()):
            detail = ", ".join(f"{s} {n}" for s, n in sorted(counts.items()))
            lines.append(f"  {account}: {detail}")
    for row in data["account_health"]:
        state = "switched off" if row["switched_off"] else f"breaker {row['breaker']}"
        if row["paused_until"]:
            state += f", paused until {row['paused_until']} ({row['pause_reason']})"
        lines.append(f"Account {row['account']}: {state}")
    if data["held_companies"]:
        lines.append("Companies paused: " + ", ".join(data["held_companies"]))
    return "\n".join(lines)
