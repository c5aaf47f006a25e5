"""One-time tokens of rendered forms: a double submission runs once (``FormSubmission``)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_interno_and_groups"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="FormSubmission",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("token", models.CharField(max_length=64)),
                ("action", models.CharField(max_length=20)),
                ("digest", models.CharField(max_length=64)),
                ("at", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("done", models.BooleanField(default=False)),
                ("result", models.JSONField(blank=True, default=dict)),
                (
                    "actor",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("actor", "token", "action", "digest"),
                        name="form_submission_once",
                    )
                ],
            },
        ),
    ]
