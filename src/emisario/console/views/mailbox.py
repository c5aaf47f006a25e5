from django.conf import settings
from django.http import Http404
from django.shortcuts import render

from emisario.accounts import permissions
from emisario.console.access import requires
from emisario.demo.mailbox import read_maildir


@requires(permissions.EMISOPT)
def demo_mailbox(request):
    """The demo's local mailbox: what Probar's confirmation mails look like on arrival."""
    if not settings.EMISARIO_DEMO_MAILDIR:
        raise Http404("no demo mailbox")
    mails = read_maildir(settings.EMISARIO_DEMO_MAILDIR)
    return render(request, "emisario/mailbox.html", {"mails": mails})
