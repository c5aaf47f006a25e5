"""Text of the provider presets' notes and names, in Spanish (the product's language) and English.

Pure data, no Django: the console picks the language from the request and calls
:func:`note_text`; tests check that every :class:`PresetNote` has both texts. The core keeps
only the codes (``emisario.core.smtp.presets``), so a wording change never touches it.
"""

from __future__ import annotations

from emisario.core.smtp.presets import PresetNote

LANGUAGES = ("es", "en")
DEFAULT_LANGUAGE = "es"

NOTES: dict[PresetNote, dict[str, str]] = {
    PresetNote.APP_PASSWORD: {
        "es": (
            "Si la cuenta tiene verificación en dos pasos, la contraseña habitual no sirve: "
            "cree una contraseña de aplicación en la configuración de seguridad de la cuenta "
            "y escríbala en Contraseña."
        ),
        "en": (
            "If the account uses 2-step verification, its usual password is refused: create "
            "an app password in the account's security settings and enter it as the password."
        ),
    },
    PresetNote.SMTP_AUTH_TENANT: {
        "es": (
            "El administrador de Microsoft 365 debe habilitar «SMTP autenticado» para este "
            "buzón (Centro de administración > Usuarios > Correo > Administrar aplicaciones de "
            "correo electrónico); viene deshabilitado por defecto."
        ),
        "en": (
            "The Microsoft 365 administrator must enable \u201cAuthenticated SMTP\u201d for "
            "this mailbox (Admin center > Users > Mail > Manage email apps); it is off by "
            "default."
        ),
    },
    PresetNote.BASIC_AUTH_RETIRING: {
        "es": (
            "Microsoft está retirando el envío por SMTP con usuario y contraseña. Si deja de "
            "funcionar, pida al administrador de correo un relé SMTP o use un servicio de envío."
        ),
        "en": (
            "Microsoft is retiring SMTP sending with a user name and password. If it stops "
            "working, ask the mail administrator for an SMTP relay or use a sending service."
        ),
    },
    PresetNote.DAILY_QUOTA: {
        "es": (
            "Este proveedor limita la cantidad de correos que se pueden enviar por día; un envío "
            "masivo de documentos de cobranza puede alcanzar el límite."
        ),
        "en": (
            "This provider limits how many messages can be sent per day; a large batch of "
            "collection documents may reach the limit."
        ),
    },
    PresetNote.LOGIN_APIKEY: {
        "es": (
            "En SendGrid el usuario es literalmente la palabra «apikey» y la contraseña es una "
            "clave de API con permiso de envío de correo."
        ),
        "en": (
            "With SendGrid the user name is literally the word \u201capikey\u201d and the "
            "password is an API key allowed to send mail."
        ),
    },
    PresetNote.VERIFIED_SENDER: {
        "es": (
            "La dirección del remitente (o su dominio) debe estar verificada en el proveedor "
            "antes de enviar; si no, el servidor rechaza el mensaje."
        ),
        "en": (
            "The sender address (or its domain) must be verified with the provider before "
            "sending; otherwise the server rejects the message."
        ),
    },
    PresetNote.SES_SMTP_CREDENTIALS: {
        "es": (
            "Use las credenciales SMTP creadas en la consola de Amazon SES; las claves de acceso "
            "de IAM no sirven como usuario y contraseña."
        ),
        "en": (
            "Use the SMTP credentials created in the Amazon SES console; IAM access keys do not "
            "work as user name and password."
        ),
    },
    PresetNote.SES_SANDBOX: {
        "es": (
            "Mientras la cuenta de Amazon SES esté en el entorno de pruebas (sandbox), solo "
            "puede enviar a direcciones verificadas; solicite el acceso de producción."
        ),
        "en": (
            "While the Amazon SES account is in the sandbox it can only send to verified "
            "addresses; request production access."
        ),
    },
    PresetNote.SES_REGION: {
        "es": (
            "El servidor incluye la región de AWS donde configuró SES, por ejemplo "
            "email-smtp.sa-east-1.amazonaws.com; cámbiela si no es us-east-1."
        ),
        "en": (
            "The server name includes the AWS region where SES is set up, for example "
            "email-smtp.sa-east-1.amazonaws.com; change it if it is not us-east-1."
        ),
    },
    PresetNote.MAILGUN_SMTP_CREDENTIALS: {
        "es": (
            "El usuario y la contraseña son las credenciales SMTP del dominio en Mailgun "
            "(por ejemplo postmaster@su-dominio), no los datos de acceso al panel."
        ),
        "en": (
            "The user name and password are the domain's SMTP credentials in Mailgun (for "
            "example postmaster@your-domain), not the dashboard login."
        ),
    },
    PresetNote.MAILGUN_REGION: {
        "es": (
            "Si el dominio está en la región europea de Mailgun, el servidor es "
            "smtp.eu.mailgun.org."
        ),
        "en": "If the domain is in Mailgun's EU region, the server is smtp.eu.mailgun.org.",
    },
    PresetNote.BREVO_SMTP_LOGIN: {
        "es": (
            "En Brevo el usuario es el login SMTP de la cuenta y la contraseña es una clave SMTP; "
            "ambos figuran en la sección «SMTP y API» del panel, no son los datos de acceso."
        ),
        "en": (
            "With Brevo the user name is the account's SMTP login and the password is an SMTP "
            "key; both are shown under \u201cSMTP & API\u201d, they are not the sign-in details."
        ),
    },
    PresetNote.ZOHO_DATACENTER: {
        "es": (
            "Si la cuenta de Zoho está en otro centro de datos, use su servidor (smtp.zoho.eu, "
            "smtp.zoho.in, ...); las cuentas de organización usan smtppro.zoho.com."
        ),
        "en": (
            "If the Zoho account is in another data centre, use its server (smtp.zoho.eu, "
            "smtp.zoho.in, ...); organization accounts use smtppro.zoho.com."
        ),
    },
}

# Brand names stay as they are; only the combined ones read differently per language.
PRESET_NAMES: dict[str, dict[str, str]] = {
    "gmail": {"es": "Gmail / Google Workspace", "en": "Gmail / Google Workspace"},
    "outlook": {"es": "Outlook.com / Hotmail", "en": "Outlook.com / Hotmail"},
    "microsoft365": {"es": "Microsoft 365 (cuenta de empresa)", "en": "Microsoft 365 (work)"},
    "yahoo": {"es": "Yahoo Mail", "en": "Yahoo Mail"},
    "zoho": {"es": "Zoho Mail", "en": "Zoho Mail"},
    "icloud": {"es": "iCloud Mail", "en": "iCloud Mail"},
    "ses": {"es": "Amazon SES", "en": "Amazon SES"},
    "sendgrid": {"es": "SendGrid", "en": "SendGrid"},
    "mailgun": {"es": "Mailgun", "en": "Mailgun"},
    "brevo": {"es": "Brevo (antes Sendinblue)", "en": "Brevo (formerly Sendinblue)"},
}


def _language(language: str) -> str:
    """``es-PY`` and ``es_AR`` are Spanish; anything not translated falls back to Spanish."""
    base = language.replace("_", "-").split("-", 1)[0].lower()
    return base if base in LANGUAGES else DEFAULT_LANGUAGE


def note_text(code: str, language: str = DEFAULT_LANGUAGE) -> str:
    """The sentence for a note code; ``KeyError`` for a code that does not exist."""
    try:
        texts = NOTES[PresetNote(code)]
    except ValueError:
        raise KeyError(f"unknown preset note {code!r}") from None
    return texts[_language(language)]


def preset_name(key: str, language: str = DEFAULT_LANGUAGE) -> str:
    """The display name of a preset; ``KeyError`` for a key that does not exist."""
    try:
        names = PRESET_NAMES[key]
    except KeyError:
        raise KeyError(f"unknown preset {key!r}") from None
    return names[_language(language)]
