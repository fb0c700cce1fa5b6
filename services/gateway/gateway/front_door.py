"""The gateway's address itself (`/`): a person who opens it in a browser is sent to the studio; an API client
(anything that does not ask for HTML first) gets a JSON pointer to the API's documents."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt

from gateway.rest_errors import envelope

STUDIO = "/studio/"
# Where the partners' guides live: in the repository beside the code, one page per topic.
PARTNER_DOCS = "docs/partners/README.md in the Headshots repository (quickstart, REST, gRPC, webhooks, errors)"


@csrf_exempt  # it changes nothing; any other method answers the API's 405, not the studio's CSRF page
def front_door(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        response: HttpResponse = JsonResponse(envelope("method_not_allowed", "GET / only"), status=405)
        response["Allow"] = "GET, HEAD"
        return response
    # A browser names text/html first; curl and API clients send */* or application/json, and get the JSON.
    if request.get_preferred_type(["application/json", "text/html"]) == "text/html":
        response = redirect(STUDIO)
    else:
        response = JsonResponse(
            {
                "name": "Headshots API",
                "openapi": request.build_absolute_uri("/v1/openapi.json"),
                "styles": request.build_absolute_uri("/v1/styles"),
                "studio": request.build_absolute_uri(STUDIO),
                "grpc": "headshots.partner.v1.PartnerService (server reflection on the gRPC port)",
                "docs": PARTNER_DOCS,
            }
        )
    patch_vary_headers(response, ["Accept"])  # one address, two answers: caches must keep them apart
    return response
