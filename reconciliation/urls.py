"""The reconciliation screen, behind the admin's login (staff only, like every portal page)."""

from django.contrib import admin
from django.urls import path

from reconciliation import views

app_name = "reconciliation"
urlpatterns = [
    path("", admin.site.admin_view(views.screen), name="screen"),
    path("matches/<int:pk>/<str:action>/", admin.site.admin_view(views.match_action), name="match_action"),
    path("payments/<int:pk>/split/", admin.site.admin_view(views.payment_split), name="payment_split"),
    path("bulk-accept/", admin.site.admin_view(views.bulk_accept), name="bulk_accept"),
]
