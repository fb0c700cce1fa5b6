"""What the studio says to a person when something goes wrong, one sentence per API error code.

The API's own messages are written for the developers who integrate it ("unknown styles []; see GET /v1/styles");
the studio never shows them. Its pages (`studio.views`) and its script (`studio.js`, which reads `for_script()` from
the order page) show these instead, keyed by the error's code (docs/partners/errors.md lists every code). A code
missing here gets `SOMETHING_WENT_WRONG`, never the API's text; `PEOPLE_WORDED` are codes whose API message is
already written for a person (a password validator's reasons) and is shown as it is.
"""

from __future__ import annotations

import contextlib

from gateway.config import CONFIG
from gateway.errors import DomainError
from orders import policy

SOMETHING_WENT_WRONG = "Something went wrong on our side. Please try again; if it keeps happening, contact us."

# Codes whose API message is a person's sentence already (Django's password validators say what is wrong).
PEOPLE_WORDED = frozenset({"weak_password"})

_MB = 1024 * 1024

CONSUMER_MESSAGES: dict[str, str] = {
    # Signing in and the account.
    "invalid_credentials": "wrong email or password",
    "unauthenticated": "You are signed out. Sign in again to carry on.",
    "permission_denied": "This page has expired. Reload the page and try again.",
    "invalid_link": "This link is wrong, used already or expired. Ask for a new one.",
    "email_not_verified": (
        "Please verify your e-mail address first: follow the link we e-mailed you, or ask for a new one."
    ),
    "email_already_verified": "Your e-mail address is verified already: you are all set.",
    "no_email": "This account has no e-mail address to verify.",
    "rate_limited": "That was a lot of requests at once. Please wait a moment and try again.",
    # A new order.
    "unknown_style": "Choose at least one style from the list for your headshots.",
    "unknown_package": "Choose one of the packages.",
    "quota_exceeded": "You have placed as many orders as this month allows. You can order again next month.",
    # Photos.
    "no_files": "Choose one or more photos to add.",
    "file_too_large": f"This photo is too large: use one under {CONFIG.max_photo_bytes // _MB} MB.",
    "too_many_files": f"Add at most {CONFIG.max_upload_files} photos at a time.",
    "upload_too_large": "Too many photos at once: add them in smaller groups.",
    "request_too_large": "Too many photos at once: add them in smaller groups.",
    "checks_backlogged": "We are checking a lot of photos right now. Please add yours again in a minute.",
    "order_not_open": "This order is no longer taking photos.",
    # Starting the order.
    "not_enough_photos": f"Add more photos: your headshots need at least {CONFIG.min_photos} accepted photos.",
    "too_many_photos": f"An order uses at most {CONFIG.max_photos} photos: remove some, then start.",
    "photos_being_checked": "Some photos are still being checked. Start once each one shows its result.",
    # After delivery.
    "invalid_count": f"Ask for between 1 and {policy.MAX_RENDER_COUNT} more headshots at a time.",
    "order_not_completed": "More headshots can be made once your order is complete.",
    "adapter_purged": (
        "Your photos and personal model were deleted as planned, so this order cannot make more headshots. "
        "Start a new order for more."
    ),
    "nothing_to_accept": "There is nothing to accept for this order.",
    # Joining a team.
    "email_domain_not_allowed": "This invitation is for e-mail addresses at the team's domain. Sign in with one.",
    "invitation_for_another_email": "This invitation was sent to another e-mail address. Sign in with that one.",
    "invitation_expired": "This invitation has expired. Ask your team's admin for a new one.",
    "invitation_revoked": "This invitation was withdrawn. Ask your team's admin for a new one.",
    "invitation_used_up": "This invitation has been used as often as it may be. Ask your team's admin for a new one.",
    "team_full": "Every seat of this team is taken. Ask your team's admin to add seats.",
    "team_look_not_set": "Your team's admin has not chosen the team's look yet. Please come back a little later.",
    # Anything, anywhere.
    "not_found": "We could not find this. It may have been deleted.",
    "unavailable": "We are briefly unavailable. Please try again in a few seconds; nothing you did was lost.",
    "unreachable": "The studio cannot be reached. Check your connection and try again.",
    "internal": SOMETHING_WENT_WRONG,
}

# Sentences that name a detail of the error (its `details`), for the pages; without that detail, or in the page's
# script, the plain sentence above.
DETAILED_MESSAGES: dict[str, str] = {
    "email_domain_not_allowed": "This invitation is for e-mail addresses at {email_domain}. Sign in with one there.",
}

# Not an API error: what the order page says when training or rendering failed (the order's `failure_reason` is the
# pipeline's own words, for us).
ORDER_FAILED = (
    "We could not make your headshots this time. Please start a new order; if it happens again, contact us and "
    "quote the address of this page."
)


def for_consumer(error: DomainError) -> str:
    """The sentence a person sees for `error`."""
    if error.code in PEOPLE_WORDED:
        return error.message
    detailed = DETAILED_MESSAGES.get(error.code)
    if detailed is not None:
        with contextlib.suppress(KeyError):
            return detailed.format_map(error.details)
    return CONSUMER_MESSAGES.get(error.code, SOMETHING_WENT_WRONG)


def for_script() -> dict:
    """What the order page's script needs to word errors: `json_script` puts it in the page (no inline script, so
    the Content-Security-Policy holds)."""
    return {
        "codes": CONSUMER_MESSAGES,
        "people_worded": sorted(PEOPLE_WORDED),
        "fallback": SOMETHING_WENT_WRONG,
        "order_failed": ORDER_FAILED,
    }
