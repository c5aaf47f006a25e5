"""Permission checks for console views: every view goes through one of these."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render

from emisario.accounts import permissions
from emisario.console.messages import PERMISSION_NAMES


def forbidden_page(request, code: str, status: int = 403):
    """A Spanish page that names the missing permission."""
    return render(
        request,
        "emisario/403.html",
        {"permission": code, "permission_name": PERMISSION_NAMES.get(code, "")},
        status=status,
    )


def requires(code: str):
    """Anonymous users go to the login page; signed-in users without ``code`` get a 403."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not permissions.has(request.user, code):
                return forbidden_page(request, code)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
