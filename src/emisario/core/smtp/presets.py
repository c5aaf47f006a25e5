"""Provider presets: the SMTP settings of the big mail providers, picked from the address.

The seed tells Gmail users to type ``smtp.gmail.com`` and 465 or 587 and everyone else to "ask
the mail administrator". Most companies' mailboxes live at a handful of providers, so when the
Usuario field ends in ``@gmail.com`` the form can fill host, port and mode itself and show what
that provider needs (an app password, SMTP AUTH enabled, a verified sender).

Everything here is data. Notes are :class:`PresetNote` codes; their Spanish and English text is
in ``emisario.console.preset_notes``. Settings are the ones the providers publish;
the preset is a suggestion the user confirms with Probar, never a silent override.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

from emisario.core.addresses import normalize_host
from emisario.core.dispatch.limits import NO_LIMITS, SendingLimits
from emisario.core.errors import InvalidValue
from emisario.core.smtp.endpoint import SecurityMode


class PresetNote(enum.StrEnum):
    """Something the user must know or do for a provider. Values are stable: the console looks
    them up in its catalogue and the audit log may store them."""

    APP_PASSWORD = "app_password"
    """With 2-step verification the normal password is refused: create an app password."""
    SMTP_AUTH_TENANT = "smtp_auth_tenant"
    """Microsoft 365: the administrator must enable "Authenticated SMTP" for the mailbox."""
    BASIC_AUTH_RETIRING = "basic_auth_retiring"
    """Microsoft is retiring user-and-password SMTP; plan for a relay or a mail service."""
    DAILY_QUOTA = "daily_quota"
    """Personal and office mailboxes have a daily sending limit; big runs may hit it."""
    LOGIN_APIKEY = "login_apikey"
    """SendGrid: the user is the literal word "apikey" and the password is an API key."""
    VERIFIED_SENDER = "verified_sender"
    """The From address (or its domain) must be verified at the provider first."""
    SES_SMTP_CREDENTIALS = "ses_smtp_credentials"
    """Amazon SES: use SMTP credentials made in the SES console, not IAM access keys."""
    SES_SANDBOX = "ses_sandbox"
    """Amazon SES: a new account is in the sandbox and only sends to verified addresses."""
    SES_REGION = "ses_region"
    """Amazon SES: the host name carries the AWS region where SES is set up."""
    MAILGUN_SMTP_CREDENTIALS = "mailgun_smtp_credentials"
    """Mailgun: the user and password are the domain's SMTP credentials (postmaster@...)."""
    MAILGUN_REGION = "mailgun_region"
    """Mailgun: domains in the EU region use smtp.eu.mailgun.org."""
    BREVO_SMTP_LOGIN = "brevo_smtp_login"
    """Brevo: the user is the account's SMTP login and the password an SMTP key."""
    ZOHO_DATACENTER = "zoho_datacenter"
    """Zoho: accounts in other data centres use their own host (smtp.zoho.eu, ...)."""


class LoginKind(enum.StrEnum):
    """What goes in the login (AUTH user) field for a provider."""

    ADDRESS = "address"
    """The mailbox address itself (the Usuario field); the login field stays empty."""
    FIXED = "fixed"
    """A fixed word the provider documents (SendGrid: ``apikey``)."""
    PROVIDER = "provider"
    """A user name the provider issues (SES, Mailgun, Brevo); only the user can copy it."""


@dataclass(frozen=True, slots=True)
class Preset:
    """A provider's SMTP submission settings."""

    key: str
    """Stable identifier (``gmail``); the console names it through ``preset_notes``."""
    name: str
    """The provider's own brand name, the same in every language."""
    host: str
    port: int
    security: SecurityMode
    login_kind: LoginKind = LoginKind.ADDRESS
    login_hint: str = ""
    """What to put in the login field: ``""`` means the address, ``"apikey"`` for SendGrid."""
    domains: tuple[str, ...] = ()
    """Mailbox domains that belong to this provider (consumer domains only)."""
    notes: tuple[PresetNote, ...] = ()
    alternatives: tuple[tuple[int, SecurityMode], ...] = ()
    """Other port and mode pairs the provider also accepts, best first."""
    mx_suffixes: tuple[str, ...] = ()
    """MX host suffixes that reveal the provider behind a company's own domain."""
    limits: SendingLimits = NO_LIMITS
    """The sending limits the provider publishes, which CRONUS enforces unless the account
    sets its own; a limit nobody published is None (not enforced)."""

    @property
    def combinations(self) -> tuple[tuple[int, SecurityMode], ...]:
        """The main port and mode followed by the alternatives: what Detectar should try."""
        return ((self.port, self.security), *self.alternatives)


GMAIL = Preset(
    key="gmail",
    name="Gmail / Google Workspace",
    host="smtp.gmail.com",
    port=465,
    security=SecurityMode.TLS,
    domains=("gmail.com", "googlemail.com"),
    notes=(PresetNote.APP_PASSWORD, PresetNote.DAILY_QUOTA),
    alternatives=((587, SecurityMode.STARTTLS),),
    mx_suffixes=("google.com", "googlemail.com"),
    # Google Workspace, user SMTP: 2,000 messages and 10,000 recipients a rolling day, 100
    # recipients per message (support.google.com/a/answer/166852). No published session cap.
    limits=SendingLimits(
        messages_per_day=2000, recipients_per_day=10_000, recipients_per_message=100
    ),
)
OUTLOOK = Preset(
    key="outlook",
    name="Outlook.com / Hotmail",
    host="smtp-mail.outlook.com",
    port=587,
    security=SecurityMode.STARTTLS,
    domains=("outlook.com", "outlook.es", "hotmail.com", "hotmail.es", "live.com", "msn.com"),
    notes=(PresetNote.APP_PASSWORD, PresetNote.BASIC_AUTH_RETIRING, PresetNote.DAILY_QUOTA),
    mx_suffixes=("olc.protection.outlook.com",),
    # About 300 messages a day and 100 recipients per message (msoutlook.info/question/235,
    # Microsoft Q&A; not an official page).
    limits=SendingLimits(messages_per_day=300, recipients_per_message=100),
)
MICROSOFT_365 = Preset(
    key="microsoft365",
    name="Microsoft 365",
    host="smtp.office365.com",
    port=587,
    security=SecurityMode.STARTTLS,
    notes=(
        PresetNote.SMTP_AUTH_TENANT,
        PresetNote.BASIC_AUTH_RETIRING,
        PresetNote.DAILY_QUOTA,
    ),
    mx_suffixes=("mail.protection.outlook.com",),
    # Exchange Online SMTP AUTH: 30 messages a minute, 10,000 recipients a day, 3 concurrent
    # connections per mailbox (MicrosoftDocs/SupportArticles-docs, smtp-submission-
    # improvements.md); 500 recipients per message by default (Exchange Online limits).
    limits=SendingLimits(
        messages_per_minute=30,
        recipients_per_day=10_000,
        recipients_per_message=500,
        concurrent_sessions=3,
    ),
)
YAHOO = Preset(
    key="yahoo",
    name="Yahoo Mail",
    host="smtp.mail.yahoo.com",
    port=465,
    security=SecurityMode.TLS,
    domains=(
        "yahoo.com",
        "yahoo.es",
        "yahoo.com.ar",
        "yahoo.com.mx",
        "yahoo.com.br",
        "ymail.com",
        "rocketmail.com",
    ),
    notes=(PresetNote.APP_PASSWORD, PresetNote.DAILY_QUOTA),
    alternatives=((587, SecurityMode.STARTTLS),),
    mx_suffixes=("yahoodns.net",),
)
ZOHO = Preset(
    key="zoho",
    name="Zoho Mail",
    host="smtp.zoho.com",
    port=465,
    security=SecurityMode.TLS,
    domains=("zoho.com", "zohomail.com"),
    notes=(PresetNote.ZOHO_DATACENTER, PresetNote.APP_PASSWORD, PresetNote.DAILY_QUOTA),
    alternatives=((587, SecurityMode.STARTTLS),),
    mx_suffixes=("zoho.com", "zoho.eu", "zoho.in", "zoho.com.au"),
)
ICLOUD = Preset(
    key="icloud",
    name="iCloud Mail",
    host="smtp.mail.me.com",
    port=587,
    security=SecurityMode.STARTTLS,
    domains=("icloud.com", "me.com", "mac.com"),
    notes=(PresetNote.APP_PASSWORD, PresetNote.DAILY_QUOTA),
    mx_suffixes=("mail.icloud.com",),
)
AMAZON_SES = Preset(
    key="ses",
    name="Amazon SES",
    host="email-smtp.us-east-1.amazonaws.com",
    port=587,
    security=SecurityMode.STARTTLS,
    login_kind=LoginKind.PROVIDER,
    notes=(
        PresetNote.SES_SMTP_CREDENTIALS,
        PresetNote.VERIFIED_SENDER,
        PresetNote.SES_SANDBOX,
        PresetNote.SES_REGION,
    ),
    alternatives=((465, SecurityMode.TLS), (2587, SecurityMode.STARTTLS)),
    # 50 recipients per message (SendRawEmail docs). The rate and the daily quota are per
    # account (a new one is in the sandbox: 200 a day, 1 a second), so the account sets them.
    limits=SendingLimits(recipients_per_message=50),
)
SENDGRID = Preset(
    key="sendgrid",
    name="SendGrid",
    host="smtp.sendgrid.net",
    port=587,
    security=SecurityMode.STARTTLS,
    login_kind=LoginKind.FIXED,
    login_hint="apikey",
    notes=(PresetNote.LOGIN_APIKEY, PresetNote.VERIFIED_SENDER),
    alternatives=((465, SecurityMode.TLS), (2525, SecurityMode.STARTTLS)),
    # At most 5,000 messages per SMTP connection (SendGrid, "Integrating with the SMTP API").
    limits=SendingLimits(messages_per_session=5000),
)
MAILGUN = Preset(
    key="mailgun",
    name="Mailgun",
    host="smtp.mailgun.org",
    port=587,
    security=SecurityMode.STARTTLS,
    login_kind=LoginKind.PROVIDER,
    notes=(
        PresetNote.MAILGUN_SMTP_CREDENTIALS,
        PresetNote.VERIFIED_SENDER,
        PresetNote.MAILGUN_REGION,
    ),
    alternatives=((465, SecurityMode.TLS), (2525, SecurityMode.STARTTLS)),
)
BREVO = Preset(
    key="brevo",
    name="Brevo",
    host="smtp-relay.brevo.com",
    port=587,
    security=SecurityMode.STARTTLS,
    login_kind=LoginKind.PROVIDER,
    notes=(PresetNote.BREVO_SMTP_LOGIN, PresetNote.VERIFIED_SENDER),
    alternatives=((465, SecurityMode.TLS), (2525, SecurityMode.STARTTLS)),
)

PRESETS: tuple[Preset, ...] = (
    GMAIL,
    OUTLOOK,
    MICROSOFT_365,
    YAHOO,
    ZOHO,
    ICLOUD,
    AMAZON_SES,
    SENDGRID,
    MAILGUN,
    BREVO,
)
"""In the order the picker lists them: mailbox providers first, then sending services."""

_BY_KEY = {preset.key: preset for preset in PRESETS}
_BY_DOMAIN = {domain: preset for preset in PRESETS for domain in preset.domains}
_AWS_REGION = re.compile(r"^[a-z]{2}(?:-gov)?-[a-z]+-\d$")


def preset_by_key(key: str) -> Preset:
    """The preset called ``key``; :class:`InvalidValue` (``unknown_preset``) otherwise."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise InvalidValue("unknown_preset", field="preset", value=key) from None


def preset_for_address(address: str) -> Preset | None:
    """The provider of a mailbox address, from its domain; ``None`` for a company's own domain
    (its provider shows only in its MX records: see :func:`preset_for_mx_hosts`)."""
    _local, at, domain = address.strip().rpartition("@")
    if not at:
        return None
    try:
        domain = normalize_host(domain, field="sender")  # IDNA 2008, as everywhere else
    except InvalidValue:
        return None
    return _BY_DOMAIN.get(domain)


def preset_for_mx_hosts(hosts: Iterable[str]) -> Preset | None:
    """The provider whose mail exchangers these are (``aspmx.l.google.com`` -> Gmail).

    Pure: the caller looks the MX records up. The first host that matches decides; suffixes
    match on a label boundary, so ``evilgoogle.com`` is not Google.
    """
    for host in hosts:
        name = host.strip().rstrip(".").lower()
        best: tuple[int, Preset] | None = None
        for preset in PRESETS:
            for suffix in preset.mx_suffixes:
                if (name == suffix or name.endswith("." + suffix)) and (
                    best is None or len(suffix) > best[0]
                ):
                    best = (len(suffix), preset)
        if best is not None:
            return best[1]
    return None


def ses_host(region: str) -> str:
    """The Amazon SES SMTP host of an AWS region (``us-east-1``, ``sa-east-1``, ...)."""
    region = region.strip().lower()
    if not _AWS_REGION.match(region):
        raise InvalidValue("invalid_region", field="region", value=region)
    return f"email-smtp.{region}.amazonaws.com"
