"""Sign-in throttling on top of django-axes: who the client is, when it is locked, what it sees.

The rules (settings in ``base.py``, from the environment):

- A user name is locked *from one address* after ``EMISARIO_LOGIN_FAILURE_LIMIT`` failures
  (axes' user-and-address combination): an attacker guessing ``cobros``'s password locks only
  himself, never ``cobros`` at the office.
- One address is locked for *every* user name after ``EMISARIO_LOGIN_ADDRESS_FAILURE_LIMIT``
  failures across user names (password spraying: one guess each at many users). It is much
  higher than the per-user limit because a whole office may share one address behind NAT.
- Both count within the cool-off (``EMISARIO_LOGIN_COOLOFF_MINUTES``); an administrator lifts a
  lock early in the admin (Access attempts) or with ``emisario axes_reset_username`` /
  ``axes_reset_ip``.

The client address is the connection's, unless ``EMISARIO_PROXY_COUNT`` says how many reverse
proxies stand in front: ``X-Forwarded-For`` is written by the client first, so only the entries
our own proxies appended can be believed.
"""

from __future__ import annotations

import ipaddress
import math

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

LOGIN_TEMPLATE = "emisario/login.html"


def client_address_from(remote_addr: str, forwarded_for: str, proxy_count: int) -> str:
    """The client's address, given the connection's address, the ``X-Forwarded-For`` header
    and how many trusted proxies append to it.

    Each proxy appends the address it received the request from, so with ``n`` proxies the
    ``n``-th entry from the right was written by the outermost one: the real client. Anything
    left of it is whatever the client chose to send. A header shorter than ``n`` (a request
    that bypassed a proxy) or an entry that is not an address falls back to the connection.
    """
    if proxy_count <= 0:
        return remote_addr
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    if len(hops) < proxy_count:
        return remote_addr
    candidate = hops[-proxy_count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote_addr


def client_address(request: HttpRequest) -> str:
    """``AXES_CLIENT_IP_CALLABLE``: axes without django-ipware would use ``REMOTE_ADDR``, which
    behind a proxy is the proxy, so one attacker would lock everybody out."""
    return client_address_from(
        request.META.get("REMOTE_ADDR", ""),
        request.META.get("HTTP_X_FORWARDED_FOR", ""),
        settings.EMISARIO_PROXY_COUNT,
    )


class LoginThrottleHandler(AxesDatabaseHandler):
    """Axes' database handler plus the per-address limit across user names (see the module
    docstring). Axes compares one failure count with one limit, so an address over its own
    limit reports at least the per-user limit for every user name."""

    def get_failures(self, request, credentials=None) -> int:
        failures = super().get_failures(request, credentials)
        address_limit = settings.EMISARIO_LOGIN_ADDRESS_FAILURE_LIMIT
        if not address_limit:
            return failures
        attempts = AccessAttempt.objects.filter(ip_address=request.axes_ip_address)
        if get_cool_off(request) is not None:
            attempts = attempts.filter(attempt_time__gte=get_cool_off_threshold(request))
        total = attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
        if total >= address_limit:
            return max(failures, get_failure_limit(request, credentials))
        return failures


def lockout_response(request: HttpRequest, original_response=None, credentials=None):
    """``AXES_LOCKOUT_CALLABLE``: the sign-in page again, with the lock explained in Spanish and
    axes' status code (429); the form stays so the user can sign in once the lock ends."""
    cool_off = get_cool_off(request)
    minutes = math.ceil(cool_off.total_seconds() / 60) if cool_off else None
    context = {
        "form": AuthenticationForm(request),
        "locked_out": True,
        "lockout_minutes": minutes,
        "next": request.POST.get("next", request.GET.get("next", "")),
    }
    response: HttpResponse = render(
        request, LOGIN_TEMPLATE, context, status=settings.AXES_HTTP_RESPONSE_CODE
    )
    return response
