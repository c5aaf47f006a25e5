"""The seed's form: Servidor SMTP, Usuario, Contraseña, Puerto, SSL, plus advanced fields."""

from __future__ import annotations

from django import forms
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from emisario.accounts.models import (
    AccountType,
    AuthMethod,
    Company,
    OAuthProvider,
    SecurityChoice,
    SmtpAccount,
)
from emisario.accounts.services import AccountInput
from emisario.console.messages import (
    APP_ONLY_MICROSOFT,
    INVALID_VALUE,
    OAUTH_NO_PASSWORD,
    OAUTH_PROVIDER_REQUIRED,
    SECURITY_AUTOMATIC,
    SSL_CONFLICT,
)
from emisario.console.preset_notes import preset_name
from emisario.core.addresses import (
    header_text,
    normalize_address,
    normalize_host,
    refuse_control_characters,
    refuse_line_breaks,
)
from emisario.core.errors import InvalidValue
from emisario.core.secrets import Secret
from emisario.core.smtp.endpoint import SecurityMode, security_from_checkbox, validate_port
from emisario.core.smtp.presets import PRESETS, LoginKind, Preset

AUTO = ""
SCOPE_COMPANY = "company"
SCOPE_SYSTEM = "system"


def _domain_check(function, value, **kwargs):
    try:
        return function(value, **kwargs)
    except InvalidValue as exc:
        raise forms.ValidationError(INVALID_VALUE.get(exc.code, exc.code), code=exc.code) from None


class AccountForm(forms.Form):
    preset = forms.ChoiceField(label=_("Provider"), required=False, choices=())
    host = forms.CharField(label=_("SMTP server"), max_length=253)
    sender = forms.CharField(label=_("User"), max_length=254, help_text=_("The From address."))
    auth_method = forms.ChoiceField(
        label=_("Authentication"),
        required=False,
        choices=AuthMethod.choices,
        initial=AuthMethod.PASSWORD,
        widget=forms.Select(attrs={"data-auth-method": ""}),
    )
    oauth_provider = forms.ChoiceField(
        label=_("OAuth provider"),
        required=False,
        choices=[("", "—"), *OAuthProvider.choices],
    )
    password = forms.CharField(
        label=_("Password"),
        required=False,
        strip=False,
        max_length=512,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    port = forms.CharField(label=_("Port"), max_length=5, initial="587")
    ssl = forms.BooleanField(label=_("SSL"), required=False, initial=True)
    security = forms.ChoiceField(
        label=_("Security"),
        required=False,
        choices=[(AUTO, SECURITY_AUTOMATIC), *SecurityChoice.choices],
    )
    login = forms.CharField(
        label=_("Login name"),
        required=False,
        max_length=254,
        help_text=_("Only if the server expects a different name (SendGrid: apikey)."),
    )
    display_name = forms.CharField(label=_("Display name"), required=False, max_length=200)
    account_type = forms.ModelChoiceField(
        label=_("Type"), queryset=AccountType.objects.order_by("code"), empty_label=None
    )
    priority = forms.IntegerField(
        label=_("Priority"),
        initial=0,
        min_value=-1_000_000,
        max_value=1_000_000,
        help_text=_("The highest number is used first."),
    )
    enabled = forms.BooleanField(label=_("Enabled"), required=False, initial=True)
    scope = forms.ChoiceField(
        label=_("Account of"),
        choices=[(SCOPE_COMPANY, _("the company")), (SCOPE_SYSTEM, _("the system (default)"))],
        initial=SCOPE_COMPANY,
    )

    def __init__(self, *args, can_manage_system: bool, has_company: bool, **kwargs):
        super().__init__(*args, **kwargs)
        language = get_language() or "es"
        self.fields["preset"].choices = [
            ("", _("Other / my company's server")),
            *((p.key, preset_name(p.key, language)) for p in PRESETS),
        ]
        self.fields["account_type"].initial = AccountType.objects.filter(code="INTERNO").first()
        if not can_manage_system:  # app-only sends as any mailbox the application may use
            self.fields["auth_method"].choices = [
                choice for choice in AuthMethod.choices if choice[0] != AuthMethod.OAUTH_APP
            ]
        if not can_manage_system:
            self.fields["scope"].choices = [(SCOPE_COMPANY, _("the company"))]
        elif not has_company:
            self.fields["scope"].choices = [(SCOPE_SYSTEM, _("the system (default)"))]
            self.fields["scope"].initial = SCOPE_SYSTEM

    @classmethod
    def initial_for(cls, account: SmtpAccount) -> dict:
        ssl = account.security != SecurityMode.NONE
        automatic = security_from_checkbox(port=account.port, ssl=ssl) == account.security
        return {
            "host": account.host,
            "sender": account.sender,
            "port": str(account.port),
            "ssl": ssl,
            "security": AUTO if automatic else account.security,
            "login": account.login,
            "display_name": account.display_name,
            "account_type": account.account_type,
            "priority": account.priority,
            "enabled": account.enabled,
            "scope": SCOPE_SYSTEM if account.is_system else SCOPE_COMPANY,
            "auth_method": account.auth_method,
            "oauth_provider": account.oauth_provider,
        }

    def clean_host(self):
        return _domain_check(normalize_host, self.cleaned_data["host"], field="host")

    def clean_sender(self):
        return _domain_check(normalize_address, self.cleaned_data["sender"], field="sender")

    def clean_port(self):
        return _domain_check(validate_port, self.cleaned_data["port"], field="port")

    def clean_login(self):
        return _domain_check(refuse_control_characters, self.cleaned_data["login"], field="login")

    def clean_display_name(self):
        return _domain_check(header_text, self.cleaned_data["display_name"], field="display_name")

    def clean_password(self):
        value = self.cleaned_data["password"]
        return _domain_check(refuse_line_breaks, value, field="password")

    def clean_auth_method(self):
        return self.cleaned_data.get("auth_method") or AuthMethod.PASSWORD

    def clean(self):
        data = super().clean()
        method = data.get("auth_method", AuthMethod.PASSWORD)
        if method != AuthMethod.PASSWORD:
            provider = data.get("oauth_provider") or ""
            if not provider:
                self.add_error("oauth_provider", OAUTH_PROVIDER_REQUIRED)
            elif method == AuthMethod.OAUTH_APP and provider != OAuthProvider.MICROSOFT:
                self.add_error("auth_method", APP_ONLY_MICROSOFT)
            if data.get("password"):
                self.add_error("password", OAUTH_NO_PASSWORD)
        if "port" in data:
            chosen = data.get("security") or AUTO
            if chosen == AUTO:
                data["security_mode"] = security_from_checkbox(
                    port=data["port"], ssl=data.get("ssl", False)
                )
            else:
                data["security_mode"] = SecurityMode(chosen)
                if data["security_mode"].encrypted != data.get("ssl", False):
                    # Two answers to one question: say so rather than silently pick one.
                    self.add_error("ssl", SSL_CONFLICT)
        return data

    def typed_password(self) -> Secret | None:
        value = self.cleaned_data.get("password") or ""
        return Secret(value) if value else None

    def to_input(self, company: Company | None) -> AccountInput:
        data = self.cleaned_data
        return AccountInput(
            company=company if data["scope"] == SCOPE_COMPANY else None,
            account_type=data["account_type"],
            priority=data["priority"],
            host=data["host"],
            port=data["port"],
            security=data["security_mode"],
            sender=data["sender"],
            login=data["login"],
            display_name=data["display_name"],
            enabled=data["enabled"],
            auth_method=data.get("auth_method") or AuthMethod.PASSWORD,
            oauth_provider=data.get("oauth_provider") or "",
        )


def values_with_connection(values: dict, *, port: int, security: SecurityMode) -> dict:
    """The form's values with another port and security mode, shown the way the form shows
    them (the SSL box, plus the advanced selector when the box alone cannot say it). The
    password is dropped: it is never rendered back into a page."""
    filled = {key: value for key, value in values.items() if key != "password"}
    automatic = security_from_checkbox(port=port, ssl=security.encrypted)
    filled.update(
        port=str(port),
        ssl=security.encrypted,
        security=AUTO if automatic == security else security.value,
    )
    return filled


def values_with_preset(values: dict, preset: Preset) -> dict:
    """The form's values with the provider's server, port, security and fixed login."""
    filled = values_with_connection(values, port=preset.port, security=preset.security)
    filled.update(preset=preset.key, host=preset.host)
    if preset.login_kind is LoginKind.FIXED:
        filled["login"] = preset.login_hint
    provider = OAUTH_PRESETS.get(preset.key)
    if provider is not None and values.get("auth_method") != AuthMethod.OAUTH_APP:
        # Microsoft retires passwords for SMTP and Google takes only app passwords: OAuth first
        filled.update(auth_method=AuthMethod.OAUTH, oauth_provider=provider)
    return filled


OAUTH_PRESETS = {
    "gmail": OAuthProvider.GOOGLE,
    "microsoft365": OAuthProvider.MICROSOFT,
    "outlook": OAuthProvider.MICROSOFT,
}
"""The providers whose accounts are offered OAuth 2.0 when their preset fills the form."""
