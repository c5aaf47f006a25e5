"""What each Probar advice code says to the user: a title (what is wrong) and a fix.

Pure data, no Django import, so the core's tests can check that every
:class:`~emisario.core.smtp.advice.Advice` has both languages. Spanish is the product's
language (the seed); English is the fallback for logs and foreign administrators. Texts use
named placeholders ({host}, {port}, {user}, {sender}, {recipient}); a missing value leaves
the placeholder's name in braces rather than failing. No text names a port the test did not
see work: a port/security mismatch either gets the change Probar saw work (the console words
``Diagnosis.proposal``) or is sent to Detectar.

:data:`FAULT_DETAILS` words the "technical detail" of a local failure (a
:class:`~emisario.core.smtp.advice.Fault`, no server reply) in the page's language; the
diagnosis keeps the raw English text for the audit trail.
"""

from __future__ import annotations

import string
from typing import Any

APP_PASSWORD_ES = (
    "Active la verificación en dos pasos en la cuenta de Google y cree una «contraseña de "
    "aplicación» (Cuenta de Google → Seguridad → Contraseñas de aplicaciones); escríbala en "
    "«Contraseña» en lugar de la contraseña habitual. La opción «permitir aplicaciones menos "
    "seguras» ya no existe. O mejor: cambie la autenticación a «OAuth 2.0» y pulse «Conectar "
    "con Google», sin contraseña alguna."
)
APP_PASSWORD_EN = (
    "Turn on 2-Step Verification for the Google account and create an app password (Google "
    "Account → Security → App passwords); enter it as the password instead of the usual one. "
    'The old "allow less secure apps" option no longer exists. Better still: switch the '
    'authentication to "OAuth 2.0" and press "Conectar con Google", with no password at all.'
)

CATALOGUE: dict[str, dict[str, tuple[str, str]]] = {
    "policy_refused": {
        "es": (
            "No está permitido probar este servidor y puerto.",
            "Por seguridad, Probar solo se conecta a servidores y puertos autorizados. Si "
            "{host}:{port} es correcto, pida al administrador del sistema que lo autorice.",
        ),
        "en": (
            "Testing this server and port is not allowed.",
            "For security, a test only connects to authorised servers and ports. If "
            "{host}:{port} is right, ask the system administrator to allow it.",
        ),
    },
    "dns_not_found": {
        "es": (
            "El servidor {host} no existe.",
            "Revise que el nombre en «Servidor SMTP» esté bien escrito (por ejemplo, "
            "smtp.gmail.com) o consulte al administrador del correo.",
        ),
        "en": (
            "The server {host} does not exist.",
            'Check the spelling of the "Servidor SMTP" field (for example smtp.gmail.com) '
            "or ask your mail administrator.",
        ),
    },
    "dns_temporary": {
        "es": (
            "No se pudo averiguar la dirección de {host} en este momento.",
            "El servicio de nombres (DNS) no respondió. Vuelva a probar en unos minutos; si "
            "persiste, avise al administrador de la red.",
        ),
        "en": (
            "The address of {host} could not be looked up right now.",
            "The name service (DNS) did not answer. Try again in a few minutes; if it "
            "persists, tell your network administrator.",
        ),
    },
    "connection_refused": {
        "es": (
            "{host} rechazó la conexión en el puerto {port}.",
            "No hay un servidor de correo escuchando en ese puerto. Revise el puerto que indica "
            "su proveedor, presione Detectar para probar los puertos de envío habituales, o "
            "consulte al administrador del correo.",
        ),
        "en": (
            "{host} refused the connection on port {port}.",
            "No mail server listens on that port. Check the port your provider gives, press "
            "Detect to try the usual submission ports, or ask your mail administrator.",
        ),
    },
    "network_unreachable": {
        "es": (
            "No hay ruta de red hasta {host}.",
            "Este servidor no tiene salida a esa red. Compruebe la conexión a Internet del "
            "servidor o avise al administrador de la red.",
        ),
        "en": (
            "There is no network route to {host}.",
            "This machine cannot reach that network. Check the server's Internet connection "
            "or tell your network administrator.",
        ),
    },
    "connect_timeout": {
        "es": (
            "No se pudo conectar con {host} en el puerto {port}: no hubo respuesta.",
            "Probablemente un cortafuegos bloquea el puerto {port} (muchos proveedores "
            "bloquean el 25). Presione Detectar para probar los puertos de envío habituales, o "
            "pida que se abra la salida.",
        ),
        "en": (
            "Could not connect to {host} on port {port}: no answer.",
            "A firewall probably blocks port {port} (many providers block 25). Press Detect to "
            "try the usual submission ports, or ask for outgoing traffic to be allowed.",
        ),
    },
    "deadline_exceeded": {
        "es": (
            "La prueba tardó demasiado y se interrumpió.",
            "El servidor {host} responde muy despacio. Vuelva a probar más tarde; si "
            "persiste, consulte al administrador del correo.",
        ),
        "en": (
            "The test took too long and was stopped.",
            "The server {host} answers very slowly. Try again later; if it persists, ask "
            "your mail administrator.",
        ),
    },
    "tls_on_plain_port": {
        "es": (
            "El puerto {port} no usa SSL/TLS desde el primer byte (usa STARTTLS o ninguno).",
            "El servidor respondió sin cifrar a una conexión SSL/TLS: en ese puerto se usa "
            "STARTTLS o ningún cifrado. Presione Detectar para comprobar qué combinación de "
            "puerto y seguridad funciona.",
        ),
        "en": (
            "Port {port} does not use SSL/TLS from the first byte (it uses STARTTLS or none).",
            "The server answered an SSL/TLS connection in plain text: that port uses STARTTLS "
            "or no encryption. Press Detect to find which port and security work.",
        ),
    },
    "plain_on_tls_port": {
        "es": (
            "El puerto {port} exige SSL/TLS desde el primer byte, no STARTTLS.",
            "El servidor espera una conexión cifrada (SSL/TLS) desde el primer byte y la prueba "
            "empezó sin cifrar: con «SSL» marcado y Seguridad «Automática», en este puerto "
            "Emisario usa STARTTLS, que empieza sin cifrar. Presione Detectar para comprobar qué "
            "combinación de puerto y seguridad funciona.",
        ),
        "en": (
            "Port {port} requires SSL/TLS from the first byte, not STARTTLS.",
            "The server expects an encrypted (SSL/TLS) connection from the first byte and the "
            "test started unencrypted: with «SSL» ticked and Security «Automatic», Emisario uses "
            "STARTTLS on this port, which starts unencrypted. Press Detect to find which port "
            "and security work.",
        ),
    },
    "no_response": {
        "es": (
            "{host} aceptó la conexión pero no respondió.",
            "Compruebe que el puerto {port} sea el de envío de correo y que «SSL» corresponda a "
            "ese puerto (Detectar lo comprueba); si es correcto, el servidor puede estar "
            "saturado.",
        ),
        "en": (
            "{host} accepted the connection but did not answer.",
            'Check that port {port} is the mail submission port and that "SSL" matches it '
            "(Detect checks both); if so, the server may be overloaded.",
        ),
    },
    "starttls_not_offered": {
        "es": (
            "El servidor no ofrece cifrado (STARTTLS) en el puerto {port}.",
            "Presione Detectar: prueba si otro puerto de este servidor cifra desde el inicio. "
            "Desmarque «SSL» solo si el administrador confirma que es un servidor interno de "
            "confianza.",
        ),
        "en": (
            "The server offers no encryption (STARTTLS) on port {port}.",
            "Press Detect: it checks whether another port of this server encrypts from the "
            'start. Untick "SSL" only if the administrator confirms it is a trusted internal '
            "server.",
        ),
    },
    "starttls_failed": {
        "es": (
            "El servidor no pudo iniciar el cifrado (STARTTLS).",
            "Vuelva a probar en unos minutos o presione Detectar para probar SSL/TLS desde el "
            "inicio; si persiste, consulte al administrador del correo.",
        ),
        "en": (
            "The server could not start encryption (STARTTLS).",
            "Try again in a few minutes or press Detect to try SSL/TLS from the start; if it "
            "persists, ask your mail administrator.",
        ),
    },
    "tls_handshake_failed": {
        "es": (
            "No se pudo establecer la conexión cifrada con {host}.",
            "Revise que el puerto y la opción «SSL» correspondan (Detectar lo comprueba) y "
            "consulte al administrador del correo.",
        ),
        "en": (
            "The encrypted connection with {host} could not be set up.",
            'Check that the port and "SSL" match (Detect checks it) and ask your mail '
            "administrator.",
        ),
    },
    "tls_version_unsupported": {
        "es": (
            "El servidor usa una versión de cifrado obsoleta e insegura.",
            "El servidor solo admite versiones de TLS anteriores a la 1.2. Pida al "
            "administrador del correo que lo actualice.",
        ),
        "en": (
            "The server uses an obsolete, unsafe encryption version.",
            "The server only supports TLS versions older than 1.2. Ask your mail "
            "administrator to update it.",
        ),
    },
    "cert_untrusted": {
        "es": (
            "El certificado de {host} no es de confianza.",
            "Está autofirmado o lo emitió una autoridad desconocida. Use el nombre oficial "
            "del servidor de su proveedor, o pida al administrador que instale un "
            "certificado válido.",
        ),
        "en": (
            "The certificate of {host} is not trusted.",
            "It is self-signed or issued by an unknown authority. Use your provider's "
            "official server name, or ask the administrator to install a valid certificate.",
        ),
    },
    "cert_expired": {
        "es": (
            "El certificado de {host} está caducado.",
            "El administrador del correo debe renovarlo. Mientras tanto no se puede enviar "
            "de forma segura a este servidor.",
        ),
        "en": (
            "The certificate of {host} has expired.",
            "The mail administrator must renew it. Until then mail cannot be sent safely to "
            "this server.",
        ),
    },
    "cert_hostname_mismatch": {
        "es": (
            "El certificado del servidor no corresponde al nombre {host}.",
            "Escriba en «Servidor SMTP» el nombre que indica su proveedor (el que figura en "
            "el certificado), no una dirección IP ni un alias.",
        ),
        "en": (
            "The server's certificate does not match the name {host}.",
            "Enter the server name your provider documents (the one in the certificate), not "
            "an IP address or an alias.",
        ),
    },
    "greeting_refused": {
        "es": (
            "El servidor {host} rechaza las conexiones de este equipo.",
            "El servidor no acepta correo desde esta dirección. Consulte al administrador "
            "del correo; el mensaje del servidor indica el motivo.",
        ),
        "en": (
            "The server {host} refuses connections from this machine.",
            "The server does not accept mail from this address. Ask your mail administrator; "
            "the server's message gives the reason.",
        ),
    },
    "temporary_rejection": {
        "es": (
            "El servidor rechazó la prueba de forma temporal.",
            "Suele deberse a una lista gris o a que el servidor está ocupado. Vuelva a "
            "probar en unos minutos.",
        ),
        "en": (
            "The server turned the test away temporarily.",
            "This is usually greylisting or a busy server. Try again in a few minutes.",
        ),
    },
    "auth_not_offered": {
        "es": (
            "El servidor no admite usuario y contraseña.",
            "Este servidor no ofrece autenticación en el puerto {port}. Deje la contraseña "
            "en blanco si es un servidor interno que no la pide, o use el puerto de envío "
            "(con contraseña) que indica su proveedor.",
        ),
        "en": (
            "The server does not accept a user and password.",
            "This server offers no authentication on port {port}. Leave the password blank "
            "if it is an internal relay that needs none, or use the submission port (with a "
            "password) your provider gives.",
        ),
    },
    "password_not_sent_unencrypted": {
        "es": (
            "La contraseña no se envió: la conexión no está cifrada.",
            "Emisario nunca envía una contraseña sin cifrar, porque cualquiera en la red "
            "podría leerla. Marque «SSL» (o presione Detectar para saber qué cifrado ofrece "
            "el servidor). Si "
            "{host} es un servidor interno sin cifrado, el administrador del sistema puede "
            "autorizarlo en EMISARIO_PLAINTEXT_AUTH_ALLOW.",
        ),
        "en": (
            "The password was not sent: the connection is not encrypted.",
            "Emisario never sends a password unencrypted, since anyone on the network could "
            'read it. Tick "SSL" (or press Detect to find which encryption the server offers). '
            "If {host} is an "
            "internal relay without encryption, the system administrator can allow it in "
            "EMISARIO_PLAINTEXT_AUTH_ALLOW.",
        ),
    },
    "smtputf8_required": {
        "es": (
            "El servidor no acepta direcciones con acentos o «ñ» antes de la @.",
            "{host} no ofrece SMTPUTF8, la extensión que permite enviar desde o hacia una "
            "dirección como {sender}. Use una dirección sin acentos antes de la @ o un "
            "servidor que ofrezca SMTPUTF8. No se envió nada.",
        ),
        "en": (
            "The server does not accept addresses with accents before the @.",
            "{host} does not offer SMTPUTF8, the extension needed to send from or to an "
            "address such as {sender}. Use an address without accents before the @, or a "
            "server that offers SMTPUTF8. Nothing was sent.",
        ),
    },
    "auth_mechanism_unsupported": {
        "es": (
            "El servidor no admite el tipo de autenticación de Emisario.",
            "El servidor no ofrece PLAIN ni LOGIN (quizá solo OAuth). Consulte al "
            "administrador del correo cómo habilitar la autenticación SMTP básica.",
        ),
        "en": (
            "The server does not support Emisario's authentication methods.",
            "The server offers neither PLAIN nor LOGIN (perhaps only OAuth). Ask your mail "
            "administrator how to enable basic SMTP authentication.",
        ),
    },
    "auth_requires_tls": {
        "es": (
            "El servidor exige una conexión cifrada antes de la contraseña.",
            "Marque «SSL», o presione Detectar para saber qué puerto y cifrado ofrece el servidor.",
        ),
        "en": (
            "The server requires an encrypted connection before the password.",
            'Tick "SSL", or press Detect to find which port and encryption the server offers.',
        ),
    },
    "auth_required": {
        "es": (
            "El servidor exige usuario y contraseña para enviar.",
            "Escriba la contraseña de la cuenta {sender} en «Contraseña».",
        ),
        "en": (
            "The server requires a user and password to send.",
            "Enter the password of the account {sender}.",
        ),
    },
    "auth_failed": {
        "es": (
            "Usuario o contraseña incorrectos.",
            "Revise «Usuario» y «Contraseña» (distingue mayúsculas y minúsculas). Si los "
            "datos son correctos, consulte al administrador del correo.",
        ),
        "en": (
            "Wrong user or password.",
            "Check the user and the password (case-sensitive). If they are right, ask your "
            "mail administrator.",
        ),
    },
    "gmail_app_password_required": {
        "es": ("Gmail exige una contraseña de aplicación.", APP_PASSWORD_ES),
        "en": ("Gmail requires an app password.", APP_PASSWORD_EN),
    },
    "gmail_web_login_required": {
        "es": (
            "Gmail bloqueó el inicio de sesión («Web Login Required»).",
            "Inicie sesión una vez en Gmail desde el navegador para confirmar que es usted. "
            + APP_PASSWORD_ES,
        ),
        "en": (
            'Gmail blocked the sign-in ("Web Login Required").',
            "Sign in to Gmail once in a browser to confirm it is you. " + APP_PASSWORD_EN,
        ),
    },
    "gmail_credentials_rejected": {
        "es": (
            "Gmail no aceptó el usuario y la contraseña.",
            "Si son correctos, Gmail necesita una contraseña de aplicación. " + APP_PASSWORD_ES,
        ),
        "en": (
            "Gmail did not accept the user and password.",
            "If they are right, Gmail needs an app password. " + APP_PASSWORD_EN,
        ),
    },
    "m365_smtp_auth_disabled": {
        "es": (
            "Microsoft 365 tiene desactivado el envío con usuario y contraseña (SMTP AUTH).",
            "El administrador de Microsoft 365 debe habilitar «SMTP autenticado» para el "
            "buzón {user} (Centro de administración → Usuarios → Correo) y revisar que los "
            "valores de seguridad predeterminados no lo bloqueen.",
        ),
        "en": (
            "Microsoft 365 has sending with user and password (SMTP AUTH) turned off.",
            'The Microsoft 365 administrator must enable "Authenticated SMTP" for the '
            "mailbox {user} (admin center → Users → Mail) and check that security defaults "
            "do not block it.",
        ),
    },
    "m365_basic_auth_retired": {
        "es": (
            "Microsoft 365 ya no acepta contraseñas para enviar correo desde esta organización.",
            "Microsoft retiró la autenticación básica (usuario y contraseña) para SMTP. "
            "Cambie la autenticación de la cuenta a «OAuth 2.0» y pulse «Conectar con "
            "Microsoft»: la contraseña deja de usarse y no hace falta volver a escribirla.",
        ),
        "en": (
            "Microsoft 365 no longer accepts passwords for sending mail from this organisation.",
            "Microsoft retired basic authentication (user and password) for SMTP. Switch the "
            'account\'s authentication to "OAuth 2.0" and press "Conectar con Microsoft": the '
            "password is no longer used.",
        ),
    },
    "oauth_reconnect_required": {
        "es": (
            "La autorización de {user} ya no es válida: hay que conectar la cuenta de nuevo.",
            "El proveedor revocó o dejó vencer el permiso (cambio de contraseña, permiso "
            "retirado o meses sin uso). Pulse «Conectar» e inicie sesión con {user}; mientras "
            "tanto el correo de la cuenta espera y se envía por la siguiente cuenta.",
        ),
        "en": (
            "The authorisation of {user} is no longer valid: the account must be connected again.",
            "The provider revoked the permission or let it expire (a password change, consent "
            'removed, months unused). Press "Conectar" and sign in as {user}; meanwhile the '
            "account's mail waits and goes through the next account.",
        ),
    },
    "oauth_not_connected": {
        "es": (
            "La cuenta usa OAuth 2.0 pero todavía no está conectada.",
            "Pulse «Conectar» e inicie sesión en el proveedor con {user}.",
        ),
        "en": (
            "The account uses OAuth 2.0 but is not connected yet.",
            'Press "Conectar" and sign in at the provider as {user}.',
        ),
    },
    "oauth_app_misconfigured": {
        "es": (
            "La aplicación OAuth registrada en el proveedor falta o fue rechazada.",
            "Un usuario con el permiso PCSMTPG debe revisar el id de cliente, el secreto y el "
            "tenant de la aplicación (Configuración → Aplicaciones OAuth) tal como aparecen en "
            "el registro del proveedor; un secreto vencido se renueva allí.",
        ),
        "en": (
            "The OAuth application registered at the provider is missing or was refused.",
            "A user with the PCSMTPG permission must check the application's client id, "
            "secret and tenant against the provider's registration; an expired secret is "
            "renewed there.",
        ),
    },
    "oauth_provider_unavailable": {
        "es": (
            "No se pudo obtener el permiso de envío del proveedor en este momento.",
            "El servicio de inicio de sesión del proveedor no respondió o falló. Se reintentará "
            "solo; si continúa, revise la conexión a Internet del servidor.",
        ),
        "en": (
            "The sending permission could not be obtained from the provider right now.",
            "The provider's sign-in service did not answer or failed. It will be retried; if "
            "it goes on, check the server's Internet connection.",
        ),
    },
    "oauth_token_rejected": {
        "es": (
            "El servidor SMTP rechazó el permiso OAuth de {user}.",
            "El proveedor entregó el permiso, pero el servidor no lo aceptó. Revise que "
            "«Usuario» sea el buzón con el que se conectó la cuenta, que SMTP AUTH esté "
            "habilitado para ese buzón y que la aplicación tenga el permiso SMTP.Send (o "
            "SMTP.SendAsApp en el modo de solo aplicación).",
        ),
        "en": (
            "The SMTP server refused the OAuth permission of {user}.",
            "The provider issued the permission but the server did not accept it. Check that "
            '"Usuario" is the mailbox the account was connected with, that SMTP AUTH is on for '
            "that mailbox and that the application has SMTP.Send (SMTP.SendAsApp when app-only).",
        ),
    },
    "m365_send_as_denied": {
        "es": (
            "Microsoft 365 no permite enviar como {sender}.",
            "El usuario con el que se inicia sesión debe tener permiso «Enviar como» sobre "
            "{sender}, o bien «Usuario» debe ser esa misma dirección.",
        ),
        "en": (
            "Microsoft 365 does not allow sending as {sender}.",
            'The signed-in user needs the "Send As" permission on {sender}, or the user must '
            "be that same address.",
        ),
    },
    "m365_traffic_refused": {
        "es": (
            "Microsoft 365 bloqueó el envío de correo de su organización.",
            "El envío saliente de la organización está restringido. El administrador de "
            "Microsoft 365 debe revisarlo en el portal de seguridad o con el soporte de "
            "Microsoft.",
        ),
        "en": (
            "Microsoft 365 blocked outgoing mail from your organisation.",
            "The organisation's outgoing mail is restricted. The Microsoft 365 administrator "
            "must review it in the security portal or with Microsoft support.",
        ),
    },
    "m365_submission_quota": {
        "es": (
            "El buzón superó el límite de envío de Microsoft 365.",
            "Espere a que se restablezca el límite (hasta 24 horas) o reparta los envíos "
            "entre varias cuentas.",
        ),
        "en": (
            "The mailbox exceeded Microsoft 365's sending limit.",
            "Wait for the limit to reset (up to 24 hours) or spread sending over several accounts.",
        ),
    },
    "sending_quota_exceeded": {
        "es": (
            "La cuenta alcanzó su límite diario de envío.",
            "Espere a que se restablezca el límite (normalmente 24 horas) o use otra cuenta.",
        ),
        "en": (
            "The account reached its daily sending limit.",
            "Wait for the limit to reset (usually 24 hours) or use another account.",
        ),
    },
    "hourly_quota_exceeded": {
        "es": (
            "La cuenta alcanzó el límite de envíos por hora de su proveedor.",
            "Los envíos siguen solos cuando pase la hora. Si ocurre a menudo, pida al "
            "proveedor un límite mayor o reparta los envíos entre varias cuentas.",
        ),
        "en": (
            "The account reached its provider's hourly sending limit.",
            "Sending resumes by itself within the hour. If it happens often, ask the provider "
            "for a higher limit or spread sending over several accounts.",
        ),
    },
    "sending_rate_limited": {
        "es": (
            "El proveedor pidió enviar más despacio.",
            "Los envíos siguen solos en un momento. Si ocurre a menudo, baje el límite de "
            "mensajes por minuto de la cuenta.",
        ),
        "en": (
            "The provider asked to send more slowly.",
            "Sending resumes by itself shortly. If it happens often, lower the account's "
            "messages-per-minute limit.",
        ),
    },
    "concurrency_limited": {
        "es": (
            "La cuenta tiene demasiadas conexiones abiertas a la vez.",
            "Los envíos siguen solos en un momento. Baje el número de sesiones simultáneas "
            "de la cuenta (Microsoft 365 admite 3).",
        ),
        "en": (
            "The account has too many connections open at once.",
            "Sending resumes by itself shortly. Lower the account's number of simultaneous "
            "sessions (Microsoft 365 allows 3).",
        ),
    },
    "login_rate_limited": {
        "es": (
            "El servidor rechazó el inicio de sesión por demasiados intentos seguidos.",
            "La contraseña no es el problema. Espere unos minutos antes de volver a probar.",
        ),
        "en": (
            "The server refused the login after too many attempts in a row.",
            "The password is not the problem. Wait a few minutes before trying again.",
        ),
    },
    "relay_denied": {
        "es": (
            "El servidor no acepta enviar correo a {recipient}.",
            "El servidor no reenvía correo sin autenticación. Escriba la contraseña de la "
            "cuenta o consulte al administrador del correo.",
        ),
        "en": (
            "The server will not deliver mail to {recipient}.",
            "The server does not relay mail without authentication. Enter the account's "
            "password or ask your mail administrator.",
        ),
    },
    "relay_denied_authenticated": {
        "es": (
            "El servidor no permite a la cuenta {user} enviar a {recipient}.",
            "La contraseña fue aceptada: el problema no es la contraseña. El servidor no deja "
            "que esta cuenta envíe como {sender} o hacia ese destinatario. Use en «Usuario» una "
            "dirección de la propia cuenta, o pida al administrador del correo que autorice "
            "el envío; el mensaje del servidor indica el motivo.",
        ),
        "en": (
            "The server does not let the account {user} send to {recipient}.",
            "The password was accepted: it is not the problem. The server does not let this "
            "account send as {sender} or to that recipient. Use an address of the account "
            "itself as the user, or ask your mail administrator to allow it; the server's "
            "message gives the reason.",
        ),
    },
    "sender_not_allowed": {
        "es": (
            "El servidor no permite a la cuenta {user} enviar como {sender}.",
            "La contraseña fue aceptada, pero la dirección {sender} no pertenece a esa cuenta. "
            "Escriba en «Usuario» una dirección de la propia cuenta, o pida al administrador "
            "del correo que autorice {sender} para {user}.",
        ),
        "en": (
            "The server does not let the account {user} send as {sender}.",
            "The password was accepted, but the address {sender} does not belong to that "
            "account. Use an address of the account itself as the user, or ask your mail "
            "administrator to allow {sender} for {user}.",
        ),
    },
    "sender_not_verified": {
        "es": (
            "El proveedor no ha verificado la dirección {sender}.",
            "Verifique la dirección o el dominio del remitente en el panel del proveedor "
            "(SendGrid: Sender Authentication; Amazon SES: Verified identities).",
        ),
        "en": (
            "The provider has not verified the address {sender}.",
            "Verify the sender address or domain in the provider's console (SendGrid: Sender "
            "Authentication; Amazon SES: Verified identities).",
        ),
    },
    "sender_refused": {
        "es": (
            "El servidor rechazó el remitente {sender}.",
            "Use como «Usuario» una dirección de la propia cuenta de correo; el mensaje del "
            "servidor indica el motivo.",
        ),
        "en": (
            "The server refused the sender {sender}.",
            "Use an address that belongs to the mail account itself; the server's message "
            "gives the reason.",
        ),
    },
    "recipient_refused": {
        "es": (
            "El servidor rechazó el destinatario {recipient}.",
            "Revise la dirección de destino de la prueba; el mensaje del servidor indica el "
            "motivo.",
        ),
        "en": (
            "The server refused the recipient {recipient}.",
            "Check the test's destination address; the server's message gives the reason.",
        ),
    },
    "message_rejected": {
        "es": (
            "El servidor rechazó el correo de prueba.",
            "La conexión y la cuenta funcionan, pero el servidor no aceptó el mensaje; su "
            "respuesta indica el motivo. Consulte al administrador del correo.",
        ),
        "en": (
            "The server rejected the test message.",
            "The connection and the account work, but the server refused the message; its "
            "reply gives the reason. Ask your mail administrator.",
        ),
    },
    "server_disconnected": {
        "es": (
            "El servidor {host} cortó la conexión inesperadamente.",
            "Revise que el puerto y la opción «SSL» correspondan (Detectar lo comprueba) y "
            "vuelva a probar.",
        ),
        "en": (
            "The server {host} closed the connection unexpectedly.",
            'Check that the port and "SSL" match (Detect checks it) and try again.',
        ),
    },
    "protocol_unexpected": {
        "es": (
            "El servidor respondió algo inesperado.",
            "Consulte al administrador del correo con el mensaje del servidor que se "
            "muestra abajo.",
        ),
        "en": (
            "The server gave an unexpected answer.",
            "Ask your mail administrator, showing the server's message below.",
        ),
    },
}

FAULT_DETAILS: dict[str, dict[str, str]] = {
    "oauth_reconnect": {
        "es": "el proveedor ya no acepta la autorización guardada",
        "en": "the provider no longer accepts the stored authorisation",
    },
    "oauth_not_connected": {
        "es": "la cuenta no está conectada con OAuth",
        "en": "the account is not connected with OAuth",
    },
    "oauth_configuration": {
        "es": "la aplicación OAuth falta o fue rechazada",
        "en": "the OAuth application is missing or was refused",
    },
    "oauth_unavailable": {
        "es": "el proveedor no entregó un permiso de envío",
        "en": "the provider did not issue a sending permission",
    },
    "oauth_token_rejected": {
        "es": "el servidor rechazó el permiso OAuth",
        "en": "the server refused the OAuth permission",
    },
    "policy": {
        "es": "la política de red no permite esta prueba",
        "en": "the network policy does not allow this test",
    },
    "deadline": {
        "es": "sin respuesta dentro del límite de tiempo de la prueba",
        "en": "no answer within the test's time limit",
    },
    "deadline_seconds": {
        "es": "sin respuesta dentro del límite de {seconds} s",
        "en": "no answer within the {seconds} s limit",
    },
    "dns_not_found": {
        "es": "el nombre no existe en el DNS",
        "en": "the name does not exist in DNS",
    },
    "dns_temporary": {
        "es": "el servicio de nombres (DNS) no respondió",
        "en": "the name service (DNS) did not answer",
    },
    "refused": {
        "es": "conexión rechazada",
        "en": "connection refused",
    },
    "unreachable": {
        "es": "no hay ruta de red hasta el servidor",
        "en": "no network route to the server",
    },
    "timeout": {
        "es": "el servidor no respondió a tiempo",
        "en": "the server did not answer in time",
    },
    "timeout@dns": {
        "es": "el servicio de nombres (DNS) no respondió a tiempo",
        "en": "the name service (DNS) did not answer in time",
    },
    "timeout@connect": {
        "es": "la conexión no se completó a tiempo",
        "en": "the connection did not complete in time",
    },
    "disconnected": {
        "es": "el servidor cerró la conexión",
        "en": "the server closed the connection",
    },
    "malformed": {
        "es": "la respuesta del servidor no es SMTP válido",
        "en": "the server's answer is not valid SMTP",
    },
    "tls_wrong_version": {
        "es": "el servidor respondió sin cifrar a la negociación TLS",
        "en": "the server answered the TLS handshake in plain text",
    },
    "tls_port_detected": {
        "es": "no hubo saludo sin cifrar, pero el mismo puerto aceptó una conexión TLS",
        "en": "no plain-text greeting, but the same port accepted a TLS connection",
    },
    "tls_protocol_version": {
        "es": "el servidor solo ofrece versiones de TLS anteriores a la 1.2",
        "en": "the server only offers TLS versions older than 1.2",
    },
    "cert_untrusted": {
        "es": "el certificado no lo firmó una autoridad de confianza",
        "en": "the certificate is not signed by a trusted authority",
    },
    "cert_expired": {
        "es": "el certificado está caducado o aún no es válido",
        "en": "the certificate has expired or is not valid yet",
    },
    "cert_hostname": {
        "es": "el certificado no corresponde al nombre del servidor",
        "en": "the certificate does not match the server name",
    },
    "tls_failed": {
        "es": "la negociación TLS falló",
        "en": "the TLS handshake failed",
    },
    "starttls_failed": {
        "es": "la negociación TLS después de STARTTLS falló",
        "en": "the TLS handshake after STARTTLS failed",
    },
    "starttls_not_offered": {
        "es": "el servidor no ofrece STARTTLS",
        "en": "the server does not offer STARTTLS",
    },
    "auth_not_offered": {
        "es": "el servidor no ofrece AUTH",
        "en": "the server does not offer AUTH",
    },
    "auth_not_offered_before_tls": {
        "es": "el servidor no ofrece AUTH sin cifrar (sí ofrece STARTTLS)",
        "en": "the server does not offer AUTH before encryption (it offers STARTTLS)",
    },
    "auth_mechanisms": {
        "es": "ningún mecanismo AUTH compatible (PLAIN, LOGIN)",
        "en": "no supported AUTH mechanism (PLAIN, LOGIN)",
    },
    "plaintext_auth_refused": {
        "es": "la sesión no está cifrada: la contraseña no se envió",
        "en": "the session is not encrypted: the password was not sent",
    },
    "smtputf8_not_offered": {
        "es": "el servidor no ofrece SMTPUTF8, que necesita una dirección con caracteres no ASCII",
        "en": "the server does not offer SMTPUTF8, which a non-ASCII address needs",
    },
    "unexpected": {
        "es": "error inesperado",
        "en": "unexpected error",
    },
}
"""The technical detail of each local :class:`~emisario.core.smtp.advice.Fault` (keys are
its values; ``fault@step`` refines one step), lower case: the console adds the facts that
need no translation (addresses, OpenSSL's reason code, the offered mechanisms)."""

LANGUAGES = ("es", "en")


class _Keep(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def advice_text(code: str, language: str = "es", **params: Any) -> tuple[str, str]:
    """(title, fix) for an advice code in ``language``, Spanish when the language or the
    code is unknown (an unknown code gets the "unexpected" text)."""
    entry = CATALOGUE.get(code) or CATALOGUE["protocol_unexpected"]
    title, fix = entry.get(language) or entry["es"]
    values = _Keep(params)
    formatter = string.Formatter()
    return formatter.vformat(title, (), values), formatter.vformat(fix, (), values)


def fault_text(fault: str, language: str = "es", *, step: str = "", **params: Any) -> str:
    """The technical detail for a local fault in ``language`` (Spanish when unknown); an
    unknown fault gets the "unexpected error" text."""
    entry = (
        FAULT_DETAILS.get(f"{fault}@{step}")
        or FAULT_DETAILS.get(fault)
        or FAULT_DETAILS["unexpected"]
    )
    text = entry.get(language) or entry["es"]
    return string.Formatter().vformat(text, (), _Keep(params))
