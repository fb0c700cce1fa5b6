"""The teams' e-mail: an invitation to join a team, sent with the gateway's mail backend once the invitation is
committed (a mail server that is down is logged; the admin can invite again)."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.core.mail import send_mail
from django.db import transaction

from gateway.config import CONFIG

log = logging.getLogger(__name__)


def join_url(token: str) -> str:
    return f"{CONFIG.public_url.rstrip('/')}/studio/teams/join?{urlencode({'token': token})}"


def _send_on_commit(to: str, subject: str, body: str) -> None:
    def send() -> None:
        try:
            send_mail(subject, body, None, [to])
        except Exception:  # nothing recorded depends on it; the admin can invite or remind again
            log.exception("could not send a team e-mail")

    transaction.on_commit(send)


def reminder(to: str, name: str, team_name: str) -> None:
    _send_on_commit(
        to,
        f"{team_name} is waiting for your headshots",
        f"Hello {name},\n\nYour team {team_name} is waiting for your professional headshots. Sign in to the "
        f"studio to add your photos and start your order:\n{CONFIG.public_url.rstrip('/')}/studio/orders\n",
    )


def invitation(to: str, team_name: str, token: str, valid_days: int) -> None:
    body = (
        f"Hello,\n\nYou are invited to order your professional headshots with the team {team_name} on Headshots, in "
        f"the team's own look.\n\nTo join, follow this link and sign in or sign up with this e-mail address:\n"
        f"{join_url(token)}\n\nThe invitation expires in {valid_days} days. If you did not expect it, ignore this "
        "e-mail.\n"
    )
    _send_on_commit(to, f"Join {team_name} on Headshots", body)
