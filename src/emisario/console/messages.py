"""User-facing texts for domain codes. The domain returns codes; this is where they become
translated sentences (Spanish first). Tests import these constants."""

from django.utils.translation import gettext_lazy as _

SUCCESS = _("Mail sent successfully")  # es: "Correo enviado satisfactoriamente" (the seed's words)
SAVED = _("The configuration was saved.")
SAVED_UNTESTED = _(
    "The configuration was saved, but no passing test shows that it can send: press Test "
    "before CRONUS uses it."
)
DELETED = _("The account was deleted.")
PASSWORD_RETYPE = _(
    "Type the password again: the server, port or security changed, and the saved password is "
    "only used with the server it was saved for."
)
RATE_LIMITED = _("Too many tests in a short time. Try again in %(seconds)s seconds.")
UNREADABLE_PASSWORD = _(
    "The saved password cannot be read with the current encryption keys. Type it again."
)
SAVED_UNRESOLVED = _(
    "The configuration was saved, but the name %(host)s could not be looked up right now, so "
    "its addresses were not checked. Sending checks them again when it connects; press Test "
    "to test the account."
)
KEYS_UNAVAILABLE_TITLE = _("The encryption keys are not configured correctly")
KEYS_UNAVAILABLE = _(
    "Emisario cannot encrypt or read SMTP passwords: the setting EMISARIO_SECRET_KEYS is "
    "empty or holds a value that is not a valid key. The action was not carried out."
)
KEYS_UNAVAILABLE_FIX = _(
    "Tell your system administrator. They must set EMISARIO_SECRET_KEYS to one or more Fernet "
    "keys separated by commas (the new one first, keeping the ones used so far so the saved "
    "passwords stay readable) and restart Emisario. A key can be generated with the command "
    "below."
)
NO_COMPANY = _("Your user does not belong to any company. Ask the administrator to add you.")

INVALID_VALUE = {
    "required": _("This field is required."),
    "control_characters": _("Line breaks and control characters are not allowed."),
    "invalid_host": _("Write a server name such as smtp.gmail.com, or an IP address."),
    "invalid_address": _("Write a valid e-mail address, such as cobranza@empresa.com."),
    "invalid_port": _("The port must be a number from 1 to 65535."),
    "too_long": _("The text is too long."),
    "invisible_characters": _(
        "Invisible or text-direction characters are not allowed (they can disguise an "
        "address); type the text again instead of pasting it."
    ),
    "encoded_word": _(
        "An address cannot contain «=?»: that is encoded text, not part of an e-mail address."
    ),
}

PERMISSION_NAMES = {
    "EMISOPT": _("access the mail configuration screen"),
    "PCSMTPG": _("change the system's default accounts"),
}

STEP_LABELS = {
    "policy": _("Allowed target"),
    "dns": _("Name lookup (DNS)"),
    "connect": _("Connection"),
    "tls": _("TLS encryption"),
    "greeting": _("Server greeting"),
    "ehlo": _("EHLO (capabilities)"),
    "oauth": _("OAuth authorisation"),
    "auth": _("Authentication"),
    "mail": _("Sender (MAIL FROM)"),
    "rcpt": _("Recipient (RCPT TO)"),
    "data": _("Sending the confirmation mail (DATA)"),
}
EHLO_AFTER_STARTTLS = _("EHLO again, encrypted (after STARTTLS)")
STATUS_LABELS = {
    "passed": _("passed"),
    "failed": _("failed"),
    "skipped": _("not run"),
}
SECURITY_LABELS = {
    "none": _("no encryption"),
    "starttls": _("STARTTLS"),
    "tls": _("SSL/TLS"),
}
"""A security mode as a table cell or a label ("Seguridad: sin cifrado")."""
SECURITY_IN_SENTENCE = {
    "none": _("without encryption"),
    "starttls": _("with STARTTLS"),
    "tls": _("with SSL/TLS"),
}
"""A security mode inside a sentence: "puerto 3588 sin cifrado", "puerto 465 con SSL/TLS"."""
SECURITY_AUTOMATIC = _("Automatic (from SSL and port)")
"""The Seguridad selector's automatic choice, named as the form names it."""

# A change of port and security the test saw work, said the way the form expresses it:
# Seguridad automatic plus the SSL box when the box alone gives that mode, else the choice.
CHANGE_AUTOMATIC = _('Set Security to "%(automatic)s", %(ssl)s and %(port)s.')
CHANGE_EXPLICIT = _('Choose Security "%(security)s" in "Advanced options", %(ssl)s and %(port)s.')
SSL_KEEP_TICKED = _('leave "SSL" ticked')
SSL_KEEP_UNTICKED = _('leave "SSL" unticked')
SSL_TICK = _('tick "SSL"')
SSL_UNTICK = _('untick "SSL"')
PORT_KEEP = _("keep port %(port)s")
PORT_SET = _("set port %(port)s")
PROPOSAL_SEEN = _(
    'This test saw port %(port)s answer %(security)s. Press "Apply" to put it in the form, '
    "then test again."
)


def resolution_reason(group) -> str:
    """Why this account is the one in use ("cuenta en uso"), in words."""
    resolution = group.resolution
    if resolution is None:
        return str(
            _(
                "No account can send mail of this type: the company has no enabled account, "
                "there is no system default account and the administrator has not configured "
                "a generic account."
            )
        )
    if resolution.source == "company":
        text = _("The company's enabled account with the highest priority (%(priority)s).") % {
            "priority": resolution.account.priority
        }
    elif resolution.source == "system":
        text = _(
            "The company has no enabled account of this type, so the system default account "
            "with the highest priority (%(priority)s) is used."
        ) % {"priority": resolution.account.priority}
    else:
        text = _(
            "No account is configured, so the generic account provided by the system "
            "administrator is used (%(sender)s through %(target)s)."
        ) % {"sender": resolution.generic.sender, "target": resolution.generic.target}
    if resolution.disabled_skipped:
        text += " " + _("Disabled accounts skipped: %(count)s.") % {
            "count": resolution.disabled_skipped
        }
    return str(text)


TLS_LABELS = {
    "protocol": _("Protocol"),
    "cipher": _("Cipher"),
    "subject": _("Certificate for"),
    "issuer": _("Issued by"),
    "not_after": _("Valid until"),
    "hostname_match": _("Matches the server name"),
}
YES_NO = {True: _("yes"), False: _("no")}
OAUTH_LABELS = {
    "mailbox": _("Mailbox"),
    "token": _("Access token"),
    "expires": _("Valid for"),
    "refreshed": _("obtained now from the provider"),
    "stored": _("the stored one, still valid"),
    "retried": _("the server refused the first one: a fresh one was obtained"),
    "minutes": _("%(minutes)s min"),
    "mechanism": _("Mechanism"),
}

DETECT_WARNINGS = {
    "plain_only": _(
        "Only an unencrypted connection works: the password and the mail would travel in plain "
        "text. Use it only for a relay inside the company's network."
    ),
    "password_not_sent": _(
        "The password was not tried: no encrypted connection works, and it is never sent "
        "in plain text."
    ),
    "nothing_worked": _(
        "No port answered as an SMTP server. Check the server name, or ask the mail "
        "administrator which port and security to use."
    ),
    "ports_not_allowed": _("Some ports were not tried because the network policy forbids them."),
}
DETECT_PROPOSAL = _(
    "Proposed: port %(port)s %(security)s. The form now holds it; type the password and press Test."
)
DETECT_PROPOSAL_KEPT = _(
    "Proposed: port %(port)s %(security)s. The form now holds it, and the password it "
    "checked is kept: press Test."
)
DETECT_NOTHING_WORKED = _("No working combination was found.")
DETECT_NOTHING_ALLOWED = _(
    "Nothing could be tried: the administrator's network policy does not allow testing this "
    "server on any of the ports Detect tries (%(ports)s). Ask the system administrator to "
    "allow the server and the port your mail provider gives."
)
DETECT_NOT_ALLOWED_ROW = _("not allowed by the network policy")

SSL_CONFLICT = _(
    "SSL and Security (advanced options) disagree: tick SSL for STARTTLS or SSL/TLS, untick it "
    "for none, or set Security to Automatic."
)
OAUTH_PROVIDER_REQUIRED = _("Choose the provider the account signs in with.")
APP_ONLY_MICROSOFT = _("App-only access exists only for Microsoft 365.")
OAUTH_NO_PASSWORD = _(
    "An account that signs in with OAuth 2.0 has no password: leave Password empty, save, "
    "then press Connect."
)
OAUTH_CONNECTED = _("Connected with %(provider)s as %(mailbox)s. Press Test to check it.")
OAUTH_CANCELLED = _("The connection was cancelled at %(provider)s: nothing was changed.")
OAUTH_REFUSED = _(
    "The connection could not be completed (%(reason)s). Press Connect again; nothing was stored."
)
OAUTH_WRONG_MAILBOX = _(
    "You signed in as %(mailbox)s, but the account's User is %(sender)s. Press Connect again "
    "and sign in with %(sender)s (or change User and save first). Nothing was stored."
)
OAUTH_EXPIRED_REQUEST = _(
    "This connection request is unknown, was already used or is more than 10 minutes old. "
    "Press Connect again."
)
OAUTH_NOT_CONFIGURED = _(
    "The OAuth application for %(provider)s is not set up. A user with the PCSMTPG permission "
    "must register it (see the README) and enter its client id and secret."
)
OAUTH_SAVE_FIRST = _("Save the account with OAuth 2.0 as its authentication, then press Connect.")
OAUTH_DISCONNECTED = _("The account was disconnected: it cannot send until it is connected again.")
CONNECT_WITH = _("Connect with %(provider)s")
OAUTH_SWITCHED = _(
    "Authentication switched to OAuth 2.0 with %(provider)s and the password left out. Press "
    "Save, then Connect with %(provider)s."
)
OAUTH_CLIENT_ID_INVALID = _(
    "Copy the client id exactly as the provider shows it (letters, digits, . - _ : @ /)."
)
OAUTH_SECRET_REQUIRED = _("Type the client secret the provider gave (it is shown there once).")
OAUTH_TENANT_INVALID = _(
    "Write the directory (tenant) id, e.g. 72f988bf-86f1-41af-91ab-2d7cd011db47, or the "
    "tenant's domain (contoso.onmicrosoft.com)."
)
OAUTH_APP_SAVED = _("The OAuth application of %(provider)s was saved.")
OAUTH_ACCOUNT_CHANGED = _(
    "The account's server, User or company changed while you were signing in: nothing was "
    "stored. Check the account and press Connect again."
)
