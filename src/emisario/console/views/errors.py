from emisario.console.access import forbidden_page


def forbidden(request, exception=None):
    """Django's 403 handler: names the permission when the view raised it with its code."""
    code = str(exception) if exception and str(exception) in {"EMISOPT", "PCSMTPG"} else ""
    return forbidden_page(request, code)
