import os

from django.core.wsgi import get_wsgi_application

from studio.lib.wsgi_bridge import WsgiBridge

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
application = get_wsgi_application()

# Threads per web process that run the studio (as many as gunicorn's threaded worker had).
WEB_THREADS = 4
# The same application for gunicorn's asyncio worker (gunicorn.conf.py, STUDIO_WEB_SERVER=async):
# the threads only compute answers, the event loop writes them to slow clients.
bridged = WsgiBridge(application, threads=WEB_THREADS)
