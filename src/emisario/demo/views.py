"""The demo's pages: its local mailbox, so a person trying Probar sees the mail arrive.

They live in the demo app, not in the console: a deployment does not install the demo, so it
never imports the mailbox (aiosmtpd, trustme) or serves these pages.
"""

from django.conf import settings
from django.http import Http404
from django.shortcuts import render

from emisario.accounts import permissions
from emisario.console.access import requires
from emisario.demo.mailbox import read_maildir


def mailbox_dir() -> str:
    """The Maildir the demo's mailbox writes to; empty when this run has none."""
    return getattr(settings, "EMISARIO_DEMO_MAILDIR", "") or ""


@requires(permissions.EMISOPT)
def mailbox(request):
    """ "Buzón de demostración": what Probar's confirmation mails look like on arrival."""
    if not mailbox_dir():
        raise Http404("no demo mailbox")
    return render(request, "demo/mailbox.html", {"mails": read_maildir(mailbox_dir())})
