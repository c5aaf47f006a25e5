"""A typed password never reaches an error report: Django's mail to ADMINS (text and HTML), the
DEBUG error page, or the log (django.request, django.template at DEBUG).

Each case forces an exception deep inside one password-handling path (Guardar and
account_save, Probar and its run, Detectar and its run, the Probar-then-Guardar handover in
both directions), with a distinctive password typed in the form.
"""

from __future__ import annotations

import logging
import sys

import pytest
from django.core import mail
from django.test import Client
from django.utils.log import AdminEmailHandler
from django.views.debug import ExceptionReporter, get_default_exception_reporter_filter

from emisario.accounts.models import AuditRecord, SmtpAccount
from emisario.console.error_reports import PasswordSafeReporterFilter
from emisario.core.secrets import SecretBox
from tests.console.test_permissions import CXC, form

PASSWORD = "Zq9-Distintiva-Clave-77"
CLOSED = 1  # nothing listens on port 1 of loopback: Probar and Detectar end at once


class ForcedFailure(RuntimeError):
    pass


def _fail(*args, **kwargs):
    raise ForcedFailure("forced failure for the error-report test")


def _fail_on_update(original):
    def save(self, *args, **kwargs):
        if kwargs.get("update_fields"):  # the run's result, written after the run
            _fail()
        return original(self, *args, **kwargs)

    return save


def typed(**extra):
    """The screen's form with the distinctive password, on the closed loopback port."""
    return form(port=str(CLOSED), password=PASSWORD, **extra)


def guardar(monkeypatch):
    monkeypatch.setattr(SmtpAccount, "save", _fail)  # inside account_save
    return [typed()]


def probar(monkeypatch):
    monkeypatch.setattr(AuditRecord, "save", _fail_on_update(AuditRecord.save))  # the run
    return [typed(action="probar")]


def detectar(monkeypatch):
    monkeypatch.setattr(AuditRecord, "save", _fail_on_update(AuditRecord.save))
    return [{**typed(action="detectar"), "port": ""}]


def handover_remember(monkeypatch):
    monkeypatch.setattr(SecretBox, "encrypt", _fail)  # Probar keeps the typed password
    return [typed(action="probar")]


def handover_recall(monkeypatch):
    """Probar first (normal), then Guardar with the field blank: the kept password is read."""
    first = typed(action="probar")

    def then_fail():
        monkeypatch.setattr(SecretBox, "decrypt", _fail)
        return {**typed(), "password": ""}

    return [first, then_fail]


PATHS = {
    "guardar": guardar,
    "probar": probar,
    "detectar": detectar,
    "handover-remember": handover_remember,
    "handover-recall": handover_recall,
}


@pytest.fixture
def report_settings(settings):
    settings.ADMINS = [("Admin", "admin@erp.example")]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.EMISARIO_PROBE_ALLOW = ["127.0.0.1"]
    settings.EMISARIO_PROBE_PORTS = [CLOSED]
    settings.EMISARIO_DETECT_COMBINATIONS = [f"{CLOSED}/starttls"]
    settings.EMISARIO_PROBE_DEADLINE = 2.0
    return settings


@pytest.fixture
def html_mail_handler():
    """Django's own mail handler with the HTML report attached, on the request logger."""
    handler = AdminEmailHandler(include_html=True)
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def _mail_text() -> str:
    parts = []
    for message in mail.outbox:
        parts += [message.subject, message.body, message.message().as_string()]
        parts += [str(content) for content, _mimetype in getattr(message, "alternatives", [])]
    return "\n".join(parts)


def _log_text(caplog) -> str:
    lines = []
    for record in caplog.records:
        lines.append(record.getMessage())
        lines.append(str(record.exc_text or ""))
        if record.exc_info and record.exc_info[1] is not None:
            lines.append(str(record.exc_info[1]))
    return "\n".join(lines) + caplog.text


def _run(client, steps) -> object:
    response = None
    for step in steps:
        data = step() if callable(step) else step
        response = client.post(CXC, data)
    return response


@pytest.mark.parametrize("debug", [False, True], ids=["admins-mail", "debug-page"])
@pytest.mark.parametrize("path", list(PATHS))
def test_forced_failure_reports_never_show_the_password(
    path, debug, roles, report_settings, html_mail_handler, monkeypatch, caplog
):
    report_settings.DEBUG = debug
    caplog.set_level(logging.DEBUG)
    for name in ("django.request", "django.template", "django"):
        caplog.set_level(logging.DEBUG, logger=name)
    client = Client(raise_request_exception=False)
    client.force_login(roles["full"])
    steps = PATHS[path](monkeypatch)
    response = _run(client, steps)

    assert response.status_code == 500
    body = response.content.decode()
    assert "ForcedFailure" in (body if debug else _mail_text())  # the report was produced
    assert mail.outbox, "the mail handler sent nothing"
    assert PASSWORD not in body
    assert PASSWORD not in _mail_text()
    assert PASSWORD not in _log_text(caplog)


def test_the_project_uses_the_password_safe_filter():
    assert isinstance(get_default_exception_reporter_filter(), PasswordSafeReporterFilter)


def _undecorated(password, token_de_acceso, values):
    """No ``sensitive_variables`` here: the filter must cleanse it by name anyway."""
    raise ForcedFailure("no decorators")


# Module constants, not literals next to the call: a report quotes the source lines around
# each frame, and those would contain the literal.
POSTED, IN_FRAME, IN_TOKEN, IN_DICT = (f"{n}-Secreta-{i}" for i, n in enumerate("PFTD"))


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_the_filter_cleanses_by_name_whatever_the_decorators_say(settings, rf, debug):
    settings.DEBUG = debug
    request = rf.post("/x/", {"contraseña": POSTED, "host": "smtp.acme.example"})
    try:
        _undecorated(IN_FRAME, IN_TOKEN, {"password": IN_DICT})
    except ForcedFailure:
        reporter = ExceptionReporter(request, *sys.exc_info())
    text = reporter.get_traceback_text() + reporter.get_traceback_html()
    for secret in (POSTED, IN_FRAME, IN_TOKEN, IN_DICT):
        assert secret not in text
    assert "smtp.acme.example" in text  # the rest of the report is still there


@pytest.fixture
def fresh_filter_cache():
    """Django caches the default reporter filter for the process and does not clear it when
    the setting changes: clear it around a test that swaps the filter, or every later test in
    the same worker would report with Django's filter."""
    get_default_exception_reporter_filter.cache_clear()
    yield
    get_default_exception_reporter_filter.cache_clear()


@pytest.mark.parametrize("path", list(PATHS))
def test_the_decorators_alone_keep_the_password_out_of_the_admins_mail(
    path, roles, report_settings, html_mail_handler, monkeypatch, caplog, fresh_filter_cache
):
    """With Django's own filter instead of ours, what protects the report is only
    ``sensitive_post_parameters`` / ``sensitive_variables`` (and ``Secret``'s masked repr):
    removing a decorator from a password path fails here."""
    report_settings.DEBUG = False
    report_settings.DEFAULT_EXCEPTION_REPORTER_FILTER = (
        "django.views.debug.SafeExceptionReporterFilter"
    )
    client = Client(raise_request_exception=False)
    client.force_login(roles["full"])
    response = _run(client, PATHS[path](monkeypatch))
    assert response.status_code == 500
    assert "ForcedFailure" in _mail_text()
    assert PASSWORD not in _mail_text()
    assert PASSWORD not in _log_text(caplog)
