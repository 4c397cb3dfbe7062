from django.apps import AppConfig


class VideosConfig(AppConfig):
    name = "studio.videos"
    verbose_name = "Videos"
