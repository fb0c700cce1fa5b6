"""headshots-client: the Headshots partner API from Python.

    from headshots_client import RestClient          # or GrpcClient: the same methods and results
    with RestClient(api_key="hs_test_...", base_url="https://api.example.com") as client:
        order = client.create_order("basic", ["corporate-navy"], webhook_url="https://you.example/hooks")
        client.upload_photos(order.id, sorted(Path("selfies").glob("*.jpg")))
        client.submit_order(order.id)
        for update in client.watch_order(order.id):
            print(update.state, update.progress.percent)
        client.download_headshots(order.id, "headshots/")

Where things are:
- `base`: `HeadshotsClient`, the one set of methods both clients offer (and what is built from them).
- `rest`: `RestClient` (requests): direct upload URLs, resumable checksum-verified downloads.
- `grpc_api`: `GrpcClient` over the stubs in `_proto` (generated from proto/, copied by `make proto`).
- `models`: the typed results (Order, Headshot, DeletionReceipt, Team, TeamMember, ...), the same from either client.
- `errors`: exceptions carrying the API's error code; `retry`: safe retries honouring Retry-After/RetryInfo.
- `transport`: TLS for every host that is not this machine; the key's config file.
- `aio`: `AsyncRestClient`, `AsyncGrpcClient`: the same methods, awaited (the sync calls on worker threads).
- `webhooks`: `verify_webhook`, for Standard Webhooks signatures.
- `cli`: the `headshots order ...` command line.

A test key (`hs_test_...`) runs the very same calls against placeholder headshots delivered within seconds.
"""

from headshots_client.aio import AsyncGrpcClient, AsyncRestClient
from headshots_client.base import HeadshotsClient
from headshots_client.errors import (
    ApiError,
    ChecksumMismatch,
    ConnectionFailed,
    FailedPrecondition,
    HeadshotsError,
    InternalError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    TransportError,
    Unauthenticated,
    Unavailable,
    WebhookVerificationError,
)
from headshots_client.grpc_api import GrpcClient
from headshots_client.models import (
    DeletionReceipt,
    Headshot,
    Order,
    Photo,
    PhotoResult,
    Progress,
    Render,
    Report,
    Style,
    Team,
    TeamInvitation,
    TeamLook,
    TeamMember,
    TeamPick,
    TeamUsage,
    UploadResult,
)
from headshots_client.rest import RestClient
from headshots_client.retry import RetryPolicy
from headshots_client.transport import Transport
from headshots_client.webhooks import verify_webhook

__all__ = [
    "ApiError",
    "AsyncGrpcClient",
    "AsyncRestClient",
    "ChecksumMismatch",
    "ConnectionFailed",
    "DeletionReceipt",
    "FailedPrecondition",
    "GrpcClient",
    "Headshot",
    "HeadshotsClient",
    "HeadshotsError",
    "InternalError",
    "InvalidArgument",
    "NotFound",
    "Order",
    "PermissionDenied",
    "Photo",
    "PhotoResult",
    "Progress",
    "Render",
    "Report",
    "ResourceExhausted",
    "RestClient",
    "RetryPolicy",
    "Style",
    "Team",
    "TeamInvitation",
    "TeamLook",
    "TeamMember",
    "TeamPick",
    "TeamUsage",
    "Transport",
    "TransportError",
    "Unauthenticated",
    "Unavailable",
    "UploadResult",
    "WebhookVerificationError",
    "verify_webhook",
]
