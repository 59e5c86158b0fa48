"""The admin (with the ledger's reviewer pages), served only with a secret key of one's own."""

from django.conf import settings
from django.contrib import admin
from django.http import HttpResponse
from django.urls import path, re_path


def _no_secret_key(request, *args, **kwargs) -> HttpResponse:
    return HttpResponse(
        "The admin is not served with the fallback secret key: set DJANGO_SECRET_KEY to a "
        "long random value (python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
        "or DJANGO_DEBUG=1 on your own machine.\n",
        status=503,
        content_type="text/plain",
    )


if settings.SECRET_KEY == settings.INSECURE_SECRET_KEY and not settings.DEBUG:
    urlpatterns = [re_path(r"^admin/", _no_secret_key)]
else:
    urlpatterns = [path("admin/", admin.site.urls)]
