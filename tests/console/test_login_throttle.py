"""Sign-in throttling (issue 6, point 5): 50 wrong passwords used to be followed by a working
right one. Through the real sign-in page, the real axes handler and the real database."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse

from emisario.config.login_throttle import client_address_from
from tests.factories import make_user

PASSWORD = "clave-de-prueba-1"  # tests.factories.make_user's
ATTACKER = "203.0.113.7"
OFFICE = "198.51.100.9"
LOCKED_ES = "Demasiados intentos fallidos de inicio de sesión desde su dirección."
MISMATCH_ES = "El usuario y la contraseña no coinciden."


@pytest.fixture
def cobros(db):
    return make_user("cobros")


def sign_in(client, username, password, address=ATTACKER, **headers):
    return client.post(
        reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=address,
        **headers,
    )


def signed_in(response) -> bool:
    return response.status_code == 302 and response.url == reverse("console:menu")


def hammer(client, username, times, address=ATTACKER):
    return [sign_in(client, username, f"mala-{n}", address) for n in range(times)]


def test_fifty_wrong_passwords_then_the_right_one_is_refused_in_spanish(client, cobros, settings):
    responses = hammer(client, "cobros", 50)
    limit = settings.AXES_FAILURE_LIMIT
    assert [r.status_code for r in responses[: limit - 1]] == [200] * (limit - 1)
    assert MISMATCH_ES in responses[0].content.decode()
    assert {r.status_code for r in responses[limit - 1 :]} == {429}

    right = sign_in(client, "cobros", PASSWORD)
    page = right.content.decode()
    assert right.status_code == 429
    assert LOCKED_ES in page and "durante 15 min" in page
    assert 'id="id_username"' in page  # the sign-in page itself, in the console's look
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("console:menu")).status_code == 302  # still signed out


def test_other_users_and_other_addresses_are_unaffected(client, cobros, settings):
    make_user("sistemas")
    hammer(client, "cobros", settings.AXES_FAILURE_LIMIT)
    assert sign_in(client, "cobros", PASSWORD).status_code == 429

    assert signed_in(sign_in(client, "cobros", PASSWORD, address=OFFICE))
    client.logout()
    assert signed_in(sign_in(client, "sistemas", PASSWORD, address=ATTACKER))


def test_the_attempts_are_recorded_without_the_password_and_shown_in_the_admin(
    client, cobros, settings
):
    limit = settings.AXES_FAILURE_LIMIT
    hammer(client, "cobros", limit + 2)
    assert sign_in(client, "cobros", PASSWORD).status_code == 429

    attempt = AccessAttempt.objects.get(username="cobros", ip_address=ATTACKER)
    assert attempt.failures_since_start == limit + 3  # failures during the lock count too
    assert "mala-" not in attempt.post_data and PASSWORD not in attempt.post_data
    failures = AccessFailureLog.objects.filter(username="cobros", ip_address=ATTACKER)
    assert failures.count() == limit + 3
    assert failures.filter(locked_out=True).count() == 4  # the limit-th and the three after

    User.objects.create_superuser("admin", password=PASSWORD)
    assert signed_in(sign_in(client, "admin", PASSWORD, address=OFFICE))
    for model in ("accessattempt", "accessfailurelog"):
        listing = client.get(reverse(f"admin:axes_{model}_changelist"))
        assert listing.status_code == 200 and ATTACKER in listing.content.decode()
    assert AccessLog.objects.filter(username="admin", ip_address=OFFICE).exists()


def test_an_administrator_lifts_the_lock(client, cobros, settings):
    hammer(client, "cobros", settings.AXES_FAILURE_LIMIT)
    assert sign_in(client, "cobros", PASSWORD).status_code == 429

    call_command("axes_reset_username", "cobros")

    assert signed_in(sign_in(client, "cobros", PASSWORD))


def test_an_administrator_lifts_the_lock_in_the_admin(client, cobros, settings):
    hammer(client, "cobros", settings.AXES_FAILURE_LIMIT)
    admin = User.objects.create_superuser("admin", password=PASSWORD)
    client.force_login(admin)
    attempt = AccessAttempt.objects.get(username="cobros")
    response = client.post(
        reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    client.logout()

    assert signed_in(sign_in(client, "cobros", PASSWORD))


def test_the_lock_ends_after_the_cool_off(client, cobros, settings):
    hammer(client, "cobros", settings.AXES_FAILURE_LIMIT)
    assert sign_in(client, "cobros", PASSWORD).status_code == 429
    # Age the record past the cool-off instead of waiting for it.
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time
        - settings.AXES_COOLOFF_TIME
        - timedelta(seconds=1)
    )
    assert signed_in(sign_in(client, "cobros", PASSWORD))


def test_without_cool_off_the_lock_waits_for_an_administrator(client, cobros, settings):
    settings.AXES_COOLOFF_TIME = None  # EMISARIO_LOGIN_COOLOFF_MINUTES=0
    hammer(client, "cobros", settings.AXES_FAILURE_LIMIT)
    page = sign_in(client, "cobros", PASSWORD).content.decode()
    assert "El acceso queda bloqueado hasta que un administrador levante el bloqueo." in page


def test_spraying_many_user_names_from_one_address_locks_the_address(client, cobros, settings):
    settings.EMISARIO_LOGIN_ADDRESS_FAILURE_LIMIT = 6
    for n in range(6):  # one guess each: never the per-user limit
        assert sign_in(client, f"usuario{n}", "mala").status_code in {200, 429}
    assert sign_in(client, "cobros", PASSWORD).status_code == 429
    assert signed_in(sign_in(client, "cobros", PASSWORD, address=OFFICE))


def test_a_forged_x_forwarded_for_does_not_escape_the_lock(client, cobros, settings):
    """No proxy configured: the header is the client's own writing and is ignored."""
    for n in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "cobros", "mala", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    response = sign_in(client, "cobros", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.200")
    assert response.status_code == 429


def test_behind_one_proxy_the_client_is_the_address_the_proxy_saw(client, cobros, settings):
    settings.EMISARIO_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    for _ in range(settings.AXES_FAILURE_LIMIT):
        # The attacker prepends a forged entry; the proxy appends the real peer address.
        sign_in(client, "cobros", "mala", proxy, HTTP_X_FORWARDED_FOR=f"192.0.2.1, {ATTACKER}")
    assert AccessAttempt.objects.get().ip_address == ATTACKER
    locked = sign_in(client, "cobros", PASSWORD, proxy, HTTP_X_FORWARDED_FOR=ATTACKER)
    assert locked.status_code == 429
    office = sign_in(client, "cobros", PASSWORD, proxy, HTTP_X_FORWARDED_FOR=OFFICE)
    assert signed_in(office)


@pytest.mark.parametrize(
    ("remote", "forwarded", "proxies", "expected"),
    [
        ("203.0.113.7", "192.0.2.1", 0, "203.0.113.7"),
        ("10.0.0.2", "192.0.2.1, 203.0.113.7", 1, "203.0.113.7"),
        ("10.0.0.3", "192.0.2.1, 203.0.113.7, 10.0.0.2", 2, "203.0.113.7"),
        ("10.0.0.2", "", 1, "10.0.0.2"),
        ("10.0.0.2", "203.0.113.7", 2, "10.0.0.2"),
        ("10.0.0.2", "not-an-address", 1, "10.0.0.2"),
        ("10.0.0.2", " 2001:db8::1 ", 1, "2001:db8::1"),
    ],
    ids=["no-proxy", "one", "two", "header-missing", "header-short", "garbage", "ipv6"],
)
def test_client_address_from(remote, forwarded, proxies, expected):
    assert client_address_from(remote, forwarded, proxies) == expected
