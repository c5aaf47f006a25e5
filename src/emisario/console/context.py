from django.apps import apps
from django.conf import settings


def console(request):
    # The demo's mailbox page exists only where the demo app is installed and has a Maildir.
    maildir = getattr(settings, "EMISARIO_DEMO_MAILDIR", "")
    return {"demo_mailbox_enabled": apps.is_installed("emisario.demo") and bool(maildir)}
