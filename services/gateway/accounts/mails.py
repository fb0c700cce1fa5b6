"""The account e-mails: verify your address, someone tried to sign up with it, reset your password.

Sent once the transaction that needs them commits. A mail server that is down is logged and changes nothing
recorded: the consumer can ask again (resend, reset). One address gets at most MAILS_PER_ADDRESS of them, so our
forms cannot be used to flood someone's inbox; the answer to the form is the same either way.
"""

from __future__ import annotations

import logging

from django.core.mail import send_mail
from django.db import transaction

from accounts import links
from accounts.models import Tenant
from gateway import ratelimit
from gateway.config import CONFIG

log = logging.getLogger(__name__)

MAILS_PER_ADDRESS = "5/hour"


def _send(to: str, subject: str, body: str) -> None:
    if ratelimit.hit(ratelimit.key("account_mail", ratelimit.private_ident(to)), MAILS_PER_ADDRESS) is not None:
        log.warning("account e-mail not sent: more than %s to one address", MAILS_PER_ADDRESS)
        return

    def send() -> None:
        try:
            send_mail(subject, body, None, [to])
        except Exception:  # the account is as it was; the consumer can ask for the mail again
            log.exception("could not send an account e-mail")

    transaction.on_commit(send)


def _studio(path: str) -> str:
    return f"{CONFIG.public_url.rstrip('/')}{path}"


def verify_email(tenant: Tenant, next_path: str = "") -> None:
    _send(
        tenant.email or "",
        "Verify your e-mail for Headshots",
        f"Hello {tenant.name},\n\nWelcome to Headshots. Follow this link to verify your e-mail address and sign in:\n"
        f"{links.VERIFY_EMAIL.url(tenant, next_path)}\n\nThe link works once and expires in "
        f"{links.VERIFY_EMAIL.max_age_s // 3600} hours. You can prepare orders before, but we start one only once "
        "your address is verified.\n\nIf you did not sign up, ignore this e-mail: no account is used without it.\n",
    )


def sign_up_attempted(email: str) -> None:
    """To an address that has an account already: someone (probably its owner) tried to sign up again."""
    _send(
        email,
        "Someone tried to sign up to Headshots with your e-mail",
        "Hello,\n\nSomeone tried to create a Headshots account with this e-mail address, but it has one already.\n\n"
        f"If it was you, sign in: {_studio('/studio/signin')}\n"
        f"Forgot your password? Reset it: {_studio('/studio/reset')}\n\n"
        "If it was not you, ignore this e-mail: your account is unchanged.\n",
    )


def reset_password(tenant: Tenant) -> None:
    _send(
        tenant.email or "",
        "Reset your Headshots password",
        f"Hello {tenant.name},\n\nSomeone asked to reset the password of your Headshots account. To choose a new "
        f"one, follow this link:\n{links.RESET_PASSWORD.url(tenant)}\n\nThe link works once and expires in "
        f"{links.RESET_PASSWORD.max_age_s // 60} minutes; setting a new password signs out every device and app "
        "signed in to your account.\n\nIf you did not ask, ignore this e-mail: your password is unchanged.\n",
    )


def no_account_to_reset(email: str) -> None:
    """To an address without an account that someone asked a password reset for (so the answer takes as long)."""
    _send(
        email,
        "Headshots password reset",
        "Hello,\n\nSomeone asked to reset the password of a Headshots account with this e-mail address, but there is "
        f"no such account.\n\nTo create one: {_studio('/studio/signup')}\n\n"
        "If you did not ask, ignore this e-mail.\n",
    )
