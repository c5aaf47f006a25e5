"""Builders for Django tests: users with roles, companies, accounts."""

from __future__ import annotations

from django.contrib.auth.models import Permission, User

from emisario.accounts import crypto
from emisario.accounts.models import AccountType, Company, SmtpAccount
from emisario.core.secrets import Secret


def make_company(code: str = "ACME", name: str = "Acme S.A.") -> Company:
    return Company.objects.get_or_create(code=code, defaults={"name": name})[0]


def make_user(username: str, *, perms: tuple[str, ...] = (), companies=()) -> User:
    user = User.objects.create_user(username, password="clave-de-prueba-1")
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="accounts", codename__in=perms)
    )
    for company in companies:
        company.members.add(user)
    return User.objects.get(pk=user.pk)  # fresh permission cache


def interno() -> AccountType:
    """The type the data migration makes; made again when a transactional test's flush (on
    the same xdist worker, PostgreSQL pass) has removed it."""
    return AccountType.objects.get_or_create(
        code="INTERNO",
        defaults={
            "name": "Interno",
            "description": "The type CRONUS looks for when it sends the company's mail.",
        },
    )[0]


def make_account(company: Company | None, *, password: str | None = "secreto", **fields):
    values = {
        "account_type": interno(),
        "priority": 0,
        "host": "smtp.example.com",
        "port": 587,
        "security": "starttls",
        "sender": "cobranza@example.com",
    }
    values.update(fields)
    token = crypto.encrypt(Secret(password)) if password else ""
    return SmtpAccount.objects.create(company=company, password_token=token, **values)
