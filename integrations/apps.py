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
