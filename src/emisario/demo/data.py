"""Demo data: one company, the seed's two roles, and a system default account on the mailbox."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import Group, User
from django.db import transaction

from emisario.accounts import crypto
from emisario.accounts.models import AccountType, Company, SmtpAccount
from emisario.core.secrets import Secret


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str


LOGINS = (
    DemoLogin("sistemas", "demo-sistemas", "EMISOPT + PCSMTPG"),
    DemoLogin("cobros", "demo-cobros", "EMISOPT"),
)
GROUP_OF = {
    "sistemas": "Emisario: cuentas del sistema (EMISOPT + PCSMTPG)",
    "cobros": "Emisario: configuración (EMISOPT)",
}
MAILBOX_USERS = {"cobranza@acme.demo": "buzon-demo", "notificaciones@erp.demo": "buzon-demo"}


@transaction.atomic
def load(*, smtp_port: int) -> None:
    """Idempotent: running the demo twice keeps what the user configured."""
    company, _ = Company.objects.get_or_create(
        code="ACME", defaults={"name": "Comercial Acme, S.A. de C.V."}
    )
    for login in LOGINS:
        user, created = User.objects.get_or_create(username=login.username)
        if created:
            user.set_password(login.password)
            user.save()
        user.groups.add(Group.objects.get(name=GROUP_OF[login.username]))
        company.members.add(user)
    interno = AccountType.objects.get(code="INTERNO")
    if not SmtpAccount.objects.filter(company__isnull=True).exists():
        SmtpAccount.objects.create(
            company=None,
            account_type=interno,
            priority=1,
            host="127.0.0.1",
            port=smtp_port,
            security="starttls",
            sender="notificaciones@erp.demo",
            display_name="ERP (cuenta default del sistema)",
            password_token=crypto.encrypt(Secret(MAILBOX_USERS["notificaciones@erp.demo"])),
        )
