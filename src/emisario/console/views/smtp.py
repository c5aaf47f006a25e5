"""The seed's screen: CXC => Sistema => Envío de correos => SMTP, and its twin route
Emisario => Sistema => Configuración => SMTP. Both reach this one view."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods, require_POST

from emisario.accounts import permissions
from emisario.accounts.models import Company, SmtpAccount
from emisario.accounts.selectors import companies_for_user, type_groups
from emisario.accounts.services import (
    PasswordMustBeRetyped,
    RateLimited,
    account_delete,
    account_record_test,
    account_save,
    effective_password,
    password_for_detection,
)
from emisario.console import handover, providers
from emisario.console import messages as texts
from emisario.console.access import forbidden_page, requires
from emisario.console.forms import SCOPE_SYSTEM, AccountForm, values_with_connection
from emisario.console.probe import (
    detection_view,
    last_test_of,
    run_detect,
    run_probe,
    test_summary,
    verdict_of,
)
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


def _company(request, companies) -> Company | None:
    code = request.POST.get("empresa") or request.GET.get("empresa")
    if not code:
        return companies[0] if companies else None
    for company in companies:
        if company.code == code:
            return company
    raise Http404("company")  # another company's, or none: indistinguishable on purpose


def _account(request, company: Company | None) -> SmtpAccount | None:
    raw = request.POST.get("cuenta") or request.GET.get("cuenta")
    if not raw:
        return None
    try:
        account = SmtpAccount.objects.select_related("company", "account_type").get(pk=int(raw))
    except (ValueError, SmtpAccount.DoesNotExist):
        raise Http404("account") from None
    if not account.is_system and (company is None or account.company_id != company.pk):
        raise Http404("account")
    return account


def _posted_values(request) -> dict:
    values = {name: request.POST.get(name, "") for name in AccountForm.base_fields}
    values.update({flag: flag in request.POST for flag in FLAGS})
    return values


PASSWORD_ERRORS = {
    PasswordMustBeRetyped: texts.PASSWORD_RETYPE,
    UndecryptableSecret: texts.UNREADABLE_PASSWORD,
}


def _password(form: AccountForm, lookup, **kwargs) -> tuple[Secret | None, bool]:
    """Which password a test or save may use; a refusal becomes an error on the field."""
    try:
        return lookup(**kwargs), True
    except (PasswordMustBeRetyped, UndecryptableSecret) as exc:
        form.add_error("password", PASSWORD_ERRORS[type(exc)])
        return None, False


def _unless_limited(request, run, **kwargs):
    """Run Probar or Detectar for the user, or say when they may try again."""
    try:
        return run(actor=request.user, **kwargs)
    except RateLimited as exc:
        messages.error(request, texts.RATE_LIMITED % {"seconds": exc.retry_after})
        return None


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
        saved = account_save(actor=request.user, account=account, data=data, typed_password=typed)
        if tested is not None:
            account_record_test(saved, tested.summary)
        handover.forget(request.session)
        messages.success(request, texts.SAVED)
        return None, redirect(screen_url(route, company, saved))
    diagnosis = _unless_limited(
        request, run_probe, company=company, account=account, data=data, password=password
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
            summary=test_summary(diagnosis),
        )
        verdict.password_kept = True
    return verdict, None


def _detect(request, form: AccountForm, account, company, form_kwargs):
    """Detectar: try the sensible ports and security modes of the typed server and put the one
    that works into the form. Needs only the server and the Usuario."""
    form.is_valid()
    if any(name in form.errors for name in DETECT_FIELDS):
        return form, None
    data = {name: form.cleaned_data.get(name, "") for name in DETECT_FIELDS}
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
        request, run_detect, company=company, account=account, data=data, password=password
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


@requires(permissions.EMISOPT)
@require_http_methods(["GET", "POST"])
def smtp_screen(request, route: str):
    user = request.user
    companies = list(companies_for_user(user))
    company = _company(request, companies)
    account = _account(request, company)
    can_system = permissions.can_manage_system_accounts(user)
    editable = account is None or permissions.can_change_account(user, account)
    verdict = detection = None
    form_kwargs = {"can_manage_system": can_system, "has_company": company is not None}

    if request.method == "POST":
        action = request.POST.get("action")
        if action not in ACTIONS:
            return HttpResponseBadRequest("unknown action")
        if not editable:
            return forbidden_page(request, permissions.PCSMTPG)
        wants_system = request.POST.get("scope") == SCOPE_SYSTEM or company is None
        if wants_system and not can_system:
            return forbidden_page(request, permissions.PCSMTPG)
        form = AccountForm(request.POST, **form_kwargs)
        if action == "proveedor":
            form = providers.form_with_preset(_posted_values(request), form_kwargs)
        elif action == "detectar":
            form, detection = _detect(request, form, account, company, form_kwargs)
        elif form.is_valid():
            verdict, done = _test_or_save(request, route, form, account, company)
            if done is not None:
                return done
    elif account is not None:
        form = AccountForm(initial=AccountForm.initial_for(account), **form_kwargs)
    else:
        form = AccountForm(**form_kwargs)

    groups = type_groups(company) if company is not None else []
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
def account_remove(request, route: str, pk: int):
    companies = list(companies_for_user(request.user))
    try:
        account = SmtpAccount.objects.select_related("company").get(pk=pk)
    except SmtpAccount.DoesNotExist:
        raise Http404("account") from None
    if not account.is_system and account.company not in companies:
        raise Http404("account")
    if not permissions.can_change_account(request.user, account):
        return forbidden_page(request, permissions.PCSMTPG)
    company = account.company
    account_delete(actor=request.user, account=account)
    messages.success(request, texts.DELETED)
    return redirect(screen_url(route, company))
