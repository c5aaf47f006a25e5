"""The seed's screen: CXC => Sistema => Envío de correos => SMTP, and its twin route
Emisario => Sistema => Configuración => SMTP. Both reach this one view.

The view parses the request and renders; who may do what (``accounts.permissions``), what
may be saved (``accounts.services``) and how a test runs (``accounts.probing``) are decided
below it, and their refusals become responses here: ``NotFound`` a 404, ``AccessDenied`` the
403 page naming the permission, ``TargetRefused`` an error on the field, ``SecretKeyError``
the page for the administrator (``views.errors.keys_required``).
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from emisario.accounts import crypto, permissions
from emisario.accounts.models import Company, SmtpAccount
from emisario.accounts.probing import (
    RateLimited,
    account_record_test,
    last_test_of,
    run_detect,
    run_probe,
    summary_of,
)
from emisario.accounts.selectors import type_groups
from emisario.accounts.services import (
    PasswordMustBeRetyped,
    TargetCheck,
    TargetRefused,
    account_delete,
    account_save,
    effective_password,
    password_for_detection,
)
from emisario.console import handover, providers
from emisario.console import messages as texts
from emisario.console.access import forbidden_page, requires
from emisario.console.advice_catalogue import advice_text
from emisario.console.forms import SCOPE_SYSTEM, AccountForm, values_with_connection
from emisario.console.probe import detection_view, verdict_of
from emisario.console.views.errors import keys_required
from emisario.core.secrets import Secret, UndecryptableSecret
from emisario.core.smtp.steps import Diagnosis

ROUTES = {
    "cxc": (_("CXC"), _("System"), _("Mail sending")),
    "emisario": (_("Emisario"), _("System"), _("Configuration")),
}
ACTIONS = {"probar", "guardar", "proveedor", "detectar"}
DETECT_FIELDS = {"host", "sender", "login", "password"}
FLAGS = ("ssl", "enabled")
SEED_FIELDS = ("host", "sender", "password", "port", "ssl")  # the seed's order
ADVANCED_FIELDS = (
    "security",
    "login",
    "display_name",
    "account_type",
    "priority",
    "enabled",
    "scope",
)


NEEDS_KEYS = {"probar", "guardar", "detectar"}
"""Actions that encrypt or read a password: without usable keys they stop before any work."""
SENSITIVE = ("password", "typed", "typed_password", "values", "kwargs")


def _answer_refusals(view):
    """The refusals of ``accounts.permissions`` as responses: another company's account or
    company is a plain 404 (indistinguishable from a missing one), a missing permission the
    403 page that names it."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except permissions.NotFound:
            raise Http404("not found") from None
        except permissions.AccessDenied as exc:
            return forbidden_page(request, exc.permission)

    return wrapper


def _parameter(request, name: str) -> str:
    return request.POST.get(name) or request.GET.get(name) or ""


def _account(request, company: Company | None) -> SmtpAccount | None:
    raw = _parameter(request, "cuenta")
    if not raw:
        return None
    try:
        pk = int(raw)
    except ValueError:
        raise Http404("account") from None
    return permissions.account_for(request.user, pk, company=company)


@sensitive_variables("values")
def _posted_values(request) -> dict:
    values = {name: request.POST.get(name, "") for name in AccountForm.base_fields}
    values.update({flag: flag in request.POST for flag in FLAGS})
    return values


PASSWORD_ERRORS = {
    PasswordMustBeRetyped: texts.PASSWORD_RETYPE,
    UndecryptableSecret: texts.UNREADABLE_PASSWORD,
}


@sensitive_variables(*SENSITIVE)
def _password(form: AccountForm, lookup, **kwargs) -> tuple[Secret | None, bool]:
    """Which password a test or save may use; a refusal becomes an error on the field."""
    try:
        return lookup(**kwargs), True
    except (PasswordMustBeRetyped, UndecryptableSecret) as exc:
        form.add_error("password", PASSWORD_ERRORS[type(exc)])
        return None, False


@sensitive_variables(*SENSITIVE)
def _unless_limited(request, run, **kwargs):
    """Run Probar or Detectar for the user, or say when they may try again."""
    try:
        return run(actor=request.user, **kwargs)
    except RateLimited as exc:
        messages.error(request, texts.RATE_LIMITED % {"seconds": exc.retry_after})
        return None


def _policy_refusal(form: AccountForm, exc: TargetRefused, data) -> None:
    """Probar's own words for a refused target, on the field at fault (Servidor SMTP or
    Puerto): the same whatever the reason, so a refusal does not tell what listens where."""
    language = get_language() or "es"
    title, fix = advice_text("policy_refused", language, host=data.host, port=data.port)
    form.add_error(exc.field, f"{title} {fix}")


@sensitive_variables(*SENSITIVE)
def _save(request, route, form: AccountForm, account, company, data, typed, tested):
    try:
        saved = account_save(actor=request.user, account=account, data=data, typed_password=typed)
    except TargetRefused as exc:
        _policy_refusal(form, exc, data)
        return None
    if tested is not None:
        account_record_test(saved.account, tested.summary)
    handover.forget(request.session)
    if saved.target is TargetCheck.UNRESOLVED:
        messages.warning(request, texts.SAVED_UNRESOLVED % {"host": data.host})
    else:
        messages.success(request, texts.SAVED)
    return redirect(screen_url(route, company, saved.account))


@sensitive_variables(*SENSITIVE)
def _test_or_save(request, route, form: AccountForm, account, company):
    """Probar or Guardar on a valid form. Returns (verdict, response): a response ends the
    request (Guardar redirects); otherwise the page is shown again with the verdict."""
    data = form.to_input(company)
    typed = form.typed_password()
    tested = None
    if typed is None and request.POST["action"] == "guardar":
        tested = handover.recall(request.session, account=account, data=data)
        typed = tested.password if tested else None
        if tested is None and account is None and handover.pending(request.session):
            # A password was tested, then the values changed: saving without one would
            # silently drop it.
            form.add_error("password", texts.PASSWORD_RETYPE)
            return None, None
    password, usable = _password(form, effective_password, account=account, data=data, typed=typed)
    if not usable:
        return None, None
    if request.POST["action"] == "guardar":
        return None, _save(request, route, form, account, company, data, typed, tested)
    diagnosis = _unless_limited(
        request,
        run_probe,
        account=account,
        data=data,
        password=password,
        language=get_language() or "es",
    )
    if diagnosis is None:
        return None, None
    verdict = verdict_of(diagnosis, form.cleaned_data)
    if form.typed_password() is not None:
        handover.remember(
            request.session,
            account=account,
            data=data,
            password=password,
            summary=summary_of(diagnosis),
        )
        verdict.password_kept = True
    return verdict, None


@sensitive_variables(*SENSITIVE)
def _detect(request, form: AccountForm, account, company, form_kwargs):
    """Detectar: try the sensible ports and security modes of the typed server and put the one
    that works into the form. Needs only the server and the Usuario."""
    form.is_valid()
    if any(name in form.errors for name in DETECT_FIELDS):
        return form, None
    # Never the typed password in a plain dict: it would show in an error report's frames.
    data = {name: form.cleaned_data.get(name, "") for name in DETECT_FIELDS - {"password"}}
    password, usable = _password(
        form,
        password_for_detection,
        account=account,
        host=data["host"],
        typed=form.typed_password(),
    )
    if not usable:
        return form, None
    detection = _unless_limited(
        request,
        run_detect,
        company=company,
        account=account,
        host=data["host"],
        sender=data["sender"],
        login=data.get("login", ""),
        password=password,
    )
    if detection is None:
        return form, None
    values = _posted_values(request)
    values.pop("password", None)
    if detection.proposal is not None:
        values = values_with_connection(
            values, port=detection.proposal.port, security=detection.proposal.security
        )
    return AccountForm(initial=values, **form_kwargs), detection_view(detection, data)


def last_verdict(account: SmtpAccount):
    """The account's last Probar, as a checklist, and whether it still describes the account."""
    last = last_test_of(account)
    if not last:
        return None
    verdict = verdict_of(Diagnosis.from_dict(last), {"host": account.host, "port": account.port})
    verdict.tested_at = last.get("tested_at", "")[:16].replace("T", " ")
    verdict.stale = last["stale"]
    return verdict


def screen_url(route: str, company: Company | None, account: SmtpAccount | None = None) -> str:
    url = reverse(f"console:smtp_{route}")
    query = []
    if company is not None:
        query.append(f"empresa={company.code}")
    if account is not None:
        query.append(f"cuenta={account.pk}")
    return url + ("?" + "&".join(query) if query else "")


@sensitive_post_parameters("password")
@requires(permissions.EMISOPT)
@require_http_methods(["GET", "POST"])
@keys_required
@_answer_refusals
@sensitive_variables(*SENSITIVE)
def smtp_screen(request, route: str):
    user = request.user
    companies = list(permissions.companies_for(user))
    company = permissions.company_for(user, _parameter(request, "empresa"))
    account = _account(request, company)
    can_system = permissions.can_manage_system_accounts(user)
    editable = account is None or permissions.can_change_account(user, account)
    verdict = detection = None
    form_kwargs = {"can_manage_system": can_system, "has_company": company is not None}

    if request.method == "POST":
        action = request.POST.get("action")
        if action not in ACTIONS:
            return HttpResponseBadRequest("unknown action")
        # Refuse before anything else (Proveedor included); the services check it again.
        owner = None if request.POST.get("scope") == SCOPE_SYSTEM else company
        permissions.check_may_act(user, account=account, company=owner)
        if action in NEEDS_KEYS:
            crypto.secret_box()  # SecretKeyError: the administrator's page, nothing done
        form = AccountForm(request.POST, **form_kwargs)
        if action == "proveedor":
            form = providers.form_with_preset(_posted_values(request), form_kwargs)
        elif action == "detectar":
            form, detection = _detect(request, form, account, owner, form_kwargs)
        elif form.is_valid():
            verdict, done = _test_or_save(request, route, form, account, company)
            if done is not None:
                return done
    elif account is not None:
        form = AccountForm(initial=AccountForm.initial_for(account), **form_kwargs)
    else:
        form = AccountForm(**form_kwargs)

    groups = type_groups(user, company) if company is not None else []
    for group in groups:
        group.reason = texts.resolution_reason(group)
        for item in group.company_accounts + group.system_accounts:
            item.last = last_test_of(item)
            item.editable = permissions.can_change_account(user, item)
    context = {
        "seed_fields": [form[name] for name in SEED_FIELDS],
        "advanced_fields": [form[name] for name in ADVANCED_FIELDS],
        "preset_hint": providers.preset_hint(form),
        "route": route,
        "crumbs": ROUTES[route],
        "companies": companies,
        "company": company,
        "account": account,
        "editable": editable,
        "can_system": can_system,
        "groups": groups,
        "form": form,
        "verdict": verdict,
        "detection": detection,
        "success_text": texts.SUCCESS,
        "last_verdict": last_verdict(account) if account and verdict is None else None,
    }
    return render(request, "emisario/smtp.html", context)


@requires(permissions.EMISOPT)
@require_POST
@_answer_refusals
def account_remove(request, route: str, pk: int):
    account = permissions.visible_accounts(request.user).filter(pk=pk).first()
    if account is None:  # missing, or another company's: the same 404
        raise Http404("account")
    company = account.company
    account_delete(actor=request.user, account=account)
    messages.success(request, texts.DELETED)
    return redirect(screen_url(route, company))
