"""The reconciliation screen: corrections kept as labels, one posting per allocation (the
exactly-once record of what was written to Xero or TIMS), the pull cursors, and the screen's
entry in the admin index."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0001_initial"),
        ("reconciliation", "0003_matching_engine"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ReconciliationScreen',
            fields=[
            ],
            options={
                'verbose_name': 'Reconciliation screen',
                'verbose_name_plural': 'Reconciliation screen',
                'proxy': True,
                'indexes': [],
                'constraints': [],
            },
            bases=('reconciliation.ledgerdocument',),
        ),
        migrations.CreateModel(
            name='AllocationPosting',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('xero_payment', 'Xero payment against the invoice'), ('tims_mark_paid', 'TIMS AR invoice marked paid'), ('nothing', 'Nothing to post: the source system has it')], max_length=20)),
                ('idempotency_key', models.CharField(max_length=100, unique=True)),
                ('status', models.CharField(choices=[('pending', 'Posting'), ('posted', 'Posted'), ('unknown_outcome', 'Unknown outcome (to verify)'), ('failed', 'Failed'), ('reversing', 'Reversing'), ('reversed', 'Reversed'), ('reversal_failed', 'Reversal failed')], default='pending', max_length=20)),
                ('remote_id', models.CharField(blank=True, max_length=100)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('claimed_until', models.DateTimeField(blank=True, help_text='A worker is sending it until then; after that it is looked up first.', null=True)),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('last_error', models.TextField(blank=True)),
                ('posted_at', models.DateTimeField(blank=True, null=True)),
                ('reversed_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('allocation', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='posting', to='reconciliation.matchallocation')),
                ('connection', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='integrations.connection')),
            ],
            options={
                'ordering': ['allocation'],
                'indexes': [models.Index(fields=['status', 'next_attempt_at'], name='reconciliat_status_83f789_idx')],
            },
        ),
        migrations.CreateModel(
            name='DocumentCursor',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('entity', models.CharField(max_length=50)),
                ('high_water', models.DateTimeField(blank=True, null=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('connection', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='integrations.connection')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('connection', 'entity'), name='one_cursor_per_pulled_entity')],
            },
        ),
        migrations.CreateModel(
            name='MatchLabel',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('confirmed_other', 'Confirmed a suggestion other than the first'), ('rejected', 'Rejected a suggestion'), ('split', 'Split across documents by hand'), ('undone', 'Undid a confirmed match')], max_length=20)),
                ('documents', models.JSONField(blank=True, default=list)),
                ('suggested', models.JSONField(blank=True, default=dict)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('match', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='labels', to='reconciliation.match')),
                ('payment', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='labels', to='reconciliation.ledgerdocument')),
            ],
            options={
                'ordering': ['-created_at'],
                'indexes': [models.Index(fields=['kind', 'created_at'], name='reconciliat_kind_06cc38_idx')],
            },
        ),
    ]
