"""The studio's Content-Security-Policy, and a readable page when a form's CSRF check fails."""

from __future__ import annotations

from django.shortcuts import render

# Only our own script and styles run; photos preview from blob: URLs; nothing may frame the studio.
POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith("/studio/"):
            response.setdefault("Content-Security-Policy", POLICY)
        return response


def csrf_failure(request, reason: str = ""):
    message = "This form expired or came from another site. Reload the page and try again."
    return render(request, "studio/error.html", {"message": message}, status=403)
