"""The review queue and the auditor views."""

from django.urls import path

from integrations.views import audit, queue

urlpatterns = [
    path("exceptions/<int:pk>/retry/", queue.exception_retry_view, name="exception_retry"),
    path("exceptions/<int:pk>/edit/", queue.exception_edit_view, name="exception_edit"),
    path("exceptions/<int:pk>/<str:action>/", queue.exception_action_view, name="exception_action"),
    path("audit/", audit.audit_trail_view, name="audit_trail"),
    path("audit/export.csv", audit.audit_export_view, name="audit_export"),
    path("audit/config/", audit.config_history_view, name="config_history"),
]
