"""``emisario rotate_secrets``: re-encrypt every stored SMTP password with the newest key.

Rotation: put a new key first in EMISARIO_SECRET_KEYS (keep the old ones after it), run this,
then drop the old keys. A password no key can open is reported by account, never erased.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from emisario.accounts.crypto import secret_box
from emisario.accounts.models import SmtpAccount
from emisario.core.secrets import UndecryptableSecret


class Command(BaseCommand):
    help = "Re-encrypt stored SMTP passwords with the first key of EMISARIO_SECRET_KEYS."

    def handle(self, *args, **options):
        box = secret_box()
        rotated, unreadable = 0, []
        with transaction.atomic():
            accounts = SmtpAccount.objects.select_for_update().exclude(password_token="")
            for account in accounts.order_by("pk"):
                try:
                    account.password_token = box.rotate(account.password_token)
                except UndecryptableSecret:
                    unreadable.append(account)
                    continue
                account.save(update_fields=["password_token"])
                rotated += 1
        self.stdout.write(f"Re-encrypted {rotated} password(s) with the newest key.")
        if unreadable:
            names = ", ".join(f"#{a.pk} {a.sender} ({a.host})" for a in unreadable)
            raise CommandError(
                f"{len(unreadable)} password(s) cannot be opened with any configured key and "
                f"were left as they are: {names}. Add the key they were saved with, or type "
                "those passwords again on the SMTP screen."
            )
