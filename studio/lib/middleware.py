from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from django.http import HttpRequest, HttpResponse

# Only the studio's own scripts, styles and media. Templates therefore carry no
# inline <script>, no inline style="" and no on* handlers; htmx is told not to
# inject its indicator <style> (see base.html).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self'",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


@lru_cache(maxsize=8)
def content_security_policy(media_origin: str = "") -> str:
    """The policy above; with media redirected to a bucket, its origin in img-src and media-src only."""
    if not media_origin:
        return CONTENT_SECURITY_POLICY
    return CONTENT_SECURITY_POLICY.replace(
        "img-src 'self' data:", f"img-src 'self' data: {media_origin}"
    ).replace("media-src 'self'", f"media-src 'self' {media_origin}")


# Browser features the studio never uses are denied, so a script that slipped in
# could not ask for them either; the player keeps autoplay and fullscreen.
PERMISSIONS_POLICY = ", ".join(
    [
        *(
            f"{feature}=()"
            for feature in (
                "accelerometer",
                "camera",
                "display-capture",
                "geolocation",
                "gyroscope",
                "hid",
                "magnetometer",
                "microphone",
                "midi",
                "payment",
                "serial",
                "usb",
                "xr-spatial-tracking",
            )
        ),
        "autoplay=(self)",
        "fullscreen=(self)",
    ]
)


class SecurityHeadersMiddleware:
    """The policies above on every response (static files too), and no-store on signed-in pages.

    A signed-in page shows a team's prompts and people: no shared or browser
    cache may keep it (the back button after signing out on a shared computer).
    A response that sets its own Cache-Control (the media view's private
    caching of video files) keeps it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response.headers:
            from studio.videos.media import redirect_origin  # the storage decides; loaded after apps

            response.headers["Content-Security-Policy"] = content_security_policy(redirect_origin())
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        user = getattr(request, "user", None)  # absent when whitenoise answered first
        if user is not None and user.is_authenticated and "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        return response
