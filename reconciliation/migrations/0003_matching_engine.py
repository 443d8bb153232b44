from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("reconciliation", "0002_allocation_limits")]

    operations = []
