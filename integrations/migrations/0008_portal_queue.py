"""Indexes of the review queue: partial indexes in the queue's own order (newest first) for
the open and the closed exceptions, alone and by flow, flow and code, code, assignee."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("integrations", "0007_connection_ca_bundle")]

    operations = [
        migrations.AddIndex(
            model_name='syncexception',
            index=models.Index(models.OrderBy(models.F('created_at'), descending=True), models.OrderBy(models.F('id'), descending=True), condition=models.Q(('status__in', ('open', 'retrying'))), name='exc_open_age_idx'),
        ),
        migrations.AddIndex(
            model_name='syncexception',
            index=models.Index(models.F('flow'), models.OrderBy(models.F('created_at'), descending=True), models.OrderBy(models.F('id'), descending=True), condition=models.Q(('status__in', ('open', 'retrying'))), name='exc_open_flow_idx'),
        ),
        migrations.AddIndex(
            model_name='syncexception',
            index=models.Index(models.F('flow'), models.F('code'), models.OrderBy(models.F('created_at'), descending=True), models.OrderBy(models.F('id'), descending=True), condition=models.Q(('status__in', ('open', 'retrying'))), name='exc_open_flow_code_idx'),
        ),
        migrations.AddIndex(
            model_name='syncexception',
            index=models.Index(models.F('code'), models.OrderBy(models.F('created_at'), descending=True), models.OrderBy(models.F('id'), descending=True), condition=models.Q(('status__in', ('open', 'retrying'))), name='exc_open_code_idx'),
        ),
        migrations.AddIndex(
            model_name='syncexception',
            index=models.Index(models.F('assignee'), models.OrderBy(models.F('created_at'), descending=True), models.OrderBy(models.F('id'), descending=True), condition=models.Q(('status__in', ('open', 'retrying'))), name='exc_open_assignee_idx'),
        ),
        migrations.AddIndex(
            model_name='syncexception',
            index=models.Index(models.OrderBy(models.F('created_at'), descending=True), models.OrderBy(models.F('id'), descending=True), condition=models.Q(('status__in', ('resolved', 'auto_resolved', 'ignored'))), name='exc_closed_age_idx'),
        ),
        migrations.AddIndex(
            model_name='syncexception',
            index=models.Index(models.F('flow'), models.OrderBy(models.F('created_at'), descending=True), models.OrderBy(models.F('id'), descending=True), condition=models.Q(('status__in', ('resolved', 'auto_resolved', 'ignored'))), name='exc_closed_flow_idx'),
        ),
        migrations.AddIndex(
            model_name='syncexception',
            index=models.Index(models.F('code'), models.OrderBy(models.F('created_at'), descending=True), models.OrderBy(models.F('id'), descending=True), condition=models.Q(('status__in', ('resolved', 'auto_resolved', 'ignored'))), name='exc_closed_code_idx'),
        ),
    ]
