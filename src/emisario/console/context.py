from django.conf import settings


def console(request):
    return {"demo_mailbox_enabled": bool(settings.EMISARIO_DEMO_MAILDIR)}
