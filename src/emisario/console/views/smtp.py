"""The seed's screen: CXC => Sistema => Envío de correos => SMTP, and its twin route
Emisario => Sistema => Configuración => SMTP. Both reach this one view.

The view parses the request and renders; who may do what (``accounts.permissions``), what
may be saved (``accounts.services``) and how a test runs (``accounts.probing``) are decided
below it, and their refusals become responses here: ``NotFound`` a 404, ``AccessDenied`` the
403 page naming the permission, ``TargetRefused`` an error on the field, ``SecretKeyError``
the page for the administrator (``views.errors.keys_required``).
"""

from __future__ import annotations

import dataclasses
from functools import wraps

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from emisario.accounts import crypto, permissions
from emisario.accounts.models import AuthMethod, Company, OAuthGrant, OAuthProvider, SmtpAccount
from emisario.accounts.probing import (
    RateLimited,
    account_record_test,
    bearer_for_detection,
    last_test_of,
    run_detect,
    run_probe,
    summary_of,
    tested_at,
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
from emisario.accounts.submissions import (
    Claim,
    new_token,
    submission_claim,
    submission_digest,
    submission_finish,
    submission_release,
)
from emisario.console import handover, providers
from emisario.console import messages as texts
from emisario.console.access import forbidden_page, requires
from emisario.console.advice_catalogue import advice_text
from emisario.console.forms import SCOPE_SYSTEM, AccountForm, values_with_connection
from emisario.console.probe import detection_view, verdict_of
from emisario.console.views.errors import keys_required
from emisario.core.errors import InvalidValue
from emisario.core.secrets import Secret, UndecryptableSecret
from emisario.core.smtp.endpoint import SecurityMode, validate_port
from emisario.core.smtp.steps import Diagnosis

ROUTES = {
    "cxc": (_("CXC"), _("System"), _("Mail sending")),
    "emisario": (_("Emisario"), _("System"), _("Configuration")),
}
ACTIONS = {"probar", "guardar", "proveedor", "detectar", "aplicar", "oauth"}
ONCE = {"probar", "guardar", "detectar"}
"""Actions that write or send: each claims the page's one-time token (``submissions``)."""
TOKEN_FIELD = "envio"
DETECT_FIELDS = {"host", "sender", "login", "password"}
FLAGS = ("ssl", "enabled")
SEED_FIELDS = ("host", "sender", "auth_method", "oauth_provider", "password", "port", "ssl")
"""The seed's order; how the account signs in comes before Contraseña, which OAuth replaces."""
ADVANCED_FIELDS = (
    "security",
    "login",
    "display_name",
    "account_type",
    "priority",
    "enabled",
    "scope",
)


NEEDS_KEYS = {"probar", "guardar", "detectar", "aplicar"}
"""Actions that encrypt or read a password: without usable keys they stop before any work."""
SENSITIVE = ("password", "typed", "typed_password", "values", "kwargs", "tested")

KEPT_FOR_SAVE = _("The password you tested is kept: press Save without typing it again.")
KEPT_FOR_RETRY = _(
    "The password you tested is kept for another test while the SMTP server, the User and the "
    "login name stay the same; type another one only to change it."
)
TESTED_PASSWORD_RETYPE = _(
    "Type the password again: the SMTP server, the User or the login name changed since the "
    "test, and the tested password is only used for the values it was typed for."
)
KEPT_REFUSED = _(
    "The server refused the password you tested: type the right one and press Test. Save "
    "without typing one keeps the refused password."
)
RETYPE_REFUSED = _(
    "The server refused this password in the last test: type it again (or the right one) to "
    "test it once more."
)
KEPT_FOR_TEST = _("The password you typed is kept: press Test without typing it again.")
REPEATED_SAVE = _(
    "This form had already been sent: the account was saved once, and this is the saved account."
)
REPEATED_TEST = _(
    "This test had already been started by the same form: its result is shown and no second "
    "mail was sent."
)
REPEATED_DETECT = _(
    "This detection had already been run by the same form: its proposal is in the form and "
    "nothing was tried again."
)
REPEATED_DELETE = _("This form had already been sent: the account was deleted once.")
STILL_RUNNING = _(
    "This form was already sent and is still being processed (a test can take a few "
    "seconds), so nothing was done twice. Wait a few seconds and open this screen again from "
    "the menu; do not reload the page, which sends the same form once more."
)
PROPOSAL_INVALID = _(
    "The proposal could not be applied: it must be a port from 1 to 65535 and a security "
    "mode. Nothing was changed."
)
PROPOSAL_STALE = _(
    "That proposal does not come from your last test of these values, so it was not applied. "
    "Press Test again."
)
PROPOSAL_APPLIED = _(
    "Proposal applied: Port %(port)s, Security %(security)s. Press Test to check it."
)
PRESET_FILLED = _("Filled in with the settings of %(provider)s: %(changes)s.")
PRESET_ALREADY = _("The form already holds the settings of %(provider)s: nothing changed.")
PRESET_PASSWORD = _(
    "The password you typed cannot be shown again: type it again before pressing Test or Save."
)


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
def _claim(request, action: str, **submitted) -> Claim | None:
    """Claim the page's one-time token for ``action`` and what was ``submitted`` with it (the
    account, company, values and typed password of ``submission_digest``): the same page sent
    with other values is another submission. None when the request carries no token: a client
    other than the page (the page always sends one), which gets no protection."""
    token = request.POST.get(TOKEN_FIELD, "")
    if not token or len(token) > 64:
        return None
    digest = submission_digest(action, **submitted)
    return submission_claim(actor=request.user, token=token, action=action, digest=digest)


def _release(claim: Claim | None) -> None:
    if claim is not None:
        submission_release(claim)


def _finish(claim: Claim | None, result: dict) -> None:
    """Store what a repeat shows. Inside the work's transaction where there is one (Guardar,
    Eliminar): then the work and its result are kept together or not at all. After a side
    effect outside the database (Probar's mail, Detectar's tries) a failure here must not
    release the claim: a repeat would do it again."""
    if claim is not None:
        submission_finish(claim, result)


@sensitive_variables(*SENSITIVE)
def _save(request, route, form: AccountForm, account, company, data, typed, tested, claim=None):
    """Guardar. Call it outside any transaction: account_save resolves the server first, then
    opens its own, in which ``kept`` records the test and finishes ``claim`` with the save."""

    def kept(saved):
        if tested is not None and tested.summary is not None:
            account_record_test(saved.account, tested.summary)
        _finish(claim, {"redirect": screen_url(route, company, saved.account)})

    try:
        saved = account_save(
            actor=request.user, account=account, data=data, typed_password=typed, on_saved=kept
        )
    except TargetRefused as exc:
        _policy_refusal(form, exc, data)
        return None
    handover.forget(request.session)
    last = last_test_of(saved.account)
    if saved.target is TargetCheck.UNRESOLVED:
        messages.warning(request, texts.SAVED_UNRESOLVED % {"host": data.host})
    elif not last or last["stale"] or not last.get("ok"):
        # Saved as asked, but nothing shows it can send: say so while the user is here.
        messages.warning(request, texts.SAVED_UNTESTED)
    else:
        messages.success(request, texts.SAVED)
    return redirect(screen_url(route, company, saved.account))


@sensitive_variables(*SENSITIVE)
def _test_or_save(request, route, form: AccountForm, account, company):
    """Probar or Guardar on a valid form. Returns (verdict, password hint, response): a
    response ends the request (Guardar redirects); otherwise the page is shown again."""
    action = request.POST["action"]
    session = request.session
    data = form.to_input(company)
    typed = form.typed_password()
    tested = handover.recall(session, account=account, data=data)
    retyped = tested is not None and typed is not None
    if retyped and not handover.same_password(typed, tested.password):
        tested = None  # another password: the kept result does not describe it
    if tested is not None and not handover.still_current(tested, account):
        tested = None  # a stored password kept for Aplicar, changed since by someone else
    # The user typed it (now, or earlier for these same server, Usuario and login): only
    # then does it follow port and security changes and earn the "kept" hints.
    kept = typed is not None or (
        tested is not None and tested.password is not None and tested.typed
    )
    if action == "probar" and typed is None and tested and tested.refused:
        # Never resend a refused password unasked: each try counts against the lockout.
        form.add_error("password", RETYPE_REFUSED)
        return None, None, None
    if typed is None and tested is not None:
        typed = tested.password
    if typed is None and account is None and handover.pending(session):
        # A password was tested, then the values changed: going on without one would
        # silently drop it.
        form.add_error("password", TESTED_PASSWORD_RETYPE)
        return None, None, None
    password, usable = _password(form, effective_password, account=account, data=data, typed=typed)
    if not usable:
        return None, None, None
    claim = _claim(
        request,
        action,
        account=account,
        company=company,
        values={name: value for name, value in form.cleaned_data.items() if name != "password"},
        password=password,  # the one used, typed or kept: a replay must be of the same
    )
    if claim is not None and not claim.first:
        return _repeated(request, action, claim, form, account, data, password, kept)
    try:
        if action == "guardar":
            # Saved and finished together (in account_save's own transaction, after its DNS
            # lookup), or neither.
            response = _save(request, route, form, account, company, data, typed, tested, claim)
        else:
            diagnosis = _unless_limited(
                request,
                run_probe,
                account=account,
                data=data,
                password=password,
                language=get_language() or "es",
            )
    except BaseException:
        _release(claim)
        raise
    if action == "guardar":
        if response is None:
            _release(claim)
        return None, None, response
    if diagnosis is None:  # too many tests: keep what was typed for the retry it asks for
        _release(claim)
        if form.typed_password() is not None:
            if tested is None or tested.summary is None:  # a retyped tested one keeps its result
                handover.remember(
                    request.session, account=account, data=data, password=password, summary=None
                )
            return None, KEPT_FOR_TEST, None
        return None, None, None
    # The mail is sent: from here on a failure keeps the claim, so a repeat does not resend.
    summary = summary_of(diagnosis)
    _finish(claim, {"diagnosis": summary})
    return _tested(request, form, account, data, password, kept, diagnosis, summary)


@sensitive_variables(*SENSITIVE)
def _tested(request, form, account, data, password, kept, diagnosis, summary):
    """Show a test's verdict and keep what was tested for Guardar, another Probar or the
    proposal (see ``handover``). The hint says what the kept password is good for: Guardar
    only after a test that passed."""
    # A saved account's stored password is kept only when Aplicar may need it.
    keep = password if kept or diagnosis.proposal is not None else None
    handover.remember(
        request.session,
        account=account,
        data=data,
        password=keep,
        summary=summary,
        typed=kept,
        refused=handover.password_refused(summary),
    )
    verdict = verdict_of(diagnosis, form.cleaned_data)
    hint = None
    if kept:
        verdict.password_kept = diagnosis.ok
        if diagnosis.ok:
            hint = KEPT_FOR_SAVE
        elif handover.password_refused(summary):
            hint = KEPT_REFUSED
        else:
            hint = KEPT_FOR_RETRY
    return verdict, hint, None


@sensitive_variables(*SENSITIVE)
def _repeated(request, action, claim: Claim, form, account, data, password, kept):
    """The same form sent again (a double click): show what the first one did, never do it
    twice."""
    result = claim.result
    if result is None:
        messages.warning(request, STILL_RUNNING)
        return None, None, None
    if action == "guardar":
        handover.forget(request.session)
        messages.info(request, REPEATED_SAVE)
        return None, None, redirect(result["redirect"])
    messages.info(request, REPEATED_TEST)
    summary = result["diagnosis"]
    diagnosis = Diagnosis.from_dict(summary)
    return _tested(request, form, account, data, password, kept, diagnosis, summary)


@sensitive_variables(*SENSITIVE)
def _detect(request, form: AccountForm, account, company, form_kwargs):
    """Detectar: try the sensible ports and security modes of the typed server and put the one
    that works into the form. Needs only the server and the Usuario."""
    form.is_valid()
    if any(name in form.errors for name in DETECT_FIELDS):
        return form, None, None
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
        return form, None, None
    values = _posted_values(request)
    values.pop("password", None)
    claim = _claim(
        request,
        "detectar",
        account=account,
        company=company,
        values=values,
        password=form.typed_password(),
    )
    if claim is not None and not claim.first:
        if claim.result is None:
            messages.warning(request, STILL_RUNNING)
            return form, None, None
        messages.info(request, REPEATED_DETECT)
        found = claim.result.get("proposal")
        if found:
            values = values_with_connection(values, port=found[0], security=SecurityMode(found[1]))
        return AccountForm(initial=values, **form_kwargs), None, None
    bearer = None
    if (form.cleaned_data.get("auth_method") or AuthMethod.PASSWORD) != AuthMethod.PASSWORD:
        password = None  # an OAuth account's check is its token, if it is connected
        bearer = bearer_for_detection(
            account,
            host=data["host"],
            sender=data["sender"],
            login=data.get("login", ""),
            provider=form.cleaned_data.get("oauth_provider") or "",
        )
    try:
        detection = _unless_limited(
            request,
            run_detect,
            company=company,
            account=account,
            host=data["host"],
            sender=data["sender"],
            login=data.get("login", ""),
            password=password,
            port=form.cleaned_data.get("port"),  # the typed port is tried first
            bearer=bearer,
        )
    except BaseException:
        _release(claim)
        raise
    if detection is None:
        _release(claim)
        return form, None, None
    proposal = detection.proposal
    # Tried already: from here on a failure keeps the claim, so a repeat does not try again.
    _finish(claim, {"proposal": [proposal.port, proposal.security.value] if proposal else None})
    hint = None
    if proposal is not None:
        values = values_with_connection(values, port=proposal.port, security=proposal.security)
        kept = _keep_checked_password(request, form, account, company, detection, password)
        if kept and form.typed_password() is not None:
            hint = KEPT_FOR_TEST  # a saved account's own password needs no hint
    else:
        kept = False
    view = detection_view(detection, data, password_kept=kept)
    return AccountForm(initial=values, **form_kwargs), view, hint


@sensitive_variables(*SENSITIVE)
def _keep_checked_password(request, form, account, company, detection, password) -> bool:
    """A password Detectar's check accepted is kept for the proposal's values, as Aplicar
    keeps a tested one: the user presses Probar instead of typing it again. Only when the
    whole form is valid (the kept password is bound to its values)."""
    auth = detection.auth
    if password is None or auth is None or not auth.ok or form.errors:
        return False
    proposal = detection.proposal
    data = dataclasses.replace(
        form.to_input(company), port=proposal.port, security=proposal.security
    )
    handover.remember(
        request.session,
        account=account,
        data=data,
        password=password,
        summary=None,
        typed=form.typed_password() is not None,
    )
    return True


def _proposal_value(raw: str) -> tuple[int, SecurityMode] | None:
    """``<port>:<security>`` as posted by the verdict's button, or None if it is not one."""
    port, _sep, security = raw.partition(":")
    try:
        return validate_port(port, field="port"), SecurityMode(security)
    except (InvalidValue, ValueError):
        return None


@sensitive_variables(*SENSITIVE)
def _apply(request, form: AccountForm, account, company, form_kwargs):
    """Aplicar: put the port and security the last test proposed into the form. Only the
    proposal of this user's last test of these very values is accepted (it is a combination
    the test saw work, not whatever a request says); the tested password is kept for the
    proposal's values, so Probar can run straight away without retyping it."""
    values = _posted_values(request)
    values.pop("password", None)
    proposal = _proposal_value(request.POST.get("propuesta", ""))
    if proposal is None:
        messages.error(request, PROPOSAL_INVALID)
        return AccountForm(initial=values, **form_kwargs), None
    if not form.is_valid():
        return form, None  # the fields' own errors say what to fix
    port, security = proposal
    data = form.to_input(company)
    tested = handover.recall(request.session, account=account, data=data)
    if tested is None or handover.proposal(tested.summary) != (port, security.value):
        messages.error(request, PROPOSAL_STALE)
        return AccountForm(initial=values, **form_kwargs), None
    typed = form.typed_password()
    password = typed if typed is not None else tested.password
    hint = None
    if password is not None:
        moved = dataclasses.replace(data, port=port, security=security)
        by_user = typed is not None or tested.typed
        handover.rebind(
            request.session,
            account=account,
            tested=handover.Tested(password, None, typed=by_user, refused=tested.refused),
            data=moved,
        )
        hint = KEPT_FOR_TEST if by_user else None
    messages.success(
        request,
        PROPOSAL_APPLIED % {"port": port, "security": texts.SECURITY_LABELS[security.value]},
    )
    filled = values_with_connection(values, port=port, security=security)
    return AccountForm(initial=filled, **form_kwargs), hint


def _switch_to_oauth(request, form_kwargs) -> AccountForm:
    """The verdict's "Cambiar a OAuth 2.0" (Microsoft retired passwords, Gmail wants an app
    password): the same values with OAuth and the provider, no password. Nothing is saved:
    the user presses Guardar, then Conectar."""
    values = _posted_values(request)
    values.pop("password", None)
    provider = request.POST.get("proveedor_oauth", "")
    if provider not in OAuthProvider.values:
        provider = OAuthProvider.MICROSOFT
    values.update(auth_method=AuthMethod.OAUTH, oauth_provider=provider)
    name = "Microsoft" if provider == OAuthProvider.MICROSOFT else "Google"
    messages.info(request, texts.OAUTH_SWITCHED % {"provider": name})
    return AccountForm(initial=values, **form_kwargs)


def _fill_in(request, form_kwargs) -> AccountForm:
    """Proveedor: the provider's fixed settings, and a message naming each value it changed
    (never a silent overwrite); a typed password cannot be shown again, so it says that too."""
    values = _posted_values(request)
    form, preset, changes = providers.form_with_preset(values, form_kwargs)
    if preset is not None:
        name = providers.preset_name_of(preset)
        if changes:
            listed = "; ".join(f"{label}: {old} → {new}" for label, old, new in changes)
            messages.info(request, PRESET_FILLED % {"provider": name, "changes": listed})
        else:
            messages.info(request, PRESET_ALREADY % {"provider": name})
    if values.get("password"):
        messages.warning(request, PRESET_PASSWORD)
    return form


def advanced_open(form: AccountForm) -> bool:
    """Open "Opciones avanzadas" only when something in it needs the user's eyes: an error on
    one of its fields, or a value that changes how the account works (a security mode chosen
    by hand, a login name, the account disabled). An error on Servidor SMTP does not."""
    if any(form[name].errors for name in ADVANCED_FIELDS):
        return True
    login = form["login"].value() or ""
    return bool(form["security"].value()) or bool(login.strip()) or not form["enabled"].value()


def last_verdict(account: SmtpAccount):
    """The account's last Probar, as a checklist, and whether it still describes the account."""
    last = last_test_of(account)
    if not last:
        return None
    verdict = verdict_of(Diagnosis.from_dict(last), {"host": account.host, "port": account.port})
    verdict.tested_at = tested_at(last)  # aware: templates show it in the configured zone
    verdict.stale = last["stale"]
    return verdict


def _oauth_state(account: SmtpAccount, grant: OAuthGrant | None = None) -> str:
    """An OAuth account's sign-in: connected, not_connected, reconnect or app_only ("" for a
    password account). ``grant``: the account's, when the caller has read it already."""
    if not account.uses_oauth:
        return ""
    if account.auth_method == AuthMethod.OAUTH_APP:
        return "app_only"
    if grant is None:
        grant = OAuthGrant.objects.filter(account=account).only("status").first()
    if grant is None:
        return "not_connected"
    return "reconnect" if grant.needs_reconnect else "connected"


def oauth_panel(route: str, account: SmtpAccount | None, editable: bool) -> dict | None:
    """What the screen says about an OAuth account's sign-in, and its Conectar button."""
    if account is None or not account.uses_oauth:
        return None
    grant = OAuthGrant.objects.filter(account=account).first()
    provider = "Microsoft" if account.oauth_provider == "microsoft" else "Google"
    return {
        "state": _oauth_state(account, grant),
        "provider": provider,
        "grant": grant,
        "app_only": account.auth_method == AuthMethod.OAUTH_APP,
        "can_connect": editable and account.auth_method == AuthMethod.OAUTH,
        "connect_label": texts.CONNECT_WITH % {"provider": provider},
        "connect_url": reverse("console:oauth_connect", args=[route, account.pk]),
        "disconnect_url": reverse("console:oauth_disconnect", args=[route, account.pk]),
    }


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
    verdict = detection = hint = None
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
            form = _fill_in(request, form_kwargs)
        elif action == "oauth":
            form = _switch_to_oauth(request, form_kwargs)
        elif action == "detectar":
            form, detection, hint = _detect(request, form, account, owner, form_kwargs)
        elif action == "aplicar":
            form, hint = _apply(request, form, account, company, form_kwargs)
        elif form.is_valid():
            verdict, hint, done = _test_or_save(request, route, form, account, company)
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
            item.last_at = tested_at(item.last)
            item.editable = permissions.can_change_account(user, item)
            item.oauth_state = _oauth_state(item)
    context = {
        "seed_fields": [form[name] for name in SEED_FIELDS],
        "advanced_fields": [form[name] for name in ADVANCED_FIELDS],
        "advanced_open": advanced_open(form),
        "password_hint": hint,
        "submission_token": new_token(),
        "history_url": reverse(f"console:history_{route}"),
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
        "oauth_panel": oauth_panel(route, account, editable),
        "auth_is_oauth": (form["auth_method"].value() or AuthMethod.PASSWORD)
        != AuthMethod.PASSWORD,
    }
    return render(request, "emisario/smtp.html", context)


@requires(permissions.EMISOPT)
@require_POST
@_answer_refusals
def account_remove(request, route: str, pk: int):
    account = permissions.visible_accounts(request.user).filter(pk=pk).first()
    company = account.company if account is not None else None
    url = screen_url(route, company)
    claim = _claim(request, "eliminar", account=pk)
    if claim is not None and not claim.first:  # the same form again: it is gone already
        if claim.result is None:  # still deleting: the account is still there, and its company
            messages.warning(request, STILL_RUNNING)
            return redirect(url)
        messages.info(request, REPEATED_DELETE)
        return redirect(claim.result["redirect"])
    try:
        if account is None:  # missing, or another company's: the same 404
            raise Http404("account")
        with transaction.atomic():  # deleted and finished together, or neither
            account_delete(actor=request.user, account=account)
            _finish(claim, {"redirect": url})
    except BaseException:
        _release(claim)
        raise
    handover.forget(request.session)  # a password kept for the deleted account goes with it
    messages.success(request, texts.DELETED)
    return redirect(url)
