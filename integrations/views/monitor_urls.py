"""The record timeline, the run monitor and the dashboard (under /integrations/ops/).

Every page goes through the admin site's view wrapper: signed-in staff only, as the admin."""

from django.contrib import admin
from django.urls import path

from integrations.views import monitor, timeline

urlpatterns = [
    path("timeline/", admin.site.admin_view(timeline.record_timeline_view), name="timeline"),
    path("monitor/", admin.site.admin_view(monitor.monitor_view), name="monitor"),
    path("monitor/live.json", admin.site.admin_view(monitor.monitor_live_view), name="monitor_live"),
    path("monitor/runs/<int:pk>/", admin.site.admin_view(monitor.run_detail_view), name="monitor_run"),
    path("monitor/flows/<int:pk>/<str:action>/", admin.site.admin_view(monitor.flow_action_view),
         name="monitor_flow_action"),
]
