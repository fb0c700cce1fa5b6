"""`headshots`: the package's command line. `headshots order ...` runs orders over the gRPC partner API (this
module); `headshots team ...` runs a team as its admin (`team_cli`); other installed packages add commands of their
own through the `headshots.cli` entry point group (the repository's developer tools add `up`, `down`, `demo`, ...).

    headshots order create --photos DIR --styles corporate-navy,tech-grey [--wait] [--to DIR]
    headshots order watch ID
    headshots order download ID --to DIR
    headshots order renders ID --style tech-grey --count 10
    headshots order delete ID
    headshots order get ID
    headshots order list
    headshots order configure --target HOST:PORT [--ca-file PEM]
    headshots team create --name Initech --seats 25      # and list, get, look, link, members, ... (team_cli)

What both groups share lives in `cli_common`: the options, the settings they resolve to (the API key and the
endpoint come from --api-key / --target, else HEADSHOTS_API_KEY / HEADSHOTS_GRPC_TARGET, else the config file
(--config, default ~/.config/headshots/config.toml, mode 0600: `api_key = "..."`, `grpc_target = "host:port"`,
`ca_file = "..."`; `configure` writes it), else the local stack's partner port; TLS for any host that is not
loopback), the exit codes and the output. With --json, the last line of stdout is one JSON object naming the order;
progress goes to stderr.
"""

from __future__ import annotations

import argparse
import getpass
import io
import os
import sys
import time
import uuid
import zipfile
from importlib.metadata import entry_points
from pathlib import Path

from google.protobuf.json_format import MessageToDict

from headshots_client import team_cli, transport as partner_transport
from headshots_client._proto import partner_api_pb2 as pb
from headshots_client.cli_common import (
    EXIT_ORDER_FAILED,
    EXIT_USAGE,
    CliError,
    ProgressLine,
    common_options,
    output,
    read_config,
    run_command,
    say,
    unpack,
)
from headshots_client.grpc_api import GrpcClient
from headshots_client.transport import DEFAULT_CONFIG, KEY_ENV, TransportError

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif"}
FINAL = {pb.Order.STATE_COMPLETED, pb.Order.STATE_FAILED, pb.Order.STATE_DELETED}
EXAMPLES = """examples:
  headshots order create --photos ./selfies --styles corporate-navy,tech-grey --wait --to ./headshots
  headshots order watch 3f0c...                       # progress bar until the order is final
  headshots order download 3f0c... --to ./headshots   # every headshot, unpacked
  headshots order renders 3f0c... --style outdoor-bokeh --count 10
  headshots order delete 3f0c... --json               # the deletion receipt as JSON
  headshots order list --json                         # your orders, newest first

  headshots order list --target api.example.com:443   # TLS with the system's roots
  headshots order list --target 127.0.0.1:50051 --ca-file ./private-ca.pem --tls

  headshots team --help                               # a team's admin: look, invitations, members, picks

exit codes: 0 ok, 2 usage, 3 input rejected by the API, 4 order failed, 5 service unreachable"""

ENTRY_POINTS = "headshots.cli"  # other packages' commands: a callable that adds its subparsers


def order_name(value: str) -> str:
    """An order id or resource name -> the resource name, by the pattern the proto declares for Order."""
    from google.api import resource_pb2

    pattern = pb.Order.DESCRIPTOR.GetOptions().Extensions[resource_pb2.resource].pattern[0]  # "orders/{order}"
    prefix = pattern.split("{", 1)[0]
    return value if value.startswith(prefix) else pattern.replace("{order}", value)


def as_json(message) -> dict:
    # Zero values too: a script reads `remaining_blobs: 0` rather than a missing key.
    return MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


# -- commands ---------------------------------------------------------------------------------------------------
def cmd_create(client: GrpcClient, args) -> dict:
    photos = sorted(p for p in Path(args.photos).iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if not photos:
        raise CliError(f"no photos ({', '.join(sorted(PHOTO_SUFFIXES))}) in {args.photos}", EXIT_USAGE)
    styles = [s.strip() for s in args.styles.split(",") if s.strip()]
    order = client.call(
        "CreateOrder",
        pb.CreateOrderRequest(request_id=str(uuid.uuid4()), order=pb.Order(package=args.package, style_ids=styles)),
    )
    say(f"order {order.uid} created; uploading {len(photos)} photos")
    uploads = [pb.UploadPhotosRequest(parent=order.name, filename=p.name, content=p.read_bytes()) for p in photos]
    result = client.call("UploadPhotos", uploads, timeout_s=max(client.timeout_s, 10 * len(photos)), idempotent=False)
    for verdict in result.results:
        if verdict.accepted:
            say(f"  accepted {verdict.filename}")
        else:
            say(f"  rejected {verdict.filename}: {verdict.message} ({verdict.reason_code})")
    say(f"{result.accepted} of {len(photos)} photos accepted")
    client.call("SubmitOrder", pb.SubmitOrderRequest(name=order.name))
    say(f"submitted; follow it with `headshots order watch {order.uid}`")
    if not args.wait:
        return as_json(client.call("GetOrder", pb.GetOrderRequest(name=order.name)))
    final = watch(client, order.name)
    summary = as_json(final)
    if final.state == pb.Order.STATE_COMPLETED and args.to:
        summary["files"] = [str(p) for p in download(client, order.name, Path(args.to))]
    return summary


def cmd_watch(client: GrpcClient, args) -> dict:
    return as_json(watch(client, order_name(args.order)))


def cmd_get(client: GrpcClient, args) -> dict:
    return as_json(client.call("GetOrder", pb.GetOrderRequest(name=order_name(args.order))))


def cmd_download(client: GrpcClient, args) -> dict:
    name = order_name(args.order)
    files = download(client, name, Path(args.to))
    return {"order": name, "files": [str(p) for p in files]}


def cmd_renders(client: GrpcClient, args) -> dict:
    name = order_name(args.order)
    render = client.call(
        "CreateRender",
        pb.CreateRenderRequest(parent=name, request_id=str(uuid.uuid4()), style_id=args.style, count=args.count),
    )
    say(f"{render.count} more in {render.style_id}: render {render.uid} is {render.state}")
    summary = {"order": name, "render": as_json(render)}
    if args.wait:
        summary["order_state"] = as_json(watch(client, name))
    return summary


def cmd_list(client: GrpcClient, args) -> dict:
    response = client.call("ListOrders", pb.ListOrdersRequest(page_size=args.limit))
    if not args.json:  # the listing is the output: a table on stdout
        for order in response.orders:
            state = pb.Order.State.Name(order.state).removeprefix("STATE_").lower()
            created = order.create_time.ToDatetime().strftime("%Y-%m-%d %H:%M")
            styles = ",".join(order.style_ids)
            print(f"{order.uid}  {state:<15} {order.headshots_ready:>3} headshots  {created}  {styles}")
    say(f"{len(response.orders)} of {response.total_size} orders")
    return {"orders": [as_json(o) for o in response.orders], "total_size": response.total_size}


def cmd_accept(client: GrpcClient, args) -> dict:
    order = client.call("AcceptOrder", pb.AcceptOrderRequest(name=order_name(args.order)))
    say(f"accepted: {order.headshots_ready} headshots; the photos and model go after the retention period")
    return as_json(order)


def cmd_delete(client: GrpcClient, args) -> dict:
    receipt = client.call("DeleteOrder", pb.DeleteOrderRequest(name=order_name(args.order)))
    pending = f", {len(receipt.cache_purges_pending)} renderer copies not confirmed yet" if not receipt.complete else ""
    say(
        f"deleted: {receipt.photos_deleted} photos, {receipt.headshots_deleted} headshots, "
        f"{receipt.blobs_deleted} blobs; {receipt.remaining_blobs} remaining{pending}"
    )
    return as_json(receipt)


# -- watching and downloading -----------------------------------------------------------------------------------
def _state_name(order: pb.Order) -> str:
    return pb.Order.State.Name(order.state).removeprefix("STATE_").lower()


def _progress_text(order: pb.Order, started: float) -> str:
    eta = order.progress.eta.ToTimedelta().total_seconds() if order.progress.HasField("eta") else 0
    bar = "#" * (order.progress.percent // 5)
    stage = order.progress.stage or _state_name(order)
    elapsed = time.monotonic() - started
    return f"{stage:<10} [{bar:<20}] {order.progress.percent:>3}%  {elapsed:.0f}s  ETA {f'{eta:.0f}s' if eta else '-'}"


def watch(client: GrpcClient, name: str) -> pb.Order:
    """A progress line with the order's stage, percent and the API's ETA until the order is final."""
    order = client.call("GetOrder", pb.GetOrderRequest(name=name))
    line, started = ProgressLine(), time.monotonic()
    line.show(_progress_text(order, started))
    while order.state not in FINAL:
        # A watch ends before its deadline, or when the server closes it: open the next one.
        for update in client.stream("WatchOrder", pb.WatchOrderRequest(name=name), timeout_s=600):
            order = update.order
            line.show(_progress_text(order, started))
        if order.state not in FINAL:
            order = client.call("GetOrder", pb.GetOrderRequest(name=name))
    line.done()
    state = _state_name(order)
    say(f"order {order.uid} is {state}" + (f": {order.failure_reason}" if order.failure_reason else ""))
    if order.state == pb.Order.STATE_FAILED:
        raise CliError(f"order {order.uid} failed: {order.failure_reason or 'no reason given'}", EXIT_ORDER_FAILED)
    if order.delivery == pb.Order.DELIVERY_SHORT:  # completed, but the quality gate left styles short
        for short in order.shortfall:
            say(f"  short {short.style_id}: {short.delivered} of {short.wanted} ({short.message})")
        say(f"render the missing ones (headshots order renders) or accept: headshots order accept {order.uid}")
    return order


def download(client: GrpcClient, name: str, to: Path) -> list[Path]:
    """The order's zip, streamed with a byte count, unpacked into `to`."""
    data, total, line = io.BytesIO(), 0, ProgressLine()
    for chunk in client.stream("DownloadHeadshotArchive", pb.DownloadHeadshotArchiveRequest(parent=name), 600):
        total = chunk.total_bytes or total
        data.write(chunk.data)
        line.show(f"downloading {data.tell() // 1024} of {total // 1024 if total else '?'} KiB")
    line.done()
    with zipfile.ZipFile(data) as archive:
        files = unpack(archive, to)
    say(f"{len(files)} headshots in {to}")
    return files


# -- configuration and entry point -----------------------------------------------------------------------------
def configure(args) -> dict:
    """Save the key (from HEADSHOTS_API_KEY, else asked for, never an argument) and the endpoint, mode 0600."""
    config_path, _ = read_config(args, may_be_missing=True)
    key = os.environ.get(KEY_ENV) or (
        getpass.getpass("API key: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    )
    if not key:
        raise CliError(f"no API key: set {KEY_ENV} or type it when asked", EXIT_USAGE)
    ca_file = str(Path(args.ca_file).resolve()) if args.ca_file else ""
    try:
        partner_transport.write_config(
            config_path, {"api_key": key, "grpc_target": args.target or "", "ca_file": ca_file}
        )
    except TransportError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    say(f"saved to {config_path} (mode 0600)")
    return {"config": str(config_path)}


COMMANDS = {
    "create": cmd_create,
    "watch": cmd_watch,
    "get": cmd_get,
    "download": cmd_download,
    "renders": cmd_renders,
    "delete": cmd_delete,
    "accept": cmd_accept,
    "list": cmd_list,
}


def add_parser(sub) -> None:
    """`order` and its commands on the `headshots` parser."""
    common = common_options("order")
    order = sub.add_parser(
        "order",
        help="create, watch, download, re-render and delete orders over the partner gRPC API",
        description="Orders over the gRPC partner API: create, watch, download, re-render, delete.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = order.add_subparsers(dest="order_command", required=True)
    create = commands.add_parser(
        "create",
        parents=[common],
        help="create, upload photos, submit",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    create.add_argument("--photos", required=True, help="folder of 5-20 selfies (jpg, png, webp, heic)")
    create.add_argument("--styles", required=True, help="comma-separated style ids (headshots order styles)")
    create.add_argument("--package", default="basic", help="package (default basic)")
    create.add_argument("--wait", action="store_true", help="watch until the order is final")
    create.add_argument("--to", help="with --wait: download the headshots here when done")
    for name, help_text in (
        ("watch", "progress until the order is final"),
        ("get", "the order's state"),
        ("delete", "purge the order everywhere; prints the deletion receipt"),
        ("accept", "take a delivery short of its headshots as it is (the retention clock starts)"),
    ):
        command = commands.add_parser(name, parents=[common], help=help_text)
        command.add_argument("order", help="the order's id or resource name")
    listing = commands.add_parser("list", parents=[common], help="your orders, newest first")
    listing.add_argument("--limit", type=int, default=20, help="at most this many (at most 100)")
    download_cmd = commands.add_parser("download", parents=[common], help="every headshot, unpacked into --to")
    download_cmd.add_argument("order", help="the order's id or resource name")
    download_cmd.add_argument("--to", required=True, help="folder to write the PNGs into")
    renders = commands.add_parser("renders", parents=[common], help="more headshots in a style, no retraining")
    renders.add_argument("order", help="the order's id or resource name")
    renders.add_argument("--style", required=True)
    renders.add_argument("--count", type=int, required=True)
    renders.add_argument("--wait", action="store_true", help="watch until the order is final again")
    setup = commands.add_parser(
        "configure",
        help="save the API key (asked for, or HEADSHOTS_API_KEY) and the endpoint in the config file, mode 0600",
    )
    setup.add_argument("--target", help="partner gRPC endpoint host:port")
    setup.add_argument("--ca-file", help="a private CA (PEM) to trust for the endpoint")
    setup.add_argument("--config", help=f"TOML config file (default {DEFAULT_CONFIG})")
    setup.add_argument("--json", action="store_true", help="print one JSON object naming the file, last")
    order.set_defaults(func=run)


def _show(summary: dict) -> None:
    """Without --json: the order's name on stdout (progress and tables went out on the way)."""
    if summary.get("name") or summary.get("order"):
        print(summary.get("name") or summary.get("order"))


def run(args) -> int:
    if args.order_command == "configure":
        return output(args, lambda: configure(args), show=_show)
    return run_command(args, COMMANDS[args.order_command], show=_show)


def main(argv: list[str] | None = None) -> int:
    """`headshots`: `order`, `team` and the commands other installed packages add (entry point group
    `headshots.cli`)."""
    parser = argparse.ArgumentParser(
        prog="headshots",
        description="Orders and teams over the partner API (order ..., team ...), and what other packages add",
        epilog="""examples:
  headshots order create --photos ./selfies --styles corporate-navy --wait --to ./headshots
  headshots team create --name Initech --seats 25 --json
  headshots order --help, headshots team --help        # each group's commands and examples""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    team_cli.add_parser(sub)
    for entry_point in entry_points(group=ENTRY_POINTS):
        entry_point.load()(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
