"""Detectar: find which port and security mode a server actually speaks.

The seed's advice is "try 25; Gmail uses 465 or 587; if none works, ask the administrator".
Detectar does that trying for the user: every sensible (port, mode) pair is tested at once,
each with the staged :func:`~emisario.core.smtp.diagnose.diagnose` stopped before
authentication, all under one deadline. The password is never part of that fan-out: it is
sent at most once, to the best *encrypted* pair, so a wrong password counts one failure
against the account's lockout and never crosses the network in plain text.

The port the user typed is tried first, in every mode: a provider's own port (Amazon SES
offers implicit TLS on 2465) is what the user means, so when it works it is the proposal.
"""

from __future__ import annotations

import asyncio
import enum
import ssl
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from emisario.core.addresses import (
    normalize_address,
    normalize_host,
    refuse_line_breaks,
)
from emisario.core.errors import InvalidValue
from emisario.core.netpolicy import NetworkPolicy, Resolver, SystemResolver
from emisario.core.oauth.bearer import AsyncBearerSource, BearerSource
from emisario.core.secrets import Secret
from emisario.core.smtp.advice import Advice
from emisario.core.smtp.diagnose import diagnose, session_check_stop
from emisario.core.smtp.endpoint import SecurityMode, SmtpEndpoint, validate_port
from emisario.core.smtp.steps import Diagnosis, Step, StepResult, StepStatus, step_order

Combination = tuple[int, SecurityMode]

DEFAULT_COMBINATIONS: tuple[Combination, ...] = (
    (465, SecurityMode.TLS),  # RFC 8314 prefers implicit TLS for submission
    (587, SecurityMode.STARTTLS),  # RFC 6409 submission
    (25, SecurityMode.STARTTLS),
    (2525, SecurityMode.STARTTLS),  # the unofficial port sending services open when 25 is blocked
    (25, SecurityMode.NONE),  # an internal relay with no TLS at all: offered only with a warning
)
"""Best first: among the pairs that work, encrypted ones win, then this order decides."""
TYPED_PORT_MODES = (SecurityMode.TLS, SecurityMode.STARTTLS, SecurityMode.NONE)
"""The modes tried on the port the user typed, ahead of ``combinations``."""

AUTH_SHARE = 0.4
"""Share of the deadline kept for the authenticated check when a password is given."""
GRACE = 1.0
"""Seconds past its own deadline a probe may take before it is cancelled (diagnose enforces
the deadline itself; this only guards against a probe that does not)."""


def fanout_stop(security: SecurityMode) -> Step:
    """Where a probe without credentials stops: after the EHLO that follows the encryption
    (:func:`~emisario.core.smtp.diagnose.session_check_stop`, which Probar's own check of the
    other mode uses too)."""
    return session_check_stop(security)


class DetectWarning(enum.StrEnum):
    """Something the user must know about the proposal. Values are stable codes the console
    translates; never rename one."""

    PLAIN_ONLY = "plain_only"
    """Only an unencrypted pair works: the password and the mail would cross the network in
    plain text. Acceptable for an internal relay, nowhere else."""
    PASSWORD_NOT_SENT = "password_not_sent"
    """A password was given but no encrypted pair works, so it was not tried at all."""
    NOTHING_WORKED = "nothing_worked"
    """No pair answered as an SMTP server: wrong host, or every port is blocked."""
    PORTS_NOT_ALLOWED = "ports_not_allowed"
    """Some pairs were not tried because the network policy does not allow their port."""


@dataclass(slots=True)
class Candidate:
    """One (port, mode) pair and what trying it showed."""

    port: int
    security: SecurityMode
    diagnosis: Diagnosis | None
    """``None`` when the pair was not tried to the end because a better one already worked."""

    @property
    def ok(self) -> bool:
        return self.diagnosis is not None and self.diagnosis.ok

    @property
    def encrypted(self) -> bool:
        return self.security.encrypted

    def as_dict(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "security": str(self.security),
            "ok": self.ok,
            "diagnosis": self.diagnosis.as_dict() if self.diagnosis else None,
        }


@dataclass(slots=True)
class Detection:
    """What Detectar found and what it proposes."""

    host: str
    candidates: list[Candidate]
    """Every pair tried, in the order of the combinations."""
    proposal: Candidate | None
    """The best pair that worked; plain only when nothing encrypted did (see ``warnings``)."""
    auth: Diagnosis | None
    """The one authenticated check on the proposal, when a password was given."""
    warnings: tuple[DetectWarning, ...] = ()
    not_allowed: tuple[Combination, ...] = ()
    """Pairs skipped because the network policy forbids their port."""
    elapsed_ms: float = 0.0

    @property
    def ok(self) -> bool:
        """A pair works and, if a password was checked, it was accepted."""
        return self.proposal is not None and (self.auth is None or self.auth.ok)

    def as_dict(self) -> dict[str, Any]:
        proposal = self.proposal
        return {
            "host": self.host,
            "ok": self.ok,
            "candidates": [candidate.as_dict() for candidate in self.candidates],
            "proposal": (
                {"port": proposal.port, "security": str(proposal.security)} if proposal else None
            ),
            "auth": self.auth.as_dict() if self.auth else None,
            "warnings": [str(warning) for warning in self.warnings],
            "not_allowed": [[port, str(security)] for port, security in self.not_allowed],
            "elapsed_ms": self.elapsed_ms,
        }


class _OnceResolver:
    """Resolves each name once for the whole detection: five concurrent probes ask one DNS
    question, and every probe (and the AUTH check) connects to the same checked answer."""

    def __init__(self, inner: Resolver) -> None:
        self._inner = inner
        self._answers: dict[str, asyncio.Task[list[str]]] = {}

    async def resolve(self, host: str, port: int) -> list[str]:
        task = self._answers.get(host)
        if task is None:
            task = asyncio.ensure_future(self._inner.resolve(host, port))
            self._answers[host] = task
        # shield: one probe's own DNS timeout must not cancel the lookup the others wait for
        return list(await asyncio.shield(task))

    def close(self) -> None:
        for task in self._answers.values():
            task.cancel()


@dataclass(frozen=True, slots=True)
class _Plan:
    host: str
    endpoints: list[SmtpEndpoint] = field(default_factory=list)
    not_allowed: list[Combination] = field(default_factory=list)


def _plan(
    *,
    host: str,
    sender: str,
    login: str,
    combinations: Iterable[Combination],
    policy: NetworkPolicy,
    port: int | None = None,
) -> _Plan:
    """Validate everything before any I/O; a bad host or sender raises ``InvalidValue``.
    ``port``, the one typed, comes first in each of :data:`TYPED_PORT_MODES`."""
    plan = _Plan(host=normalize_host(host, field="host"))
    normalize_address(sender, field="sender")
    seen: set[Combination] = set()
    typed: list[Combination] = []
    if port is not None:
        typed = [(validate_port(port), security) for security in TYPED_PORT_MODES]
    for number, security in [*typed, *combinations]:
        pair = (validate_port(number, field="combinations"), SecurityMode(security))
        if pair in seen:
            continue
        seen.add(pair)
        endpoint = SmtpEndpoint(
            host=host, port=pair[0], security=pair[1], sender=sender, login=login
        )
        if pair[0] in policy.allowed_ports:
            plan.endpoints.append(endpoint)
        else:
            plan.not_allowed.append(pair)
    if not plan.endpoints and not plan.not_allowed:
        raise ValueError("detect() needs at least one (port, security) combination")
    return plan


def rank(candidate: Candidate, position: int) -> tuple[bool, int]:
    """Sort key, lower is better: encrypted before plain, then the combinations' order."""
    return (not candidate.encrypted, position)


def _out_of_time(endpoint: SmtpEndpoint, seconds: float) -> Diagnosis:
    """The verdict of a probe cancelled at the shared deadline."""
    failed = StepResult(
        step=Step.CONNECT,
        status=StepStatus.FAILED,
        reply_text=f"no answer within the {seconds:g} s limit",
        advice=str(Advice.DEADLINE_EXCEEDED),
    )
    steps = [
        failed if step is Step.CONNECT else StepResult(step=step, status=StepStatus.SKIPPED)
        for step in step_order(endpoint.security)
    ]
    return Diagnosis(target=endpoint.target, security=str(endpoint.security), steps=steps)


async def detect(
    *,
    host: str,
    sender: str,
    login: str = "",
    password: Secret | None,
    policy: NetworkPolicy,
    deadline: float = 10.0,
    tls_context: ssl.SSLContext | None = None,
    resolver: Resolver | None = None,
    local_hostname: str | None = None,
    combinations: Sequence[Combination] = DEFAULT_COMBINATIONS,
    exhaustive: bool = False,
    port: int | None = None,
    bearer: BearerSource | AsyncBearerSource | None = None,
) -> Detection:
    """Try ``combinations`` on ``host`` concurrently and propose the best that works.

    ``bearer``: an OAuth account's token source, checked as a password is (once, on the best
    encrypted pair, XOAUTH2) instead of one.

    ``port`` is the one the user typed: it is tried first in every mode, so an encrypted pair
    on it wins over the usual ports. All of it, the AUTH check included, ends within
    ``deadline`` seconds. Unless ``exhaustive``, probes still running are cancelled as soon
    as no pending pair could beat one that already worked (a firewalled port 25 does not hold
    up a working 465).
    """
    started = time.monotonic()
    plan = _plan(
        host=host,
        sender=sender,
        login=login,
        combinations=combinations,
        policy=policy,
        port=port,
    )
    if password:
        refuse_line_breaks(password.reveal(), field="password")
    if password and bearer is not None:
        raise ValueError("detect() takes a password or a bearer source, not both")
    credential = bool(password) or bearer is not None
    if not deadline > 0:
        raise ValueError("detect() needs a positive deadline")
    warnings: list[DetectWarning] = []
    if plan.not_allowed:
        warnings.append(DetectWarning.PORTS_NOT_ALLOWED)
    fanout_seconds = deadline * (1 - AUTH_SHARE) if credential else deadline
    shared = _OnceResolver(resolver or SystemResolver())
    try:
        candidates = await _fan_out(
            plan.endpoints,
            seconds=fanout_seconds,
            exhaustive=exhaustive,
            policy=policy,
            tls_context=tls_context,
            resolver=shared,
            local_hostname=local_hostname,
        )
        ranked = sorted(
            (rank(candidate, position), candidate)
            for position, candidate in enumerate(candidates)
            if candidate.ok
        )
        working = [candidate for _key, candidate in ranked]
        encrypted = [candidate for candidate in working if candidate.encrypted]
        proposal = working[0] if working else None
        if proposal is None:
            warnings.append(DetectWarning.NOTHING_WORKED)
        elif not proposal.encrypted:
            warnings.append(DetectWarning.PLAIN_ONLY)
        auth: Diagnosis | None = None
        if credential:
            if encrypted:
                best = encrypted[0]
                left = max(0.05, deadline - (time.monotonic() - started))
                auth = await diagnose(
                    SmtpEndpoint(
                        host=host,
                        port=best.port,
                        security=best.security,
                        sender=sender,
                        login=login,
                        password=password or None,
                        bearer=bearer,
                    ),
                    recipient=sender,
                    message=None,
                    policy=policy,
                    deadline=left,
                    tls_context=tls_context,
                    resolver=shared,
                    local_hostname=local_hostname,
                    stop_after=Step.AUTH,
                    propose=False,  # Detectar's proposal is the pair its fan-out saw work
                )
            else:
                warnings.append(DetectWarning.PASSWORD_NOT_SENT)
    finally:
        shared.close()
    return Detection(
        host=plan.host,
        candidates=candidates,
        proposal=proposal,
        auth=auth,
        warnings=tuple(warnings),
        not_allowed=tuple(plan.not_allowed),
        elapsed_ms=round((time.monotonic() - started) * 1000, 1),
    )


async def _fan_out(
    endpoints: list[SmtpEndpoint],
    *,
    seconds: float,
    exhaustive: bool,
    policy: NetworkPolicy,
    tls_context: ssl.SSLContext | None,
    resolver: Resolver,
    local_hostname: str | None,
) -> list[Candidate]:
    """Run one probe per endpoint, without credentials; return them in the endpoints' order."""
    if not endpoints:
        return []
    tasks = {
        asyncio.ensure_future(
            diagnose(
                endpoint,  # built without a password: nothing to send, nothing to redact
                recipient=endpoint.sender,
                message=None,
                policy=policy,
                deadline=seconds,
                tls_context=tls_context,
                resolver=resolver,
                local_hostname=local_hostname,
                stop_after=fanout_stop(endpoint.security),
                propose=False,  # every mode is tried side by side anyway
            )
        ): position
        for position, endpoint in enumerate(endpoints)
    }
    results: list[Diagnosis | None] = [None] * len(endpoints)
    timed_out: set[int] = set()
    end = time.monotonic() + seconds + GRACE
    pending = set(tasks)
    try:
        while pending:
            done, pending = await asyncio.wait(
                pending,
                timeout=max(0.0, end - time.monotonic()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not done:
                timed_out = {tasks[task] for task in pending}
                break
            for task in done:
                results[tasks[task]] = task.result()
            if not exhaustive and _settled(endpoints, results, pending={tasks[t] for t in pending}):
                break
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
    return [
        Candidate(
            port=endpoint.port,
            security=endpoint.security,
            diagnosis=(
                _out_of_time(endpoint, seconds) if position in timed_out else results[position]
            ),
        )
        for position, endpoint in enumerate(endpoints)
    ]


def _settled(
    endpoints: list[SmtpEndpoint], results: list[Diagnosis | None], *, pending: set[int]
) -> bool:
    """True when a pair worked and every pair that could outrank it has finished."""
    finished = [
        (rank(Candidate(e.port, e.security, d), position), position)
        for position, (e, d) in enumerate(zip(endpoints, results, strict=True))
        if d is not None and d.ok
    ]
    if not finished:
        return False
    best_key, _ = min(finished)
    return all(
        rank(Candidate(endpoints[p].port, endpoints[p].security, None), p) > best_key
        for p in pending
    )


def parse_combinations(entries: Sequence[str]) -> tuple[Combination, ...]:
    """Read ``"587/starttls"`` entries (the setting ``EMISARIO_DETECT_COMBINATIONS``)."""
    combinations = []
    for entry in entries:
        port, _slash, mode = entry.strip().partition("/")
        try:
            combinations.append((validate_port(port), SecurityMode(mode.strip().lower())))
        except ValueError:
            raise InvalidValue("invalid_combination", field="combinations", value=entry) from None
    return tuple(combinations)
