"""Django admin of the integrations domain, one module per concern."""

from integrations.admin import config, connections, exceptions, history  # noqa: F401

from django.contrib import admin

admin.site.site_header = "Ledgerbridge"
admin.site.site_title = "Ledgerbridge"
admin.site.index_title = "Operations"
