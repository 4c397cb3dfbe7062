from __future__ import annotations

from collections.abc import Callable

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
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        user = getattr(request, "user", None)  # absent when whitenoise answered first
        if user is not None and user.is_authenticated and "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        return response
