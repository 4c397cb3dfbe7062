from django.urls import path

from studio.videos import views

urlpatterns = [
    path("", views.home, name="home"),
]
