import os

from django.core.wsgi import get_wsgi_application

from config.heap import freeze_start_up

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
freeze_start_up(load_urls=True)  # each worker's start-up objects, out of the collector's walks
