"""Probar's and Detectar's results as the console shows them: steps with labels, the advice
in words. Running them (permission, rate limit, audit, last result) is
``emisario.accounts.probing``'s; this module only presents."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import get_language

from emisario.console.advice_catalogue import advice_text
from emisario.console.messages import (
    DETECT_PROPOSAL,
    DETECT_WARNINGS,
    SECURITY_LABELS,
    STATUS_LABELS,
    STEP_LABELS,
    TLS_LABELS,
    YES_NO,
)
from emisario.core.smtp.advice import SUGGESTED_PORTS, Advice
from emisario.core.smtp.detect import Detection
from emisario.core.smtp.steps import Diagnosis


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
        if failure.advice in SUGGESTED_PORTS:
            params["suggested_port"] = SUGGESTED_PORTS[Advice(failure.advice)]
    return params


def verdict_of(diagnosis: Diagnosis, data: dict) -> Verdict:
    language = get_language() or settings.LANGUAGE_CODE
    verdict = Verdict(
        ok=diagnosis.ok,
        target=diagnosis.target,
        security=str(SECURITY_LABELS.get(diagnosis.security, diagnosis.security)),
        tested_at=data.get("tested_at", ""),
    )
    for result in diagnosis.steps:
        verdict.steps.append(
            StepView(
                step=result.step.value,
                label=str(STEP_LABELS.get(result.step.value, result.step.value)),
                status=result.status.value,
                status_label=str(STATUS_LABELS[result.status.value]),
                elapsed_ms=round(result.elapsed_ms, 1),
                reply=(f"{result.reply_code} " if result.reply_code else "") + result.reply_text,
                details=result.details,
                failed=result.status.value == "failed",
                facts=tls_facts(result.details) if result.step.value == "tls" else [],
            )
        )
    failure = diagnosis.failure
    if failure is not None and failure.advice:
        verdict.title, verdict.fix = advice_text(
            failure.advice, language, **advice_params(diagnosis, data)
        )
        verdict.failed_step = str(STEP_LABELS.get(failure.step.value, failure.step.value))
        verdict.reply = (
            f"{failure.reply_code} " if failure.reply_code else ""
        ) + failure.reply_text
        verdict.local_error = failure.reply_code is None
    return verdict


@dataclass
class CandidateView:
    port: int
    security: str
    ok: bool
    tried: bool
    proposed: bool
    problem: str = ""


@dataclass
class DetectionView:
    """What Detectar found, ready for the template."""

    ok: bool
    candidates: list[CandidateView]
    proposal: tuple[int, str] | None
    proposal_text: str = ""
    auth: Verdict | None = None
    warnings: list[str] = field(default_factory=list)


def detection_view(detection: Detection, data: dict) -> DetectionView:
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
    view = DetectionView(
        ok=detection.ok,
        candidates=rows,
        proposal=(proposal.port, proposal.security.value) if proposal else None,
        warnings=[str(DETECT_WARNINGS[w.value]) for w in detection.warnings],
    )
    if proposal is not None:
        view.proposal_text = str(DETECT_PROPOSAL) % {
            "port": proposal.port,
            "security": SECURITY_LABELS[proposal.security.value],
        }
    if detection.auth is not None:
        view.auth = verdict_of(detection.auth, {**data, "port": proposal.port if proposal else ""})
    return view
