from django.urls import include, path

from integrations.views import oauth, subscriptions, webhooks

app_name = "integrations"
urlpatterns = [
    path("oauth/callback/", oauth.oauth_callback, name="oauth_callback"),
    path("connections/<int:pk>/connect/", oauth.connection_connect, name="connection_connect"),
    path("webhooks/<int:connection_id>/", webhooks.webhook_inbox, name="webhook_inbox"),
    path("connections/<int:pk>/webhooks/subscribe/", subscriptions.connection_webhooks_subscribe,
         name="connection_webhooks_subscribe"),
    path("ops/", include("integrations.views.queue_urls")),
    path("ops/", include("integrations.views.monitor_urls")),
]
