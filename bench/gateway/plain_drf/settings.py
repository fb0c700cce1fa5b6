"""The gateway's settings with one more URL: the plain DRF baseline (`plain_drf.urls`)."""

from gateway.settings import *  # noqa: F403 -- the same database, cache, middleware and DRF defaults

ROOT_URLCONF = "plain_drf.urls"
