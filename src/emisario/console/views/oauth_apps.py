"""Aplicaciones OAuth: the registration of Emisario at Microsoft and Google (client id, secret,
Microsoft tenant), one per provider, for holders of PCSMTPG. The secret is encrypted like a
password and never shown again (blank keeps it); settings (``EMISARIO_OAUTH_*``) can give the
same instead, and the page says which one is in use."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods

from emisario.accounts import crypto, oauth, permissions
from emisario.accounts.models import AuditAction, AuditRecord, OAuthApplication, OAuthProvider
from emisario.console import messages as texts
from emisario.console.access import requires
from emisario.console.views.errors import keys_required
from emisario.console.views.smtp import ROUTES
from emisario.core.errors import InvalidValue
from emisario.core.oauth.bearer import BearerUnavailable
from emisario.core.oauth.providers import check_tenant
from emisario.core.secrets import Secret

_CLIENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}$"


class ApplicationForm(forms.Form):
    client_id = forms.RegexField(
        label=_("Client id"),
        regex=_CLIENT_ID,
        max_length=200,
        error_messages={"invalid": texts.OAUTH_CLIENT_ID_INVALID},
    )
    client_secret = forms.CharField(
        label=_("Client secret"),
        required=False,
        strip=True,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    tenant = forms.CharField(label=_("Tenant (directory id)"), required=False, max_length=253)

    def __init__(self, *args, provider: str, has_secret: bool, **kwargs):
        super().__init__(*args, prefix=provider, **kwargs)
        self.has_secret = has_secret
        if provider != OAuthProvider.MICROSOFT:
            del self.fields["tenant"]

    def clean_client_secret(self):
        value = self.cleaned_data["client_secret"]
        if any(c in value for c in "\r\n\0"):
            raise forms.ValidationError(texts.INVALID_VALUE["control_characters"])
        if not value and not self.has_secret:
            raise forms.ValidationError(texts.OAUTH_SECRET_REQUIRED)
        return value

    def clean_tenant(self):
        value = self.cleaned_data.get("tenant", "")
        if not value:
            return ""
        try:
            return check_tenant(value)
        except InvalidValue:
            raise forms.ValidationError(texts.OAUTH_TENANT_INVALID) from None


def _state(provider: str) -> dict:
    row = OAuthApplication.objects.filter(provider=provider).first()
    try:
        registered = oauth.registration(provider)
        source = "settings" if registered.from_settings else "console"
    except BearerUnavailable:
        source = "missing"
    return {"row": row, "source": source}


@sensitive_post_parameters("microsoft-client_secret", "google-client_secret")
@requires(permissions.EMISOPT)
@require_http_methods(["GET", "POST"])
@keys_required
@sensitive_variables("secret", "form")
def applications(request, route: str):
    if route not in ROUTES:
        raise Http404("route")
    if not permissions.can_manage_system_accounts(request.user):
        from emisario.console.access import forbidden_page

        return forbidden_page(request, permissions.PCSMTPG)
    states = {kind: _state(kind) for kind in OAuthProvider.values}
    forms_by_kind = {}
    for kind, state in states.items():
        row = state["row"]
        initial = {"client_id": row.client_id, "tenant": row.tenant} if row else {}
        bound = request.method == "POST" and request.POST.get("provider") == kind
        forms_by_kind[kind] = ApplicationForm(
            request.POST if bound else None,
            initial=initial,
            provider=kind,
            has_secret=bool(row and row.client_secret_token),
        )
    if request.method == "POST":
        kind = request.POST.get("provider", "")
        if kind not in forms_by_kind:
            raise Http404("provider")
        form = forms_by_kind[kind]
        if form.is_valid():
            _save(request.user, kind, states[kind]["row"], form.cleaned_data)
            messages.success(request, texts.OAUTH_APP_SAVED % {"provider": _label(kind)})
            return redirect(reverse("console:oauth_apps", args=[route]))
    context = {
        "route": route,
        "crumbs": ROUTES[route],
        "entries": [
            {
                "kind": kind,
                "label": _label(kind),
                "form": forms_by_kind[kind],
                "source": states[kind]["source"],
                "redirect_uri": request.build_absolute_uri(reverse("oauth_callback")),
            }
            for kind in OAuthProvider.values
        ],
        "back_url": reverse(f"console:smtp_{route}"),
    }
    return render(request, "emisario/oauth_apps.html", context)


def _label(kind: str) -> str:
    return str(OAuthProvider(kind).label)


@sensitive_variables("data", "secret")
def _save(user, kind: str, row: OAuthApplication | None, data: dict) -> None:
    secret = data["client_secret"]
    with transaction.atomic():
        if row is None:
            row = OAuthApplication(provider=kind)
        changes = {}
        if row.client_id != data["client_id"]:
            changes["client_id"] = [row.client_id or None, data["client_id"]]
        if row.tenant != data.get("tenant", ""):
            changes["tenant"] = [row.tenant or None, data.get("tenant", "")]
        row.client_id = data["client_id"]
        row.tenant = data.get("tenant", "")
        if secret:
            row.client_secret_token = crypto.encrypt(Secret(secret))
            changes["client_secret"] = "changed"  # the fact only, never the value
        row.updated_by = user
        row.save()
        AuditRecord.objects.create(
            actor=user,
            action=AuditAction.OAUTH_APP,
            account_label=_label(kind),
            target=kind,
            changes=changes,
        )
