from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("studio.accounts.urls")),
    path("", include("studio.videos.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "studio.lib.errors.bad_request"
