from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_delete, post_migrate, post_save


def _sync_roles(sender, **kwargs):  # type: ignore[no-untyped-def]
    from integrations.roles import roles_sync

    roles_sync(kwargs.get("apps"))


def _sync_system_schedules(sender, **kwargs):  # type: ignore[no-untyped-def]
    from integrations.schedules import system_schedules_sync

    system_schedules_sync()


def _flow_saved(sender, instance, **kwargs):  # type: ignore[no-untyped-def]
    from integrations.schedules import flow_schedule_sync

    flow_schedule_sync(instance)


def _flow_deleted(sender, instance, **kwargs):  # type: ignore[no-untyped-def]
    from integrations.schedules import flow_schedule_remove

    flow_schedule_remove(instance)


def _worker_spawned(sender, **kwargs):  # type: ignore[no-untyped-def]
    """A django-q2 worker process, just started: import what its tasks run, then keep all of it
    out of the garbage collector's walks for the life of the process (config.heap)."""
    from config.heap import freeze_start_up
    from integrations.engine import pipeline  # noqa: F401  (the engine the tasks run)
    from integrations.services import alerts, retries, runs, webhooks  # noqa: F401

    freeze_start_up()


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from integrations import checks  # noqa: F401  (registers system checks)
        from integrations.postgres import postgres_connection_setup

        connection_created.connect(postgres_connection_setup, dispatch_uid="integrations.postgres_setup")

        # post_migrate is sent once per app, and each app's permissions are made by auth's
        # handler on its own signal; syncing on every app's signal means the last one sees
        # every permission. (A few dozen queries per migrate.)
        post_migrate.connect(_sync_roles, dispatch_uid="integrations.sync_roles")
        post_migrate.connect(_sync_system_schedules, sender=self, dispatch_uid="integrations.system_schedules")
        flow = self.get_model("Flow")
        post_save.connect(_flow_saved, sender=flow, dispatch_uid="integrations.flow_schedule")
        post_delete.connect(_flow_deleted, sender=flow, dispatch_uid="integrations.flow_schedule_delete")

        from django_q.signals import post_spawn

        post_spawn.connect(_worker_spawned, dispatch_uid="integrations.worker_spawned")
