"""The steps of an SMTP test and what each one reports.

Probar's verdict is a list of :class:`StepResult`: the console renders it as a checklist and the
audit log stores it as JSON (:meth:`Diagnosis.as_dict`), so everything here is plain data.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class Step(enum.StrEnum):
    """One stage of an SMTP session. The order a test runs them depends on the security mode:
    :func:`step_order` is the one place that says it."""

    POLICY = "policy"
    """The target is checked against the network policy (port allow list, address ranges)."""
    DNS = "dns"
    """The server name is resolved, once."""
    CONNECT = "connect"
    """A TCP connection to one of the checked addresses."""
    TLS = "tls"
    """The TLS handshake: implicit (first byte) or after STARTTLS."""
    GREETING = "greeting"
    """The server's 220 banner."""
    EHLO = "ehlo"
    """EHLO and the capabilities it announces."""
    OAUTH = "oauth"
    """An OAuth 2.0 account's access token, obtained or refreshed at the provider; listed only
    for such accounts (``step_order(..., oauth=True)``)."""
    AUTH = "auth"
    """Authentication (AUTH PLAIN/LOGIN, or XOAUTH2/OAUTHBEARER with a token)."""
    MAIL = "mail"
    """MAIL FROM: the sender is accepted."""
    RCPT = "rcpt"
    """RCPT TO: the recipient is accepted."""
    DATA = "data"
    """The confirmation mail is transferred and accepted."""


def step_order(security: str, *, oauth: bool = False) -> list[Step]:
    """The steps of a test in the order they happen, which is the order a diagnosis lists them.

    Implicit TLS shakes hands before the greeting (RFC 8314). STARTTLS comes after a first
    EHLO, and the EHLO is sent again over the new TLS session (RFC 3207 section 4.2: what was
    learnt in plain text is discarded), so :attr:`Step.EHLO` appears twice. A plain session
    lists TLS where STARTTLS would have run it, after the EHLO, never run: the checklist shows
    that the session was not encrypted at the point where it could have been. ``oauth``: the
    account signs in with a token, obtained just before AUTH.
    """
    order = _order(security)
    if not oauth:
        order.remove(Step.OAUTH)
    return order


def _order(security: str) -> list[Step]:
    if security == "none":
        order = list(Step)
        order.remove(Step.TLS)
        order.insert(order.index(Step.EHLO) + 1, Step.TLS)
        return order
    if security == "starttls":
        return [
            Step.POLICY,
            Step.DNS,
            Step.CONNECT,
            Step.GREETING,
            Step.EHLO,
            Step.TLS,
            Step.EHLO,
            Step.OAUTH,
            Step.AUTH,
            Step.MAIL,
            Step.RCPT,
            Step.DATA,
        ]
    return list(Step)


class StepStatus(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(slots=True)
class StepResult:
    """What one step did: status, time taken, the server's own reply and, on failure, advice."""

    step: Step
    status: StepStatus
    elapsed_ms: float = 0.0
    reply_code: int | None = None
    reply_text: str = ""
    """The server's reply (credentials redacted) or the local error text."""
    advice: str | None = None
    """An :class:`emisario.core.smtp.advice.Advice` value when the step failed."""
    fault: str | None = None
    """The :class:`emisario.core.smtp.advice.Fault` seen locally (no server reply), if any:
    the console words ``reply_text`` from it in the page's language."""
    details: dict[str, Any] = field(default_factory=dict)
    """Step-specific facts: TLS protocol and certificate, EHLO capabilities, chosen address."""


@dataclass(frozen=True, slots=True)
class Proposal:
    """A port and security mode the test *saw work* on this server (never a guess)."""

    port: int
    security: str
    """A :class:`emisario.core.smtp.endpoint.SecurityMode` value."""


@dataclass(slots=True)
class Diagnosis:
    """The result of a whole test."""

    target: str
    security: str
    steps: list[StepResult]
    elapsed_ms: float = 0.0
    proposal: Proposal | None = None
    """After a port/security mismatch: the combination on the same port that answered."""

    @property
    def ok(self) -> bool:
        return all(result.status is not StepStatus.FAILED for result in self.steps) and any(
            result.status is StepStatus.PASSED for result in self.steps
        )

    @property
    def failure(self) -> StepResult | None:
        return next((r for r in self.steps if r.status is StepStatus.FAILED), None)

    @property
    def advice(self) -> str | None:
        failure = self.failure
        return failure.advice if failure else None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Diagnosis:
        """Read :meth:`as_dict`'s output back, rows stored before STARTTLS listed its first
        EHLO included (see :func:`_unfold_starttls`)."""
        steps = [
            StepResult(
                step=Step(item["step"]),
                status=StepStatus(item["status"]),
                elapsed_ms=item.get("elapsed_ms", 0.0),
                reply_code=item.get("reply_code"),
                reply_text=item.get("reply_text", ""),
                advice=item.get("advice"),
                fault=item.get("fault"),
                details=item.get("details") or {},
            )
            for item in data.get("steps", [])
        ]
        security = data.get("security", "")
        if security == "starttls":
            steps = _unfold_starttls(steps)
        proposal = data.get("proposal")
        return cls(
            target=data.get("target", ""),
            security=security,
            steps=steps,
            elapsed_ms=data.get("elapsed_ms", 0.0),
            proposal=Proposal(int(proposal["port"]), str(proposal["security"]))
            if proposal
            else None,
        )


def _unfold_starttls(steps: list[StepResult]) -> list[StepResult]:
    """A STARTTLS diagnosis stored before both EHLOs were listed had one EHLO *after* TLS:
    the EHLO over TLS when the upgrade worked (the plain one kept in its
    ``details["before_starttls"]``), else the plain EHLO itself. Rebuild the order they
    happened in: GREETING, EHLO, TLS, EHLO."""
    kinds = [result.step for result in steps]
    if kinds.count(Step.EHLO) != 1 or Step.TLS not in kinds:
        return steps
    tls_at, ehlo_at = kinds.index(Step.TLS), kinds.index(Step.EHLO)
    if ehlo_at < tls_at:
        return steps  # already in the order things happened
    tls, ehlo = steps[tls_at], steps[ehlo_at]
    skipped_ehlo = StepResult(step=Step.EHLO, status=StepStatus.SKIPPED)
    if tls.status is StepStatus.PASSED:
        before = dict(ehlo.details.pop("before_starttls", None) or {})
        first = StepResult(step=Step.EHLO, status=StepStatus.PASSED, details=before)
        pair = [first, tls, ehlo]
    elif tls.status is StepStatus.FAILED or ehlo.status is not StepStatus.SKIPPED:
        pair = [ehlo, tls, skipped_ehlo]  # the EHLO shown was the one before STARTTLS
    else:
        pair = [skipped_ehlo, tls, skipped_ehlo]
    rest = [r for position, r in enumerate(steps) if position not in (tls_at, ehlo_at)]
    at = min(tls_at, ehlo_at)
    return [*rest[:at], *pair, *rest[at:]]
