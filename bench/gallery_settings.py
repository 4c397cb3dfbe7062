"""Settings for bench_gallery.py only: the studio's settings plus a bench-only URLconf.

The extra URLconf adds one minimal view to compare the gallery against; it
is never part of the studio's own URLs.
"""

import warnings

from studio.settings import *  # noqa: F403

ROOT_URLCONF = "bench.gallery_urls"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
# No collectstatic in a throwaway data folder: serve names as they are.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
# whitenoise warns that the throwaway data folder has no collected static files: expected here.
warnings.filterwarnings("ignore", message="No directory at")
