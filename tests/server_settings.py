"""The studio's settings for a web server the tests start: static files without collectstatic's manifest."""

from studio.settings import *  # noqa: F403

STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
