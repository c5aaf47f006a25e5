"""Key rotation end to end: a new key first, the command, then the old key can go."""

import io

import pytest
from django.core.management import CommandError, call_command

from emisario.accounts import crypto
from emisario.accounts.models import SmtpAccount
from emisario.core.secrets import Secret, SecretBox, UndecryptableSecret
from tests.factories import make_account, make_company


@pytest.mark.django_db
def test_rotation_re_encrypts_with_the_new_key(settings):
    old = settings.EMISARIO_SECRET_KEYS[0]
    account = make_account(make_company(), password="clave-1")
    new = SecretBox.generate_key()
    settings.EMISARIO_SECRET_KEYS = [new, old]
    out = io.StringIO()
    call_command("rotate_secrets", stdout=out)
    assert "Re-encrypted 1 password(s)" in out.getvalue()
    account.refresh_from_db()
    assert SecretBox([new]).decrypt(account.password_token).reveal() == "clave-1"
    with pytest.raises(UndecryptableSecret):
        SecretBox([old]).decrypt(account.password_token)


@pytest.mark.django_db
def test_an_unreadable_password_is_reported_and_kept(settings):
    company = make_company()
    readable = make_account(company, password="clave-1")
    lost = make_account(company, password=None, sender="perdida@acme.example")
    lost.password_token = SecretBox([SecretBox.generate_key()]).encrypt(Secret("x"))
    lost.save()
    with pytest.raises(CommandError, match=r"perdida@acme\.example"):
        call_command("rotate_secrets", stdout=io.StringIO())
    lost_token = SmtpAccount.objects.get(pk=lost.pk).password_token
    assert lost_token == lost.password_token  # never erased
    readable.refresh_from_db()
    assert crypto.decrypt(readable.password_token).reveal() == "clave-1"
