"""The role groups: Finance, Integration admins, Auditors (see integrations/roles.py)."""

from django.db import migrations

from integrations.roles import ROLE_NAMES, create_permissions_and_roles


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_NAMES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0002_audit_append_only"),
        ("reconciliation", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_permissions_and_roles, remove_roles)]
