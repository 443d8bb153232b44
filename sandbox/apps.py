from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """Emulators of Xero, TIMS, Kashflow and Salesforce: an outside world with its own tables.

    No product code imports this app, and it imports no product code.
    """

    name = "sandbox"
    verbose_name = "Sandbox systems"
