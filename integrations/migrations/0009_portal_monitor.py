# Per-flow alert settings (channels, kinds, threshold); the webhook URL encrypted.

import django.core.validators
import django.db.models.deletion
import integrations.fields
import simple_history.models
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('integrations', '0008_portal_queue'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='FlowAlertSettings',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('emails', models.TextField(blank=True, help_text='Addresses to email, one per line or separated by commas; empty uses ALERT_EMAILS.')),
                ('webhook', integrations.fields.EncryptedJSONField(blank=True, default='', editable=False, help_text='The Slack-compatible webhook URL, encrypted.')),
                ('webhook_hint', models.CharField(blank=True, editable=False, max_length=120)),
                ('on_run_failed', models.BooleanField(default=True, verbose_name='a run fails')),
                ('on_needs_reauth', models.BooleanField(default=True, verbose_name='a connection needs re-authorisation')),
                ('on_retries_exhausted', models.BooleanField(default=True, verbose_name='a retry schedule runs out')),
                ('on_exception_threshold', models.BooleanField(default=True, verbose_name='open exceptions pass the threshold')),
                ('exception_threshold', models.PositiveIntegerField(blank=True, help_text='Open exceptions of this flow that raise an alert; empty uses ALERT_EXCEPTION_THRESHOLD.', null=True, validators=[django.core.validators.MinValueValidator(1)])),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('flow', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='alert_settings', to='integrations.flow')),
            ],
            options={
                'verbose_name': 'flow alert settings',
                'verbose_name_plural': 'flow alert settings',
                'ordering': ['flow__name'],
            },
        ),
        migrations.CreateModel(
            name='HistoricalFlowAlertSettings',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('emails', models.TextField(blank=True, help_text='Addresses to email, one per line or separated by commas; empty uses ALERT_EMAILS.')),
                ('webhook_hint', models.CharField(blank=True, editable=False, max_length=120)),
                ('on_run_failed', models.BooleanField(default=True, verbose_name='a run fails')),
                ('on_needs_reauth', models.BooleanField(default=True, verbose_name='a connection needs re-authorisation')),
                ('on_retries_exhausted', models.BooleanField(default=True, verbose_name='a retry schedule runs out')),
                ('on_exception_threshold', models.BooleanField(default=True, verbose_name='open exceptions pass the threshold')),
                ('exception_threshold', models.PositiveIntegerField(blank=True, help_text='Open exceptions of this flow that raise an alert; empty uses ALERT_EXCEPTION_THRESHOLD.', null=True, validators=[django.core.validators.MinValueValidator(1)])),
                ('created_at', models.DateTimeField(blank=True, editable=False)),
                ('updated_at', models.DateTimeField(blank=True, editable=False)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('flow', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='integrations.flow')),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'historical flow alert settings',
                'verbose_name_plural': 'historical flow alert settings',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
    ]
