"""Stored accounts. Rules live in ``emisario.core``; this module only persists."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from emisario.core.accounts import DEFAULT_TYPE, AccountRow
from emisario.core.smtp.endpoint import SecurityMode


class Company(models.Model):
    code = models.CharField(
        _("code"),
        max_length=20,
        unique=True,
        validators=[RegexValidator(r"^[A-Z0-9_-]+$", _("Use capital letters, digits, - or _."))],
    )
    name = models.CharField(_("name"), max_length=200)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="companies", blank=True, verbose_name=_("members")
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("company")
        verbose_name_plural = _("companies")

    def __str__(self) -> str:
        return f"{self.code} - {self.name}"


class AccountTypeQuerySet(models.QuerySet):
    def delete(self):
        if self.filter(code=DEFAULT_TYPE).exists():
            raise models.ProtectedError(f"{DEFAULT_TYPE} cannot be deleted", set())
        return super().delete()


class AccountType(models.Model):
    """A catalog of account types; ``INTERNO`` comes from the first migration and is the one
    CRONUS looks for."""

    code = models.CharField(
        _("code"),
        max_length=30,
        unique=True,
        validators=[RegexValidator(r"^[A-Z0-9_]+$", _("Use capital letters, digits or _."))],
    )
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)

    objects = AccountTypeQuerySet.as_manager()

    class Meta:
        ordering = ["code"]
        verbose_name = _("account type")
        verbose_name_plural = _("account types")

    def __str__(self) -> str:
        return self.code

    @property
    def protected(self) -> bool:
        return self.code == DEFAULT_TYPE

    def delete(self, *args, **kwargs):
        if self.protected:
            raise models.ProtectedError(f"{DEFAULT_TYPE} cannot be deleted", {self})
        return super().delete(*args, **kwargs)


class SecurityChoice(models.TextChoices):
    NONE = SecurityMode.NONE.value, _("None (plain text)")
    STARTTLS = SecurityMode.STARTTLS.value, _("STARTTLS")
    TLS = SecurityMode.TLS.value, _("SSL/TLS (implicit)")


class AuthMethod(models.TextChoices):
    PASSWORD = "password", _("Password")
    OAUTH = "oauth", _("OAuth 2.0 (sign in with the provider)")
    OAUTH_APP = "oauth_app", _("OAuth 2.0, app-only (shared mailbox)")


class OAuthProvider(models.TextChoices):
    MICROSOFT = "microsoft", "Microsoft 365"
    GOOGLE = "google", "Google Workspace / Gmail"


class SmtpAccount(models.Model):
    """An SMTP account. ``company`` empty means a *system default account*."""

    company = models.ForeignKey(
        Company,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="smtp_accounts",
        verbose_name=_("company"),
    )
    account_type = models.ForeignKey(
        AccountType, on_delete=models.PROTECT, related_name="accounts", verbose_name=_("type")
    )
    priority = models.IntegerField(
        _("priority"),
        default=0,
        validators=[MinValueValidator(-1_000_000), MaxValueValidator(1_000_000)],
        help_text=_("The highest number is used first."),
    )
    host = models.CharField(_("SMTP server"), max_length=253)
    port = models.PositiveIntegerField(
        _("port"), validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    security = models.CharField(_("security"), max_length=10, choices=SecurityChoice.choices)
    sender = models.CharField(_("user"), max_length=254, help_text=_("The From address."))
    login = models.CharField(_("login name"), max_length=254, blank=True)
    password_token = models.TextField(_("encrypted password"), blank=True, editable=False)
    auth_method = models.CharField(
        _("authentication"), max_length=10, choices=AuthMethod.choices, default=AuthMethod.PASSWORD
    )
    oauth_provider = models.CharField(
        _("OAuth provider"), max_length=10, choices=OAuthProvider.choices, blank=True
    )
    display_name = models.CharField(_("display name"), max_length=200, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    last_test = models.JSONField(_("last test"), null=True, blank=True, editable=False)
    last_test_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["account_type__code", "-priority", "created_at", "id"]
        verbose_name = _("SMTP account")
        verbose_name_plural = _("SMTP accounts")
        permissions = [
            ("EMISOPT", _("Can open the mail configuration screen (EMISOPT)")),
            ("PCSMTPG", _("Can change the system's default SMTP accounts (PCSMTPG)")),
        ]
        indexes = [
            models.Index(
                fields=["company", "account_type", "enabled", "-priority"],
                name="smtp_account_resolution",
            )
        ]

    def __str__(self) -> str:
        owner = self.company.code if self.company_id else _("system")
        return f"{self.sender} ({self.host}:{self.port}, {owner})"

    @property
    def is_system(self) -> bool:
        return self.company_id is None

    @property
    def has_password(self) -> bool:
        return bool(self.password_token)

    @property
    def uses_oauth(self) -> bool:
        return self.auth_method != AuthMethod.PASSWORD

    def as_row(self) -> AccountRow:
        return AccountRow(
            id=self.pk,
            company=self.company_id,
            type_code=self.account_type.code,
            priority=self.priority,
            enabled=self.enabled,
            created_at=self.created_at,
        )


class OAuthApplication(models.Model):
    """The registration of Emisario at a provider (client id, secret, Microsoft tenant), one
    per provider, set by a holder of PCSMTPG. Settings can give it instead
    (``EMISARIO_OAUTH_<PROVIDER>_CLIENT_ID`` ...); a row here wins over them."""

    provider = models.CharField(
        _("provider"), max_length=10, choices=OAuthProvider.choices, unique=True
    )
    client_id = models.CharField(_("client id"), max_length=200)
    tenant = models.CharField(
        _("tenant"),
        max_length=253,
        blank=True,
        help_text=_("Microsoft: the directory (tenant) id or domain; empty means organizations."),
    )
    client_secret_token = models.TextField(_("encrypted client secret"), editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("OAuth application")
        verbose_name_plural = _("OAuth applications")

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.client_id}"


class GrantStatus(models.TextChoices):
    ACTIVE = "active", _("connected")
    RECONNECT = "reconnect", _("requires reconnection")


class OAuthGrant(models.Model):
    """What an account signs in to SMTP with under OAuth: the refresh token of the user who
    pressed Conectar (or, app-only, none), the current access token, both encrypted like
    passwords. ``lease_*``: the one worker or request refreshing it now, on any host."""

    account = models.OneToOneField(
        SmtpAccount, on_delete=models.CASCADE, related_name="oauth_grant"
    )
    provider = models.CharField(max_length=10, choices=OAuthProvider.choices)
    app_only = models.BooleanField(default=False)
    mailbox = models.CharField(_("mailbox"), max_length=254)
    """The address the provider said signed in (ID token), equal to the account's Usuario."""
    subject = models.CharField(max_length=200, blank=True)
    tenant_id = models.CharField(max_length=64, blank=True)
    refresh_token_token = models.TextField(blank=True, editable=False)
    access_token_token = models.TextField(blank=True, editable=False)
    access_expires_at = models.DateTimeField(null=True, blank=True)
    scope = models.TextField(blank=True)
    status = models.CharField(
        max_length=10, choices=GrantStatus.choices, default=GrantStatus.ACTIVE
    )
    status_error = models.CharField(max_length=100, blank=True)
    """The provider's error code when it stopped working (``invalid_grant``)."""
    status_detail = models.TextField(blank=True)
    """The provider's own description (AADSTS..., Google's sentence): never a token."""
    status_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    refresh_count = models.PositiveIntegerField(default=0)
    connected_at = models.DateTimeField(null=True, blank=True)
    connected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("OAuth grant")
        verbose_name_plural = _("OAuth grants")

    def __str__(self) -> str:
        return f"{self.provider} {self.mailbox} ({self.status})"

    @property
    def needs_reconnect(self) -> bool:
        return self.status == GrantStatus.RECONNECT


class AuditAction(models.TextChoices):
    CREATE = "create", _("created")
    UPDATE = "update", _("changed")
    DELETE = "delete", _("deleted")
    TEST = "test", _("tested (Probar)")
    DETECT = "detect", _("detected settings")
    CONNECT = "connect", _("connected with OAuth")
    DISCONNECT = "disconnect", _("disconnected from OAuth")
    OAUTH_APP = "oauth_app", _("changed the OAuth application")


class AuditRecord(models.Model):
    """Who did what to which account. Never holds a password: changes to it are recorded as
    ``"password": "changed"``."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    action = models.CharField(max_length=10, choices=AuditAction.choices)
    account = models.ForeignKey(SmtpAccount, on_delete=models.SET_NULL, null=True, blank=True)
    account_label = models.CharField(max_length=300, blank=True)
    company = models.ForeignKey(Company, on_delete=models.SET_NULL, null=True, blank=True)
    target = models.CharField(max_length=300, blank=True)
    verdict = models.CharField(max_length=60, blank=True)
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("audit record")
        verbose_name_plural = _("audit records")
        indexes = [models.Index(fields=["actor", "action", "at"], name="audit_rate_limit")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.action} {self.account_label}"


class FormSubmission(models.Model):
    """One submission of a rendered form, claimed by the first POST that carries it.

    A double click sends the same form twice, often to two workers at once; a check in the
    session cannot stop that (both requests read the session before either writes). The
    unique constraint can: the database lets exactly one insert of ``(actor, token, action,
    digest)`` win, whatever the process or host, and the loser replays the winner's
    ``result``. ``digest`` is a keyed hash of what was submitted (``submissions``): the same
    page sent again with other values is another submission, and so is another user's."""

    token = models.CharField(max_length=64)
    action = models.CharField(max_length=20)
    digest = models.CharField(max_length=64)
    """HMAC (SECRET_KEY) of the action, the account and the submitted values: never a value."""
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    done = models.BooleanField(default=False)
    result = models.JSONField(default=dict, blank=True)
    """What a repeated submission shows: where Guardar/Eliminar went, Probar's diagnosis."""

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["actor", "token", "action", "digest"], name="form_submission_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.token[:8]}"
