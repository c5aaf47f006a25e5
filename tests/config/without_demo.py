"""Run as ``python -m tests.config.without_demo`` with production settings in the environment.

It makes the demo's dependencies (aiosmtpd, trustme) unimportable, as on a production install
without the ``demo`` extra, then loads everything a deployment loads: the settings, every app,
every URL and its view, every module of the package outside ``emisario.demo``, the system
checks, and the console's pages for a signed-in user. Prints ``OK`` when all of it worked.
"""

from __future__ import annotations

import importlib
import importlib.abc
import pkgutil
import sys

BLOCKED = {"aiosmtpd", "trustme"}


class NotInstalled(importlib.abc.MetaPathFinder):
    """Refuses the demo's packages the way a missing distribution would."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (not installed)", name=name)
        return None


def main() -> None:
    sys.meta_path.insert(0, NotInstalled())
    for name in BLOCKED:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
        else:
            raise AssertionError(f"{name} is still importable: the test would prove nothing")

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import Permission, User
    from django.core.management import call_command
    from django.test import Client
    from django.urls import NoReverseMatch, get_resolver, reverse

    assert "emisario.demo" not in settings.INSTALLED_APPS, settings.INSTALLED_APPS
    call_command("check")

    views = []

    def walk(patterns):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns)
            else:
                views.append(pattern.callback)

    walk(get_resolver().url_patterns)
    assert views, "no URL patterns"
    for name in ("console:menu", "console:smtp_cxc", "console:smtp_emisario", "login"):
        reverse(name)
    try:
        reverse("demo:mailbox")
    except NoReverseMatch:
        pass
    else:
        raise AssertionError("the demo's mailbox page is served without the demo app")

    import emisario

    for module in pkgutil.walk_packages(emisario.__path__, "emisario."):
        if module.name.startswith(("emisario.demo", "emisario.config.settings.")):
            continue  # the demo itself, and the other deployments' settings
        importlib.import_module(module.name)

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    from emisario.accounts.models import Company

    user = User.objects.create_user("cobros", password=None)
    user.user_permissions.add(Permission.objects.get(codename="EMISOPT"))
    Company.objects.create(code="ACME", name="Acme S.A.").members.add(user)
    client = Client()
    assert client.get("/acceso/", secure=True).status_code == 200
    client.force_login(user)
    for path in ("/", reverse("console:smtp_cxc"), reverse("console:smtp_emisario")):
        response = client.get(path, secure=True)
        assert response.status_code == 200, (path, response.status_code)
        assert "/demo/" not in response.content.decode(), path
    assert client.get("/demo/buzon/", secure=True).status_code == 404

    loaded = BLOCKED & {name.split(".")[0] for name in sys.modules}
    assert not loaded, loaded
    print("OK")


if __name__ == "__main__":
    main()
