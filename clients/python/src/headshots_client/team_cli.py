"""`headshots team ...`: a team's admin (an HR platform's operator, with the partner's key) runs the team from a shell
over the gRPC partner API, with `GrpcClient`'s team methods. The options, settings, exit codes and --json contract
are the order commands' (`cli_common`).

    headshots team create --name Initech --seats 25 [--retention-hours 168]
    headshots team list
    headshots team get TEAM
    headshots team look TEAM --style corporate-navy [--backdrop '#0A66C2'] [--attire ...] [--lighting ...]
                             [--framing ...]
    headshots team retention TEAM --hours 48
    headshots team invite TEAM --email bob@initech.example [--valid-days 14]
    headshots team link TEAM --max-uses 30 [--domain initech.example] [--valid-days 14]
    headshots team revoke TEAM INVITATION
    headshots team members TEAM
    headshots team pick TEAM PICK [--to DIR]
    headshots team approve TEAM PICK / headshots team hide TEAM PICK
    headshots team download TEAM --to DIR | --zip FILE
    headshots team remove TEAM MEMBER
    headshots team remind TEAM
    headshots team usage TEAM
    headshots team delete TEAM

TEAM is the team's id or its resource name (`teams/{id}`); INVITATION, MEMBER and PICK an id or resource name too.
Without --json the answer is a few readable lines (or a table) on stdout; with --json, one JSON object, last.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import zipfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from headshots_client.base import team_id
from headshots_client.cli_common import common_options, run_command, say, unpack
from headshots_client.grpc_api import GrpcClient
from headshots_client.models import DeletionReceipt, Team, TeamInvitation, TeamMember

EXAMPLES = """examples:
  headshots team create --name Initech --seats 25 --retention-hours 168
  headshots team look 3f0c... --style corporate-navy --backdrop '#0A66C2' --attire 'navy blazer'
  headshots team link 3f0c... --max-uses 30 --domain initech.example   # the join URL, shown only now
  headshots team invite 3f0c... --email bob@initech.example
  headshots team members 3f0c...                     # name, e-mail, state and shared picks of each
  headshots team pick 3f0c... 9a1b... --to ./review  # a shared pick's PNG (ids from `members`)
  headshots team approve 3f0c... 9a1b...             # it goes into the download
  headshots team download 3f0c... --to ./initech     # the approved picks and manifest.csv, unpacked
  headshots team remove 3f0c... 7d2e... --json       # the deletion receipt of the member's order, as JSON
  headshots team usage 3f0c...                       # seats used, headshots delivered: for billing

exit codes: 0 ok, 2 usage, 3 input rejected by the API (its code in the message), 5 service unreachable"""


# -- what --json prints and what a person reads ------------------------------------------------------------------
def plain(value: Any) -> Any:
    """A model (or a list of them) as JSON values: datetimes in ISO 8601, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def _look(team: Team) -> str:
    if team.look is None:
        return "not set (headshots team look TEAM --style ...)"
    return f"{team.look.style_id} ({team.look.style_name}, backdrop {team.look.backdrop_hex})"


def _team_lines(team: Team) -> list[str]:
    return [
        f"team       {team.id}",
        f"name       {team.name}",
        f"seats      {team.seats}",
        f"retention  {team.retention_hours} h",
        f"look       {_look(team)}",
        f"created    {_when(team.created_at)}",
    ]


def _receipt_line(receipt: DeletionReceipt) -> str:
    pending = f", {len(receipt.cache_purges_pending)} renderer copies not confirmed yet" if not receipt.complete else ""
    return (
        f"order {receipt.order_id}: {receipt.photos_deleted} photos, {receipt.headshots_deleted} headshots, "
        f"{receipt.blobs_deleted} blobs deleted; {receipt.remaining_blobs} remaining{pending} (receipt {receipt.id})"
    )


def _invitation_lines(invitation: TeamInvitation) -> list[str]:
    who = invitation.email or (f"anyone at {invitation.email_domain}" if invitation.email_domain else "anyone")
    lines = [
        f"invitation {invitation.id}",
        f"kind       {invitation.kind}, for {who}",
        f"uses       {invitation.uses} of {invitation.max_uses}",
        f"expires    {_when(invitation.expires_at)}",
    ]
    if invitation.revoked_at:
        lines.append(f"revoked    {_when(invitation.revoked_at)}")
    if invitation.join_url:
        lines.append(f"join URL   {invitation.join_url}")
    if invitation.token:
        lines.append(f"token      {invitation.token}")
    return lines


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]


def _member_row(member: TeamMember) -> tuple[str, ...]:
    picks = ", ".join(f"{p.id} ({p.state})" for p in member.picks) or "-"
    return (member.id or "-", member.name or "-", member.email or "-", member.state, picks)


# A command's answer: the summary --json prints, and the lines a person reads instead.
Result = tuple[dict[str, Any], list[str]]


# -- commands ------------------------------------------------------------------------------------------------------
def cmd_create(api: GrpcClient, args) -> Result:
    team = api.create_team(args.name, args.seats, retention_hours=args.retention_hours)
    say(f"team {team.id} created; set its look with `headshots team look {team.id} --style ...`")
    return {"team": plain(team)}, _team_lines(team)


def cmd_list(api: GrpcClient, args) -> Result:
    teams = list(api.list_teams())
    rows = [
        (t.id, t.name, str(t.seats), f"{t.retention_hours} h", t.look.style_id if t.look else "-", _when(t.created_at))
        for t in teams
    ]
    lines = _table(("TEAM", "NAME", "SEATS", "RETENTION", "LOOK", "CREATED"), rows) if teams else []
    say(_count(len(teams), "team"))
    return {"teams": plain(teams)}, lines


def cmd_get(api: GrpcClient, args) -> Result:
    team = api.get_team(args.team)
    return {"team": plain(team)}, _team_lines(team)


def cmd_look(api: GrpcClient, args) -> Result:
    team = api.set_team_look(
        args.team,
        args.style,
        backdrop_hex=args.backdrop,
        attire=args.attire,
        lighting=args.lighting,
        framing=args.framing,
    )
    say("orders members start from now on render in this look")
    return {"team": plain(team)}, _team_lines(team)


def cmd_retention(api: GrpcClient, args) -> Result:
    team = api.set_team_retention(args.team, args.hours)
    say("orders members start from now on are kept this long after delivery")
    return {"team": plain(team)}, _team_lines(team)


def cmd_invite(api: GrpcClient, args) -> Result:
    invitation = api.invite_team_member(args.team, args.email, valid_days=args.valid_days)
    say(f"invitation e-mailed to {invitation.email}; withdraw it with `headshots team revoke`")
    return {"team": team_id(args.team), "invitation": plain(invitation)}, _invitation_lines(invitation)


def cmd_link(api: GrpcClient, args) -> Result:
    link = api.create_team_invite_link(args.team, args.max_uses, valid_days=args.valid_days, email_domain=args.domain)
    say("the join URL and its token are shown only now: pass them on, they cannot be read again")
    return {"team": team_id(args.team), "invitation": plain(link)}, _invitation_lines(link)


def cmd_revoke(api: GrpcClient, args) -> Result:
    invitation = api.revoke_team_invitation(args.team, args.invitation)
    return {"team": team_id(args.team), "invitation": plain(invitation)}, _invitation_lines(invitation)


def cmd_members(api: GrpcClient, args) -> Result:
    members = list(api.list_team_members(args.team))
    rows = [_member_row(m) for m in members]
    lines = _table(("MEMBER", "NAME", "EMAIL", "STATE", "SHARED PICKS"), rows) if members else []
    say(f"{_count(len(members), 'member')} (open e-mail invitations included)")
    return {"team": team_id(args.team), "members": plain(members)}, lines


def cmd_moderate(api: GrpcClient, args) -> Result:
    pick = api.set_team_pick_state(args.team, args.pick, {"approve": "approved", "hide": "hidden"}[args.team_command])
    return {"team": team_id(args.team), "pick": plain(pick)}, [f"pick {pick.id} {pick.state}"]


def cmd_pick(api: GrpcClient, args) -> Result:
    path = api.download_team_pick(args.team, args.pick, args.to)
    return {"team": team_id(args.team), "pick": args.pick.rsplit("/", 1)[-1], "file": str(path)}, [str(path)]


def cmd_download(api: GrpcClient, args) -> Result:
    data = api.team_picks_archive(args.team)
    summary: dict[str, Any] = {"team": team_id(args.team)}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
        if args.zip:
            path = Path(args.zip)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            summary["zip"] = str(path)
            where = str(path)
        else:
            summary["files"] = [str(p) for p in unpack(archive, Path(args.to))]
            where = args.to
    rows = [(r["name"], r["email"], r["style"], r["file"]) for r in manifest]
    lines = _table(("NAME", "EMAIL", "STYLE", "FILE"), rows) if rows else []
    say(f"{_count(len(manifest), 'approved pick')} in {where} (manifest.csv names them)")
    return {**summary, "manifest": manifest}, lines


def cmd_remove(api: GrpcClient, args) -> Result:
    receipts = api.remove_team_member(args.team, args.member)
    member = args.member.rsplit("/", 1)[-1]
    lines = [f"member {member} removed; their seat is free", *(_receipt_line(r) for r in receipts)]
    return {"team": team_id(args.team), "member": member, "receipts": plain(receipts)}, lines


def cmd_remind(api: GrpcClient, args) -> Result:
    reminded = api.remind_team_members(args.team)
    return {"team": team_id(args.team), "reminded": reminded}, [f"{_count(reminded, 'member')} reminded by e-mail"]


def cmd_usage(api: GrpcClient, args) -> Result:
    usage = api.team_usage(args.team)
    line = f"{usage.seats_used} of {usage.seats} seats used; {usage.headshots_delivered} headshots delivered"
    return {"team": team_id(args.team), **plain(usage)}, [line]


def cmd_delete(api: GrpcClient, args) -> Result:
    receipts = api.delete_team(args.team)
    lines = [
        f"team {team_id(args.team)} deleted with {_count(len(receipts), 'member order')}",
        *map(_receipt_line, receipts),
    ]
    return {"team": team_id(args.team), "receipts": plain(receipts)}, lines


COMMANDS = {
    "create": cmd_create,
    "list": cmd_list,
    "get": cmd_get,
    "look": cmd_look,
    "retention": cmd_retention,
    "invite": cmd_invite,
    "link": cmd_link,
    "revoke": cmd_revoke,
    "members": cmd_members,
    "approve": cmd_moderate,
    "hide": cmd_moderate,
    "pick": cmd_pick,
    "download": cmd_download,
    "remove": cmd_remove,
    "remind": cmd_remind,
    "usage": cmd_usage,
    "delete": cmd_delete,
}


def run(args) -> int:
    lines: list[str] = []

    def command(api: GrpcClient, args) -> dict:
        summary, text = COMMANDS[args.team_command](api, args)
        lines.extend(text)
        return summary

    def show(_summary: dict) -> None:  # without --json: the readable lines, not the object
        for line in lines:
            print(line)

    return run_command(args, command, show=show)


def add_parser(sub) -> None:
    """`team` and its commands on the `headshots` parser."""
    common = common_options("team")
    team = sub.add_parser(
        "team",
        help="create and run teams (a look, invitations, members, approved picks) over the partner gRPC API",
        description="A team's admin over the gRPC partner API: its look, invitations, members, picks, usage.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = team.add_subparsers(dest="team_command", required=True)

    def command(name: str, help_text: str, *ids: tuple[str, str]) -> argparse.ArgumentParser:
        parser = commands.add_parser(
            name,
            parents=[common],
            help=help_text,
            epilog=EXAMPLES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if name not in ("create", "list"):
            parser.add_argument("team", help="the team's id or resource name (teams/{id})")
        for argument, argument_help in ids:
            parser.add_argument(argument, help=argument_help)
        return parser

    create = command("create", "a team of --seats seats")
    create.add_argument("--name", required=True, help="the team's name (members see it when they join)")
    create.add_argument("--seats", type=int, required=True, help="how many members may join (1 to 1000)")
    create.add_argument(
        "--retention-hours", type=int, help="keep members' orders this long after delivery (default 24)"
    )
    command("list", "your teams, newest first")
    command("get", "the team: seats, retention, look")
    look = command("look", "fix the team's look: a catalogue style, or a brand variant of it")
    look.add_argument("--style", required=True, help="a catalogue style id, e.g. corporate-navy")
    look.add_argument("--backdrop", help="a brand variant's backdrop, #rrggbb")
    look.add_argument("--attire", help="a brand variant's attire, e.g. 'navy blazer'")
    look.add_argument("--lighting", help="a brand variant's lighting")
    look.add_argument("--framing", help="'head and shoulders', 'chest up' or 'waist up'")
    retention = command("retention", "how long members' orders started from now on are kept after delivery")
    retention.add_argument("--hours", type=int, required=True, help="1 hour to 35 days (840)")
    invite = command("invite", "e-mail one person an invitation (for their address only)")
    invite.add_argument("--email", required=True)
    invite.add_argument("--valid-days", type=int, default=14, help="default 14")
    link = command("link", "a shared join link; its URL and token are printed once")
    link.add_argument("--max-uses", type=int, required=True, help="how many people may join with it")
    link.add_argument("--domain", help="only people with a verified e-mail address at this domain may join")
    link.add_argument("--valid-days", type=int, default=14, help="default 14")
    command("revoke", "withdraw an e-mail invitation or a link", ("invitation", "the invitation's or link's id"))
    command("members", "each member's name, e-mail, state and shared picks")
    command("approve", "approve a member's shared pick (it goes into the download)", ("pick", "the pick's id"))
    command("hide", "hide a member's shared pick", ("pick", "the pick's id"))
    pick = command("pick", "one shared pick's PNG, whatever its state (to look at it first)", ("pick", "the pick's id"))
    pick.add_argument("--to", default=".", help="a folder (<pick id>.png in it) or a .png path (default .)")
    download = command("download", "the approved picks with manifest.csv: unpacked into --to, or the ZIP as --zip")
    where = download.add_mutually_exclusive_group(required=True)
    where.add_argument("--to", help="folder to unpack the picks and manifest.csv into")
    where.add_argument("--zip", help="write the ZIP itself to this file")
    command(
        "remove",
        "remove a member: their team order is deleted (prints the receipt) and the seat frees",
        ("member", "the member's id (from `members`)"),
    )
    command("remind", "e-mail every member who has not started their order (once an hour at most)")
    command("usage", "seats, seats used and headshots delivered, for billing")
    command("delete", "delete the team and every member's team order (prints the receipts)")
    team.set_defaults(func=run)
