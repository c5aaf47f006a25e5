"""``Cache-Control: no-store`` on every page Django renders.

Every page of Emisario is either the sign-in form or shows account data (SMTP servers, logins,
the server's replies, the audit trail); none is public. A page kept by the browser's back/forward
cache, a shared proxy or a disk cache would show that data to the next person at the keyboard,
so no Django response may be stored. Listing "pages with account data" one by one would miss
the next screen; marking them all cannot. Static files never reach this middleware: WhiteNoise
answers them earlier in the chain, with its own long-lived caching for hashed names.
"""

from django.utils.cache import add_never_cache_headers


class NoStoreMiddleware:
    """Mark every response ``no-store, private`` (Django's ``never_cache`` headers)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        add_never_cache_headers(response)
        return response
