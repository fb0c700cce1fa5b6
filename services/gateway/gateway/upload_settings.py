"""Settings of the upload receiver (`gateway-uploads`): the gateway's, serving only direct uploads, so the bytes of
a photo never pass through a process that serves reads."""

from gateway.settings import *  # noqa: F403

ROOT_URLCONF = "gateway.upload_urls"
