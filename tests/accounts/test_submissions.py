"""The one-time form tokens: claimed once, replayed, released, pruned."""

import datetime as dt

import pytest
from django.utils import timezone

from emisario.accounts.models import FormSubmission
from emisario.accounts.submissions import (
    new_token,
    submission_claim,
    submission_finish,
    submission_release,
)
from tests.factories import make_user


@pytest.fixture
def user(db):
    return make_user("cobros", perms=("EMISOPT",))


def test_first_claim_wins_and_the_repeat_gets_its_result(user):
    token = new_token()
    first = submission_claim(actor=user, token=token, action="guardar")
    assert first.first
    submission_finish(first, {"redirect": "/x"})
    repeat = submission_claim(actor=user, token=token, action="guardar", wait=0)
    assert not repeat.first and repeat.result == {"redirect": "/x"}


def test_the_same_token_for_another_action_is_another_submission(user):
    token = new_token()
    assert submission_claim(actor=user, token=token, action="probar").first
    assert submission_claim(actor=user, token=token, action="guardar").first


def test_a_repeat_while_the_first_runs_gets_no_result(user):
    token = new_token()
    submission_claim(actor=user, token=token, action="probar")
    repeat = submission_claim(actor=user, token=token, action="probar", wait=0)
    assert not repeat.first and repeat.result is None


def test_released_tokens_can_be_claimed_again(user):
    token = new_token()
    first = submission_claim(actor=user, token=token, action="guardar")
    submission_release(first)
    assert submission_claim(actor=user, token=token, action="guardar", wait=0).first


def test_another_users_result_is_never_replayed(user):
    token = new_token()
    first = submission_claim(actor=user, token=token, action="guardar")
    submission_finish(first, {"redirect": "/x"})
    other = make_user("otro", perms=("EMISOPT",))
    repeat = submission_claim(actor=other, token=token, action="guardar", wait=0)
    assert not repeat.first and repeat.result is None


def test_old_tokens_are_pruned(user):
    old = submission_claim(actor=user, token=new_token(), action="guardar")
    FormSubmission.objects.filter(pk=old.row.pk).update(at=timezone.now() - dt.timedelta(days=2))
    submission_claim(actor=user, token=new_token(), action="guardar")
    assert not FormSubmission.objects.filter(pk=old.row.pk).exists()
    assert FormSubmission.objects.count() == 1


def test_tokens_are_unguessable():
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) >= 22 for t in tokens)
