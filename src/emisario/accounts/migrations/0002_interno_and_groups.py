"""The seed's catalog and roles: type INTERNO, and two groups that grant the permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = {
    "Emisario: configuración (EMISOPT)": ["EMISOPT"],
    "Emisario: cuentas del sistema (EMISOPT + PCSMTPG)": ["EMISOPT", "PCSMTPG"],
}


def forwards(apps, schema_editor):
    AccountType = apps.get_model("accounts", "AccountType")
    AccountType.objects.get_or_create(
        code="INTERNO",
        defaults={
            "name": "Interno",
            "description": "The type CRONUS looks for when it sends the company's mail.",
        },
    )
    # Permissions are normally created after all migrations; groups need them now.
    app_config = apps.get_app_config("accounts")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codes in GROUPS.items():
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="accounts", codename__in=codes)
        )


def backwards(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
