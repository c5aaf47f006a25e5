"""Probar's and Detectar's results as the console shows them: steps with labels, the advice
in words. Running them (permission, rate limit, audit, last result) is
``emisario.accounts.probing``'s; this module only presents."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import get_language

from emisario.accounts.models import SecurityChoice
from emisario.console import messages as texts
from emisario.console.advice_catalogue import advice_text, fault_text
from emisario.console.messages import (
    DETECT_PROPOSAL,
    DETECT_WARNINGS,
    EHLO_AFTER_STARTTLS,
    OAUTH_LABELS,
    SECURITY_IN_SENTENCE,
    SECURITY_LABELS,
    STATUS_LABELS,
    STEP_LABELS,
    TLS_LABELS,
    YES_NO,
)
from emisario.core.smtp.advice import Advice, Fault
from emisario.core.smtp.detect import Detection, DetectWarning
from emisario.core.smtp.endpoint import SecurityMode, security_from_checkbox
from emisario.core.smtp.steps import Diagnosis, StepResult

_SECONDS = re.compile(r"within the (\d+(?:\.\d+)?) s limit")
"""The deadline in diagnose's and detect's own text ("no answer within the 10 s limit")."""
_OPENSSL_REASON = re.compile(r"\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b")
"""OpenSSL's reason code (WRONG_VERSION_NUMBER): an identifier, the same in every language."""
_MODES = frozenset(mode.value for mode in SecurityMode)
_TLS_FAULTS = {
    Fault.TLS_WRONG_VERSION,
    Fault.TLS_PROTOCOL_VERSION,
    Fault.TLS_FAILED,
    Fault.STARTTLS_FAILED,
    Fault.CERT_UNTRUSTED,
    Fault.CERT_EXPIRED,
    Fault.CERT_HOSTNAME,
}


@dataclass
class StepView:
    step: str
    label: str
    status: str
    status_label: str
    elapsed_ms: float
    reply: str
    details: dict
    failed: bool
    facts: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Verdict:
    """A diagnosis ready for the template: steps with labels, and the advice in words."""

    ok: bool
    target: str
    security: str
    steps: list[StepView] = field(default_factory=list)
    title: str = ""
    fix: str = ""
    reply: str = ""
    failed_step: str = ""
    tested_at: str = ""
    stale: bool = False
    password_kept: bool = False
    """The typed password was kept for Guardar (see ``handover``)."""
    local_error: bool = False
    """The failure text is Emisario's own (no server reply code): not "the server's reply"."""
    proposal: tuple[int, str] | None = None
    """(port, security mode) the test saw work on this server, for the "Aplicar" button."""
    proposal_text: str = ""
    oauth_switch: str = ""
    """The provider whose reply says it takes OAuth instead of this password ("microsoft",
    "google"): the verdict offers the switch in one click."""


OAUTH_SWITCH = {
    Advice.M365_BASIC_AUTH_RETIRED: "microsoft",
    Advice.GMAIL_APP_PASSWORD_REQUIRED: "google",
    Advice.GMAIL_WEB_LOGIN_REQUIRED: "google",
    Advice.GMAIL_CREDENTIALS_REJECTED: "google",
}


def tls_facts(details: dict) -> list[tuple[str, str]]:
    """Protocol, cipher and certificate of the TLS step, as label/value rows."""
    session = details if details.get("protocol") else details.get("tls_probe") or {}
    certificate = session.get("certificate") or details.get("certificate") or {}
    rows = [
        (TLS_LABELS["protocol"], session.get("protocol")),
        (TLS_LABELS["cipher"], session.get("cipher")),
        (TLS_LABELS["subject"], certificate.get("subject")),
        (TLS_LABELS["issuer"], certificate.get("issuer")),
        (TLS_LABELS["not_after"], (certificate.get("not_after") or "")[:10]),
    ]
    if "hostname_match" in certificate:
        rows.append((TLS_LABELS["hostname_match"], YES_NO[bool(certificate["hostname_match"])]))
    return [(str(label), str(value)) for label, value in rows if value]


BEARER_MECHANISMS = ("XOAUTH2", "OAUTHBEARER")


def oauth_facts(details: dict) -> list[tuple[str, str]]:
    """The OAuth step's rows: for which mailbox, a stored or a fresh token, how long it
    lasts. Never the token."""
    if "mailbox" not in details:
        return []
    token = OAUTH_LABELS["refreshed" if details.get("refreshed") else "stored"]
    if details.get("refreshed_after_refusal"):
        token = OAUTH_LABELS["retried"]
    minutes = max(0, int(details.get("expires_in") or 0) // 60)
    return [
        (str(OAUTH_LABELS["mailbox"]), str(details["mailbox"])),
        (str(OAUTH_LABELS["token"]), str(token)),
        (str(OAUTH_LABELS["expires"]), str(OAUTH_LABELS["minutes"]) % {"minutes": minutes}),
    ]


def step_facts(result) -> list[tuple[str, str]]:
    if result.step.value == "tls":
        return tls_facts(result.details)
    if result.step.value == "oauth":
        return oauth_facts(result.details)
    if result.step.value == "auth" and result.details.get("mechanism") in BEARER_MECHANISMS:
        return [(str(OAUTH_LABELS["mechanism"]), str(result.details["mechanism"]))]
    return []


def advice_params(diagnosis: Diagnosis, data: dict) -> dict:
    """Values for the advice text's placeholders: the form's, then the failed step's facts."""
    sender = data.get("sender", "")
    params = {
        "host": data.get("host", ""),
        "port": data.get("port", ""),
        "sender": sender,
        "user": data.get("login") or sender,
        "recipient": sender,  # Probar sends the confirmation to the Usuario address
    }
    failure = diagnosis.failure
    if failure is not None:
        params.update({k: v for k, v in failure.details.items() if isinstance(v, str | int)})
    return params


def reply_text(result: StepResult, language: str) -> str:
    """What a step's reply line shows: the server's own reply verbatim (code and text), or,
    for a local failure, its technical detail worded in ``language`` from the fault. The
    stored diagnosis keeps the raw English text (audit); only the page changes."""
    if result.reply_code:
        return f"{result.reply_code} {result.reply_text}"
    fault = result.fault
    if fault is None and result.advice == Advice.DEADLINE_EXCEEDED:
        fault = Fault.DEADLINE  # detect's cancelled probe records no fault
    if fault is None:
        return result.reply_text  # a stored result from before faults were recorded
    return local_detail(result, fault, language)


def local_detail(result: StepResult, fault: str, language: str) -> str:
    details = result.details
    key = str(fault)
    params: dict = {}
    if fault == Fault.DEADLINE:
        seconds = _SECONDS.search(result.reply_text or "")
        if seconds:
            key, params["seconds"] = "deadline_seconds", seconds.group(1)
    text = fault_text(key, language, step=result.step.value, **params)
    facts: list[str] = []
    attempts = details.get("attempts") or []
    addresses = [
        str(a.get("address")) for a in attempts if isinstance(a, dict) and a.get("address")
    ]
    if addresses:
        facts.append(", ".join(addresses))
    if fault == Fault.TLS_PORT_DETECTED:
        protocol = (details.get("tls_probe") or {}).get("protocol")
        if protocol:
            facts.append(str(protocol))
    if fault in _TLS_FAULTS:
        reason = _OPENSSL_REASON.search(result.reply_text or "")
        if reason:
            facts.append(f"OpenSSL {reason.group(1)}")
    if fault == Fault.AUTH_MECHANISMS and details.get("offered"):
        facts.append("AUTH " + " ".join(str(m) for m in details["offered"]))
    if fault == Fault.UNEXPECTED and details.get("exception"):
        facts.append(str(details["exception"]))
    return f"{text} ({'; '.join(facts)})" if facts else text


def change_text(*, port: int, security: str, data: dict) -> str:
    """The exact change, in the form's own terms, that gives ``port`` and ``security``: the
    Seguridad choice (automatic when the SSL box and the port alone give that mode, as
    ``forms.values_with_connection`` fills it), the SSL box and the port."""
    mode = SecurityMode(security)
    current_ssl = data.get("ssl")
    if not isinstance(current_ssl, bool):
        ssl = texts.SSL_TICK if mode.encrypted else texts.SSL_UNTICK
    elif current_ssl is mode.encrypted:
        ssl = texts.SSL_KEEP_TICKED if mode.encrypted else texts.SSL_KEEP_UNTICKED
    else:
        ssl = texts.SSL_TICK if mode.encrypted else texts.SSL_UNTICK
    same_port = str(data.get("port", "")) == str(port)
    port_text = (texts.PORT_KEEP if same_port else texts.PORT_SET) % {"port": port}
    if security_from_checkbox(port=port, ssl=mode.encrypted) is mode:
        return str(texts.CHANGE_AUTOMATIC) % {
            "automatic": texts.SECURITY_AUTOMATIC,
            "ssl": ssl,
            "port": port_text,
        }
    return str(texts.CHANGE_EXPLICIT) % {
        "security": SecurityChoice(mode.value).label,
        "ssl": ssl,
        "port": port_text,
    }


def step_labels(diagnosis: Diagnosis) -> list[str]:
    """Each step's label; with STARTTLS the EHLO sent again after the upgrade is named as
    such, so the checklist never shows two identical lines."""
    labels, upgraded = [], False
    starttls = diagnosis.security == SecurityMode.STARTTLS.value
    for result in diagnosis.steps:
        if result.step.value == "ehlo" and upgraded:
            labels.append(str(EHLO_AFTER_STARTTLS))
            continue
        labels.append(str(STEP_LABELS.get(result.step.value, result.step.value)))
        upgraded = upgraded or (starttls and result.step.value == "tls")
    return labels


def verdict_of(diagnosis: Diagnosis, data: dict) -> Verdict:
    language = get_language() or settings.LANGUAGE_CODE
    verdict = Verdict(
        ok=diagnosis.ok,
        target=diagnosis.target,
        security=str(SECURITY_LABELS.get(diagnosis.security, diagnosis.security)),
        tested_at=data.get("tested_at", ""),
    )
    labels = step_labels(diagnosis)
    for result, label in zip(diagnosis.steps, labels, strict=True):
        verdict.steps.append(
            StepView(
                step=result.step.value,
                label=label,
                status=result.status.value,
                status_label=str(STATUS_LABELS[result.status.value]),
                elapsed_ms=round(result.elapsed_ms, 1),
                reply=reply_text(result, language),
                details=result.details,
                failed=result.status.value == "failed",
                facts=step_facts(result),
            )
        )
    failure = diagnosis.failure
    if failure is not None and failure.advice:
        verdict.title, verdict.fix = advice_text(
            failure.advice, language, **advice_params(diagnosis, data)
        )
        verdict.failed_step = labels[diagnosis.steps.index(failure)]
        if data.get("auth_method", "password") == "password":
            verdict.oauth_switch = OAUTH_SWITCH.get(Advice(failure.advice), "")
        verdict.reply = reply_text(failure, language)
        verdict.local_error = failure.reply_code is None
        proposal = diagnosis.proposal
        if proposal is not None and proposal.security in _MODES:
            # A combination this test saw work: say the exact change instead of a guess.
            verdict.proposal = (proposal.port, proposal.security)
            verdict.fix = change_text(port=proposal.port, security=proposal.security, data=data)
            verdict.proposal_text = str(texts.PROPOSAL_SEEN) % {
                "port": proposal.port,
                "security": SECURITY_IN_SENTENCE[proposal.security],
            }
    return verdict


@dataclass
class CandidateView:
    port: int
    security: str
    ok: bool
    tried: bool
    proposed: bool
    problem: str = ""
    allowed: bool = True

    @property
    def state(self) -> str:
        """The row's class: works, failed, untried (not needed) or not-allowed."""
        if not self.allowed:
            return "not-allowed"
        if self.ok:
            return "works"
        return "failed" if self.tried else "untried"


@dataclass
class DetectionView:
    """What Detectar found, ready for the template."""

    ok: bool
    candidates: list[CandidateView]
    proposal: tuple[int, str] | None
    proposal_text: str = ""
    headline: str = ""
    """The box's first line when nothing is proposed."""
    auth: Verdict | None = None
    warnings: list[str] = field(default_factory=list)


def _policy_refused(diagnosis: Diagnosis | None) -> bool:
    failure = diagnosis.failure if diagnosis is not None else None
    return failure is not None and failure.advice == Advice.POLICY_REFUSED


def detection_view(
    detection: Detection, data: dict, *, password_kept: bool = False
) -> DetectionView:
    """``password_kept``: the password Detectar checked is kept for the proposal (the text
    then says to press Probar, not to type it again)."""
    language = get_language() or settings.LANGUAGE_CODE
    proposal = detection.proposal
    rows = []
    for candidate in detection.candidates:
        problem = ""
        failure = candidate.diagnosis.failure if candidate.diagnosis else None
        if failure is not None and failure.advice:
            problem = advice_text(
                failure.advice,
                language,
                **advice_params(candidate.diagnosis, {**data, "port": candidate.port}),
            )[0]
        rows.append(
            CandidateView(
                port=candidate.port,
                security=str(SECURITY_LABELS[candidate.security.value]),
                ok=candidate.ok,
                tried=candidate.diagnosis is not None,
                proposed=candidate is proposal,
                problem=problem,
            )
        )
    for port, security in detection.not_allowed:
        rows.append(
            CandidateView(
                port=port,
                security=str(SECURITY_LABELS[security.value]),
                ok=False,
                tried=False,
                proposed=False,
                problem=str(texts.DETECT_NOT_ALLOWED_ROW),
                allowed=False,
            )
        )
    warnings = list(detection.warnings)
    refused = [c for c in detection.candidates if _policy_refused(c.diagnosis)]
    nothing_allowed = (
        proposal is None
        and len(refused) == len(detection.candidates)
        and bool(refused or detection.not_allowed)
    )
    if nothing_allowed:
        # Not "no port answered": none was asked (the port, or the address, is refused by
        # the policy; which one stays unsaid, as in Probar). Say who decided, and what to ask.
        warnings = [
            w
            for w in warnings
            if w not in (DetectWarning.NOTHING_WORKED, DetectWarning.PORTS_NOT_ALLOWED)
        ]
    view = DetectionView(
        ok=detection.ok,
        candidates=rows,
        proposal=(proposal.port, proposal.security.value) if proposal else None,
        warnings=[str(DETECT_WARNINGS[w.value]) for w in warnings],
    )
    if nothing_allowed:
        ports = sorted(
            {port for port, _security in detection.not_allowed}
            | {candidate.port for candidate in refused}
        )
        view.headline = str(texts.DETECT_NOTHING_ALLOWED) % {
            "ports": ", ".join(str(port) for port in ports)
        }
    else:
        view.headline = str(texts.DETECT_NOTHING_WORKED)
    if proposal is not None:
        template = texts.DETECT_PROPOSAL_KEPT if password_kept else DETECT_PROPOSAL
        view.proposal_text = str(template) % {
            "port": proposal.port,
            "security": SECURITY_IN_SENTENCE[proposal.security.value],
        }
    if detection.auth is not None:
        view.auth = verdict_of(detection.auth, {**data, "port": proposal.port if proposal else ""})
    return view
