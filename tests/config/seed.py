"""Seed a served database, run as ``python -m tests.config.seed`` with the server's settings.

Reads a JSON spec on stdin: ``{"company": "ACME", "emisopt": ["user", ...],
"passwords": {"user": "password"}}``. Users listed in ``passwords`` get that password (one
real hash each: slow on purpose, so only the sign-in test asks for it); every other user gets a
ready session instead, the one a sign-in would have created. Prints a JSON line:
``{"interno": <account type pk>, "sessions": {"user": "<session key>"}}``.
"""

import json
import sys

import django


def main() -> None:
    spec = json.load(sys.stdin)
    django.setup()
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import Permission, User
    from django.contrib.sessions.backends.db import SessionStore

    from emisario.accounts.models import AccountType, Company

    company = Company.objects.create(code=spec.get("company", "ACME"), name="Acme S.A.")
    emisopt = Permission.objects.get(content_type__app_label="accounts", codename="EMISOPT")
    backend = "django.contrib.auth.backends.ModelBackend"
    if backend not in settings.AUTHENTICATION_BACKENDS:
        backend = settings.AUTHENTICATION_BACKENDS[-1]
    passwords = spec.get("passwords", {})
    sessions = {}
    for username in spec.get("emisopt", []):
        user = User(username=username)
        if username in passwords:
            user.set_password(passwords[username])
        else:
            user.set_unusable_password()
        user.save()
        user.user_permissions.add(emisopt)
        company.members.add(user)
        if username not in passwords:
            session = SessionStore()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = backend
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.create()
            sessions[username] = session.session_key
    interno = AccountType.objects.get(code="INTERNO").pk
    print(json.dumps({"interno": interno, "sessions": sessions}))


if __name__ == "__main__":
    main()
