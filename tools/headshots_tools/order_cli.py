"""`headshots order ...`: partners' and developers' command line over the gRPC partner API.

    headshots order create --photos DIR --styles corporate-navy,tech-grey [--wait] [--to DIR]
    headshots order watch ID
    headshots order download ID --to DIR
    headshots order renders ID --style tech-grey --count 10
    headshots order delete ID
    headshots order get ID
    headshots order list

The API key and the endpoint come from --api-key / --target, else HEADSHOTS_API_KEY /
HEADSHOTS_GRPC_TARGET, else the config file (--config, default ~/.config/headshots/config.toml:
`api_key = "..."`, `grpc_target = "host:port"`), else the local stack's partner port.
With --json, the last line of stdout is one JSON object naming the order; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tomllib
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import grpc
from google.protobuf.json_format import MessageToDict
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from headshots.partner.v1 import partner_api_pb2 as pb, partner_api_pb2_grpc as pb_grpc

# Exit codes a script can tell apart.
EXIT_OK = 0
EXIT_USAGE = 2  # argparse's own, and missing settings
EXIT_REJECTED = 3  # the API refused the input (bad photos, unknown order, wrong key, quota)
EXIT_ORDER_FAILED = 4  # the order ended failed
EXIT_UNREACHABLE = 5  # no answer from the endpoint

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif"}
FINAL = {pb.Order.STATE_COMPLETED, pb.Order.STATE_FAILED, pb.Order.STATE_DELETED}
DEFAULT_CONFIG = Path.home() / ".config" / "headshots" / "config.toml"
UNREACHABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
EXAMPLES = """examples:
  headshots order create --photos ./selfies --styles corporate-navy,tech-grey --wait --to ./headshots
  headshots order watch 3f0c...                       # progress bar until the order is final
  headshots order download 3f0c... --to ./headshots   # every headshot, unpacked
  headshots order renders 3f0c... --style outdoor-bokeh --count 10
  headshots order delete 3f0c... --json               # the deletion receipt as JSON
  headshots order list --json                         # your orders, newest first

exit codes: 0 ok, 2 usage, 3 input rejected by the API, 4 order failed, 5 service unreachable"""

err = Console(stderr=True)


class CliError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def order_name(value: str) -> str:
    """An order id or resource name -> the resource name, by the pattern the proto declares for Order."""
    from google.api import resource_pb2

    pattern = pb.Order.DESCRIPTOR.GetOptions().Extensions[resource_pb2.resource].pattern[0]  # "orders/{order}"
    prefix = pattern.split("{", 1)[0]
    return value if value.startswith(prefix) else pattern.replace("{order}", value)


def as_json(message) -> dict:
    # Zero values too: a script reads `remaining_blobs: 0` rather than a missing key.
    return MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


class Client:
    """The partner API with the key on every call; RpcErrors become CliErrors with the API's message."""

    def __init__(self, target: str, api_key: str, timeout_s: float = 60):
        self.channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
        self.stub = pb_grpc.PartnerServiceStub(self.channel)
        self.metadata = [("authorization", f"Bearer {api_key}")]
        self.target, self.timeout_s = target, timeout_s

    def call(self, method: str, request, timeout_s: float | None = None):
        try:
            return getattr(self.stub, method)(request, metadata=self.metadata, timeout=timeout_s or self.timeout_s)
        except grpc.RpcError as exc:
            raise self._error(exc) from None

    def stream(self, method: str, request, timeout_s: float) -> Iterator:
        try:
            yield from getattr(self.stub, method)(request, metadata=self.metadata, timeout=timeout_s)
        except grpc.RpcError as exc:
            raise self._error(exc) from None

    def _error(self, exc: grpc.RpcError) -> CliError:
        code, details = exc.code(), exc.details() or ""
        if code in UNREACHABLE:
            return CliError(f"cannot reach the partner API at {self.target}: {details}", EXIT_UNREACHABLE)
        return CliError(f"{code.name.lower()}: {details}", EXIT_REJECTED)


# -- commands ---------------------------------------------------------------------------------------------------
def cmd_create(client: Client, args) -> dict:
    photos = sorted(p for p in Path(args.photos).iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if not photos:
        raise CliError(f"no photos ({', '.join(sorted(PHOTO_SUFFIXES))}) in {args.photos}", EXIT_USAGE)
    styles = [s.strip() for s in args.styles.split(",") if s.strip()]
    order = client.call(
        "CreateOrder",
        pb.CreateOrderRequest(request_id=str(uuid.uuid4()), order=pb.Order(package=args.package, style_ids=styles)),
    )
    err.print(f"order [bold]{order.uid}[/] created; uploading {len(photos)} photos")
    uploads = (pb.UploadPhotosRequest(parent=order.name, filename=p.name, content=p.read_bytes()) for p in photos)
    result = client.call("UploadPhotos", uploads, timeout_s=max(client.timeout_s, 10 * len(photos)))
    for verdict in result.results:
        if verdict.accepted:
            err.print(f"  [green]accepted[/] {verdict.filename}")
        else:
            err.print(f"  [red]rejected[/] {verdict.filename}: {verdict.message} ({verdict.reason_code})")
    err.print(f"{result.accepted} of {len(photos)} photos accepted")
    client.call("SubmitOrder", pb.SubmitOrderRequest(name=order.name))
    err.print(f"submitted; follow it with `headshots order watch {order.uid}`")
    if not args.wait:
        return as_json(client.call("GetOrder", pb.GetOrderRequest(name=order.name)))
    final = watch(client, order.name)
    summary = as_json(final)
    if final.state == pb.Order.STATE_COMPLETED and args.to:
        summary["files"] = [str(p) for p in download(client, order.name, Path(args.to))]
    return summary


def cmd_watch(client: Client, args) -> dict:
    return as_json(watch(client, order_name(args.order)))


def cmd_get(client: Client, args) -> dict:
    return as_json(client.call("GetOrder", pb.GetOrderRequest(name=order_name(args.order))))


def cmd_download(client: Client, args) -> dict:
    name = order_name(args.order)
    files = download(client, name, Path(args.to))
    return {"order": name, "files": [str(p) for p in files]}


def cmd_renders(client: Client, args) -> dict:
    name = order_name(args.order)
    render = client.call(
        "CreateRender",
        pb.CreateRenderRequest(parent=name, request_id=str(uuid.uuid4()), style_id=args.style, count=args.count),
    )
    err.print(f"{render.count} more in {render.style_id}: render {render.uid} is {render.state}")
    summary = {"order": name, "render": as_json(render)}
    if args.wait:
        summary["order_state"] = as_json(watch(client, name))
    return summary


def cmd_list(client: Client, args) -> dict:
    response = client.call("ListOrders", pb.ListOrdersRequest(page_size=args.limit))
    if not args.json:  # the listing is the output: a table on stdout
        for order in response.orders:
            state = pb.Order.State.Name(order.state).removeprefix("STATE_").lower()
            created = order.create_time.ToDatetime().strftime("%Y-%m-%d %H:%M")
            styles = ",".join(order.style_ids)
            print(f"{order.uid}  {state:<15} {order.headshots_ready:>3} headshots  {created}  {styles}")
    err.print(f"{len(response.orders)} of {response.total_size} orders")
    return {"orders": [as_json(o) for o in response.orders], "total_size": response.total_size}


def cmd_delete(client: Client, args) -> dict:
    receipt = client.call("DeleteOrder", pb.DeleteOrderRequest(name=order_name(args.order)))
    err.print(
        f"deleted: {receipt.photos_deleted} photos, {receipt.headshots_deleted} headshots, "
        f"{receipt.blobs_deleted} blobs; {receipt.remaining_blobs} remaining"
    )
    return as_json(receipt)


# -- watching and downloading -----------------------------------------------------------------------------------
def watch(client: Client, name: str) -> pb.Order:
    """A progress bar with the order's stage, percent and the API's ETA until the order is final."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("ETA {task.fields[eta]}"),
    )
    order = client.call("GetOrder", pb.GetOrderRequest(name=name))
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task(order.progress.stage or "queued", total=100, eta="-")
        while order.state not in FINAL:
            # A watch ends before its deadline, or when the server closes it: open the next one.
            for update in client.stream("WatchOrder", pb.WatchOrderRequest(name=name), timeout_s=600):
                order = update.order
                eta = order.progress.eta.ToTimedelta().total_seconds() if order.HasField("progress") else 0
                progress.update(
                    task,
                    description=order.progress.stage or pb.Order.State.Name(order.state).removeprefix("STATE_").lower(),
                    completed=order.progress.percent,
                    eta=f"{eta:.0f}s" if eta else "-",
                )
            if order.state not in FINAL:
                order = client.call("GetOrder", pb.GetOrderRequest(name=name))
        progress.update(task, completed=100 if order.state == pb.Order.STATE_COMPLETED else order.progress.percent)
    state = pb.Order.State.Name(order.state).removeprefix("STATE_").lower()
    err.print(f"order {order.uid} is [bold]{state}[/]" + (f": {order.failure_reason}" if order.failure_reason else ""))
    if order.state == pb.Order.STATE_FAILED:
        raise CliError(f"order {order.uid} failed: {order.failure_reason or 'no reason given'}", EXIT_ORDER_FAILED)
    return order


def download(client: Client, name: str, to: Path) -> list[Path]:
    """The order's zip, streamed with a byte progress bar, unpacked into `to`."""
    data = io.BytesIO()
    with Progress(
        TextColumn("[bold]downloading"), BarColumn(), DownloadColumn(), TimeElapsedColumn(), console=err
    ) as progress:
        task = progress.add_task("zip", total=None)
        for chunk in client.stream("DownloadHeadshotArchive", pb.DownloadHeadshotArchiveRequest(parent=name), 600):
            if chunk.total_bytes:
                progress.update(task, total=chunk.total_bytes)
            data.write(chunk.data)
            progress.update(task, completed=data.tell())
    to.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(data) as archive:
        files = []
        for member in archive.infolist():
            target = (to / Path(member.filename).name).resolve()
            if member.is_dir() or not target.is_relative_to(to.resolve()):
                continue
            target.write_bytes(archive.read(member))
            files.append(target)
    err.print(f"{len(files)} headshots in {to}")
    return files


# -- settings and entry point -----------------------------------------------------------------------------------
def settings(args) -> tuple[str, str]:
    config_path = Path(args.config) if args.config else DEFAULT_CONFIG
    config: dict = {}
    if config_path.exists():
        try:
            config = tomllib.loads(config_path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise CliError(f"{config_path}: {exc}", EXIT_USAGE) from None
    elif args.config:
        raise CliError(f"no config file at {config_path}", EXIT_USAGE)
    key = args.api_key or os.environ.get("HEADSHOTS_API_KEY") or config.get("api_key")
    target = args.target or os.environ.get("HEADSHOTS_GRPC_TARGET") or config.get("grpc_target")
    if not target:
        from headshots_tools.localstack import Ports

        target = f"127.0.0.1:{Ports().partner_grpc}"  # the local stack (`make up`)
    if not key:
        raise CliError(
            f"no API key: pass --api-key, set HEADSHOTS_API_KEY, or put api_key in {config_path}", EXIT_USAGE
        )
    return target, key


COMMANDS = {
    "create": cmd_create,
    "watch": cmd_watch,
    "get": cmd_get,
    "download": cmd_download,
    "renders": cmd_renders,
    "delete": cmd_delete,
    "list": cmd_list,
}


def add_parser(sub) -> None:
    """`order` and its commands on the `headshots` parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--api-key", help="partner API key (else HEADSHOTS_API_KEY or the config file)")
    common.add_argument("--target", help="partner gRPC endpoint host:port (else HEADSHOTS_GRPC_TARGET)")
    common.add_argument("--config", help=f"TOML config file (default {DEFAULT_CONFIG})")
    common.add_argument("--json", action="store_true", help="print one JSON object naming the order, last")
    order = sub.add_parser(
        "order",
        help="create, watch, download, re-render and delete orders over the partner gRPC API",
        description=__doc__.splitlines()[0],
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
    order.set_defaults(func=run)


def run(args) -> int:
    try:
        target, key = settings(args)
        client = Client(target, key)
        try:
            summary = COMMANDS[args.order_command](client, args)
        finally:
            client.channel.close()
    except CliError as exc:
        err.print(f"[red]error:[/] {exc}")
        if args.json:
            print(json.dumps({"error": str(exc), "exit_code": exc.code}))
        return exc.code
    if args.json:
        print(json.dumps(summary))
    elif summary.get("name") or summary.get("order"):
        print(summary.get("name") or summary.get("order"))
    return EXIT_OK
