import pytest
from django.contrib.auth.models import Group
from django.db.models import ProtectedError

from emisario.accounts.models import AccountType


@pytest.mark.django_db
def test_interno_comes_from_the_first_migrations_and_cannot_be_deleted():
    interno = AccountType.objects.get(code="INTERNO")
    with pytest.raises(ProtectedError):
        interno.delete()
    with pytest.raises(ProtectedError):
        AccountType.objects.all().delete()
    AccountType.objects.create(code="COBRANZA", name="Cobranza").delete()  # others can go
    assert AccountType.objects.filter(code="INTERNO").exists()


@pytest.mark.django_db
def test_groups_grant_the_seed_permissions():
    granted = {
        group.name: sorted(group.permissions.values_list("codename", flat=True))
        for group in Group.objects.all()
    }
    assert sorted(granted.values()) == [["EMISOPT"], ["EMISOPT", "PCSMTPG"]]


@pytest.mark.django_db
def test_admin_keeps_interno(admin_client):
    interno = AccountType.objects.get(code="INTERNO")
    response = admin_client.get(f"/admin/accounts/accounttype/{interno.pk}/delete/")
    assert response.status_code == 403
    page = admin_client.get(f"/admin/accounts/accounttype/{interno.pk}/change/").content.decode()
    assert 'name="code"' not in page  # read-only
