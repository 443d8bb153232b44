"""The three roles, as Django groups with model permissions.

The groups are created by a migration and kept in step after every ``migrate`` (a
``post_migrate`` handler), so models added later receive their permissions without a
hand-written migration each time.
"""

from __future__ import annotations

from typing import Any

FINANCE = "Finance"
INTEGRATION_ADMINS = "Integration admins"
AUDITORS = "Auditors"
ROLE_NAMES = (FINANCE, INTEGRATION_ADMINS, AUDITORS)

# The apps whose models auditors may view (everything of the product; sandbox state is an
# emulated outside world, not product data, but viewing it hurts nobody).
PRODUCT_APPS = ("integrations", "reconciliation", "sandbox", "django_q")

CONFIG_MODELS = (
    "integrations.connection",
    "integrations.flow",
    "integrations.mappingset",
    "integrations.fieldmapping",
    "integrations.valuemap",
    "integrations.valuemapentry",
    "integrations.rule",
    "integrations.flowalertsettings",
)
HISTORY_MODELS = (
    "integrations.syncrun",
    "integrations.recordlink",
    "integrations.auditevent",
    "integrations.apicall",
    "integrations.webhookdelivery",
    "integrations.alert",
)

# model → the actions allowed; "view" alone means read-only.
ROLE_PERMISSIONS: dict[str, dict[str, tuple[str, ...]]] = {
    FINANCE: {
        "integrations.openexception": ("view", "change"),
        "integrations.resolvedexception": ("view", "change"),
        "integrations.syncexception": ("view", "change"),
        "integrations.flow": ("view",),
        "integrations.connection": ("view",),
        "integrations.syncrun": ("view",),
        "integrations.recordlink": ("view",),
        "integrations.auditevent": ("view",),
        "integrations.alert": ("view",),
        "reconciliation.ledgerdocument": ("view",),
        "reconciliation.match": ("view", "add", "change"),
        "reconciliation.matchallocation": ("view", "add", "change", "delete"),
    },
    INTEGRATION_ADMINS: {
        **{model: ("view", "add", "change", "delete") for model in CONFIG_MODELS},
        **{model: ("view",) for model in HISTORY_MODELS},
        "integrations.openexception": ("view",),
        "integrations.resolvedexception": ("view",),
        "integrations.syncexception": ("view",),
        "django_q.schedule": ("view", "add", "change", "delete"),
        "django_q.success": ("view",),
        "django_q.failure": ("view",),
        "django_q.ormq": ("view",),
    },
}


def _model_permissions(Permission: Any, label: str, actions: tuple[str, ...]) -> list[Any]:
    app_label, model = label.split(".")
    codenames = [f"{action}_{model}" for action in actions]
    return list(
        Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
    )


def roles_sync(apps: Any = None) -> None:
    """Create the role groups and set exactly their permissions."""
    if apps is None:
        from django.apps import apps as global_apps

        apps = global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    for role, grants in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        permissions = []
        for label, actions in grants.items():
            permissions += _model_permissions(Permission, label, actions)
        # Historical (config history) records are readable by whoever may view the model.
        for label, actions in grants.items():
            if "view" in actions:
                app_label, model = label.split(".")
                permissions += _model_permissions(Permission, f"{app_label}.historical{model}", ("view",))
        group.permissions.set(permissions)

    auditors, _ = Group.objects.get_or_create(name=AUDITORS)
    auditors.permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=PRODUCT_APPS, codename__startswith="view_"
        )
    )


def create_permissions_and_roles(apps: Any, schema_editor: Any = None) -> None:
    """Migration helper: permissions appear only after migrate, so make them first."""
    from django.contrib.auth.management import create_permissions

    # The migration state's app configs have no models module; create_permissions skips
    # such apps unless told otherwise (the documented workaround, on the state registry only).
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    roles_sync(apps)
