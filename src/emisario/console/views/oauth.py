"""Conectar: an OAuth account's sign-in at Microsoft or Google, and the way back.

``connect`` (POST, CSRF, EMISOPT and the right to change the account) sends the browser to the
provider with a fresh state, nonce and PKCE verifier, kept in the user's server-side session
under the state, for one use and ten minutes. ``callback`` takes the state back, refuses
anything it does not know (another user's, a replay, an old one), checks again that this user
may change that account, exchanges the code, verifies the ID token (signature, issuer,
audience, nonce) and stores the grant only when the mailbox that signed in is the account's
Usuario. Tokens never reach a page, a message or a log line.
"""

from __future__ import annotations

import time

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_POST

from emisario.accounts import crypto, oauth, permissions
from emisario.accounts.models import AuditAction, AuditRecord, AuthMethod, OAuthGrant, SmtpAccount
from emisario.accounts.services import GRANT_FIELDS
from emisario.console import messages as texts
from emisario.console.access import requires
from emisario.console.views.errors import keys_required
from emisario.console.views.smtp import ROUTES, _answer_refusals, screen_url
from emisario.core.oauth import client as oauth_client
from emisario.core.oauth.bearer import BearerUnavailable
from emisario.core.secrets import UndecryptableSecret

PENDING = "emisario_oauth_pending"
PENDING_SECONDS = 600
PENDING_KEPT = 5
"""Sign-ins started and not finished that a session keeps (other tabs); the oldest go."""


def _changeable(user, pk: int) -> SmtpAccount:
    account = permissions.visible_accounts(user).filter(pk=pk).first()
    if account is None:  # missing, or another company's: the same 404
        raise permissions.NotFound("account")
    permissions.check_may_act(user, account=account, company=account.company)
    return account


def _provider_name(kind: str) -> str:
    return "Microsoft" if kind == "microsoft" else "Google"


@requires(permissions.EMISOPT)
@require_POST
@keys_required
@_answer_refusals
@sensitive_variables("start", "pending")
def connect(request, route: str, pk: int):
    if route not in ROUTES:
        raise Http404("route")
    account = _changeable(request.user, pk)
    back = screen_url(route, account.company, account)
    if account.auth_method != AuthMethod.OAUTH or not account.oauth_provider:
        messages.error(request, texts.OAUTH_SAVE_FIRST)
        return redirect(back)
    try:
        registered = oauth.registration(account.oauth_provider)
    except BearerUnavailable:
        provider = _provider_name(account.oauth_provider)
        messages.error(request, texts.OAUTH_NOT_CONFIGURED % {"provider": provider})
        return redirect(back)
    redirect_uri = request.build_absolute_uri(reverse("oauth_callback"))
    start = oauth_client.sign_in(
        registered.provider, registered.application, redirect_uri, login_hint=account.sender
    )
    now = time.time()
    pending = {
        state: entry
        for state, entry in dict(request.session.get(PENDING, {})).items()
        if now - entry.get("at", 0) < PENDING_SECONDS
    }
    pending[start.state] = {
        "account": account.pk,
        "bound": _bound(account),
        "user": request.user.pk,
        "provider": account.oauth_provider,
        "nonce": start.nonce,
        "verifier": start.code_verifier,
        "redirect_uri": redirect_uri,
        "route": route,
        "at": now,
    }
    newest = sorted(pending.items(), key=lambda item: item[1]["at"])[-PENDING_KEPT:]
    request.session[PENDING] = dict(newest)
    return HttpResponseRedirect(start.url)


@never_cache
@requires(permissions.EMISOPT)
@require_GET
@keys_required
@_answer_refusals
@sensitive_variables("pending", "entry", "tokens", "claims", "code")
def callback(request):
    state = request.GET.get("state", "")
    pending = dict(request.session.get(PENDING, {}))
    entry = pending.pop(state, None) if state else None
    request.session[PENDING] = pending  # one use, whatever happens next
    if (
        entry is None
        or entry.get("user") != request.user.pk
        or time.time() - entry.get("at", 0) >= PENDING_SECONDS
    ):
        messages.error(request, texts.OAUTH_EXPIRED_REQUEST)
        return redirect(reverse("console:menu"))
    account = _changeable(request.user, entry["account"])
    route = entry["route"] if entry.get("route") in ROUTES else "emisario"
    back = screen_url(route, account.company, account)
    provider_name = _provider_name(entry["provider"])
    if request.GET.get("error"):
        messages.warning(request, texts.OAUTH_CANCELLED % {"provider": provider_name})
        return redirect(back)
    if account.auth_method != AuthMethod.OAUTH or account.oauth_provider != entry["provider"]:
        messages.error(request, texts.OAUTH_SAVE_FIRST)
        return redirect(back)
    code = request.GET.get("code", "")
    try:
        registered = oauth.registration(entry["provider"])
        tokens = oauth_client.exchange_code(
            registered.provider,
            registered.application,
            code=code,
            redirect_uri=entry["redirect_uri"],
            code_verifier=entry["verifier"],
        )
        claims = oauth_client.verify_id_token(
            registered.provider, registered.application, tokens.id_token, nonce=entry["nonce"]
        )
    except oauth_client.TokenError as exc:
        messages.error(request, texts.OAUTH_REFUSED % {"reason": exc.error})
        return redirect(back)
    except BearerUnavailable:
        messages.error(request, texts.OAUTH_NOT_CONFIGURED % {"provider": provider_name})
        return redirect(back)
    mailbox = registered.provider.mailbox_from(claims)
    user_name = account.login or account.sender  # what XOAUTH2 will name
    if mailbox != user_name.lower():
        messages.error(
            request, texts.OAUTH_WRONG_MAILBOX % {"mailbox": mailbox or "?", "sender": user_name}
        )
        return redirect(back)
    with transaction.atomic():
        # The account as it is now, locked: the grant is stored only for the server, Usuario
        # and company Conectar was pressed for (someone may have saved others since).
        current = SmtpAccount.objects.select_for_update().filter(pk=account.pk).first()
        if current is None or _bound(current) != entry.get("bound"):
            messages.error(request, texts.OAUTH_ACCOUNT_CHANGED)
            return redirect(back)
        try:
            oauth.store_grant(current, tokens, mailbox=mailbox, claims=claims, user=request.user)
        except BearerUnavailable as exc:
            messages.error(request, texts.OAUTH_REFUSED % {"reason": exc.error})
            return redirect(back)
        _audit(request.user, current, AuditAction.CONNECT, {"oauth": ["", mailbox]})
    _lift_reconnect_pause(account)
    messages.success(
        request, texts.OAUTH_CONNECTED % {"provider": provider_name, "mailbox": mailbox}
    )
    return redirect(back)


@requires(permissions.EMISOPT)
@require_POST
@_answer_refusals
def disconnect(request, route: str, pk: int):
    if route not in ROUTES:
        raise Http404("route")
    account = _changeable(request.user, pk)
    grant = OAuthGrant.objects.filter(account=account).first()
    if grant is not None and not grant.app_only:
        _revoke_at_provider(grant)
    if oauth.disconnect(account):
        _audit(request.user, account, AuditAction.DISCONNECT, {"oauth": "disconnected"})
    messages.success(request, texts.OAUTH_DISCONNECTED)
    return redirect(screen_url(route, account.company, account))


def _bound(account: SmtpAccount) -> list:
    """What a grant is bound to (``services.GRANT_FIELDS`` and the owner), as stored."""
    return [str(getattr(account, name)) for name in GRANT_FIELDS] + [account.company_id]


@sensitive_variables("grant", "token")
def _revoke_at_provider(grant: OAuthGrant) -> None:
    """Google revokes the whole grant with its refresh token (Microsoft has no revocation
    endpoint: the grant is forgotten here, and the user can remove the consent there)."""
    try:
        token = crypto.decrypt(grant.refresh_token_token)
        registered = oauth.registration(grant.provider)
    except (UndecryptableSecret, BearerUnavailable):
        return
    oauth_client.revoke(registered.provider, token)


def _audit(user, account: SmtpAccount, action: str, changes: dict) -> None:
    AuditRecord.objects.create(
        actor=user,
        action=action,
        account=account,
        account_label=str(account),
        company=account.company,
        target=f"{account.host}:{account.port}",
        changes=changes,
    )


def _lift_reconnect_pause(account: SmtpAccount) -> None:
    """A pause CRONUS put on the account because its grant had died ends with the new one:
    the mail waiting for it goes out now, not when the pause would have ended."""
    from emisario.outbox.models import AccountHealth, health_key

    AccountHealth.objects.filter(key=health_key(account.pk), pause_reason="oauth_reconnect").update(
        paused_until=None, pause_reason=""
    )
