"""The studio's settings for a web server the tests start: static files without collectstatic's manifest."""

from studio.settings import *  # noqa: F403

STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
# The suite's users are made with this hasher (tests/conftest.py): the server must check them the same way.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
