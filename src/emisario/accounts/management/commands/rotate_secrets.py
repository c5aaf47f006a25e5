"""``emisario rotate_secrets``: re-encrypt every stored secret with the newest key: SMTP
passwords, OAuth refresh and access tokens, OAuth client secrets.

Rotation: put a new key first in EMISARIO_SECRET_KEYS (keep the old ones after it), run this,
then drop the old keys. A secret no key can open is reported by owner, never erased.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from emisario.accounts.crypto import secret_box
from emisario.accounts.models import OAuthApplication, OAuthGrant, SmtpAccount
from emisario.core.secrets import UndecryptableSecret

STORED = (
    (SmtpAccount, ("password_token",), "password"),
    (OAuthGrant, ("refresh_token_token", "access_token_token"), "OAuth token"),
    (OAuthApplication, ("client_secret_token",), "OAuth client secret"),
)


def _label(row) -> str:
    if isinstance(row, SmtpAccount):
        return f"#{row.pk} {row.sender} ({row.host})"
    if isinstance(row, OAuthGrant):
        return f"grant of account #{row.account_id} {row.mailbox}"
    return f"{row.provider} application {row.client_id}"


class Command(BaseCommand):
    help = (
        "Re-encrypt stored secrets (SMTP passwords, OAuth tokens and client secrets) with the "
        "first key of EMISARIO_SECRET_KEYS."
    )

    def handle(self, *args, **options):
        box = secret_box()
        counts = dict.fromkeys((noun for *_, noun in STORED), 0)
        unreadable = []
        with transaction.atomic():
            for model, fields, noun in STORED:
                for row in model.objects.select_for_update().order_by("pk"):
                    changed = []
                    for name in fields:
                        token = getattr(row, name)
                        if not token:
                            continue
                        try:
                            setattr(row, name, box.rotate(token))
                        except UndecryptableSecret:
                            unreadable.append(f"{noun} of {_label(row)}")
                            continue
                        changed.append(name)
                    if changed:
                        row.save(update_fields=changed)
                        counts[noun] += len(changed)
        self.stdout.write(f"Re-encrypted {counts['password']} password(s) with the newest key.")
        oauth = counts["OAuth token"] + counts["OAuth client secret"]
        if oauth:
            self.stdout.write(
                f"Re-encrypted {counts['OAuth token']} OAuth token(s) and "
                f"{counts['OAuth client secret']} OAuth client secret(s)."
            )
        if unreadable:
            raise CommandError(
                f"{len(unreadable)} secret(s) cannot be opened with any configured key and "
                f"were left as they are: {', '.join(unreadable)}. Add the key they were saved "
                "with, or type those passwords again on the SMTP screen (an OAuth account: "
                "press Conectar again)."
            )
