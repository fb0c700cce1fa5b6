"""What every `headshots` command group over the partner API shares (`order ...` in `cli`, `team ...` in `team_cli`):
the common options, the settings they resolve to (key, endpoint, TLS), the client they open, the errors' exit codes
and the output contract (with --json, the last line of stdout is one JSON object; progress goes to stderr).

The API key and the endpoint come from --api-key / --target, else HEADSHOTS_API_KEY / HEADSHOTS_GRPC_TARGET, else the
config file (--config, default ~/.config/headshots/config.toml, mode 0600; `headshots order configure` writes it),
else the local stack's partner port. The channel is TLS for any host that is not loopback (`transport`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from headshots_client import errors, transport as partner_transport
from headshots_client.grpc_api import GrpcClient
from headshots_client.transport import (
    DEFAULT_CONFIG,
    KEY_ENV,
    LOCAL_GRPC_TARGET,
    TARGET_ENV,
    Transport,
    TransportError,
)

# Exit codes a script can tell apart.
EXIT_OK = 0
EXIT_USAGE = 2  # argparse's own, and missing settings
EXIT_REJECTED = 3  # the API refused the input (bad photos, unknown order or team, wrong key, quota)
EXIT_ORDER_FAILED = 4  # the order ended failed
EXIT_UNREACHABLE = 5  # no answer from the endpoint

# A command: the open client and the parsed arguments -> the summary --json prints.
Command = Callable[[GrpcClient, argparse.Namespace], dict[str, Any]]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class ProgressLine:
    """One line on stderr that says where something is: rewritten in place on a terminal, a new line per change
    elsewhere (a CI log)."""

    def __init__(self) -> None:
        self.tty, self.last = sys.stderr.isatty(), ""

    def show(self, text: str) -> None:
        if text == self.last:
            return
        self.last = text
        print(f"\r{text:<78}" if self.tty else text, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.tty and self.last:
            print(file=sys.stderr, flush=True)


class CliError(Exception):
    """What ends a command: its message for stderr, the exit code, and the API's code when the API refused."""

    def __init__(
        self, message: str, code: int, api_code: str | None = None, fields: dict[str, list[str]] | None = None
    ):
        super().__init__(message)
        self.code, self.api_code, self.fields = code, api_code, fields or {}


def cli_error(exc: errors.HeadshotsError, target: str) -> CliError:
    """A client error as the CliError with the exit code a script can tell apart."""
    if isinstance(exc, errors.ConnectionFailed) and partner_transport.tls_failure(str(exc)):
        return CliError(
            f"no TLS connection to {target}: {exc}. A server with a private CA: --ca-file PEM; a "
            "plaintext server on a trusted network: --plaintext --insecure",
            EXIT_UNREACHABLE,
        )
    if isinstance(exc, errors.ConnectionFailed):
        return CliError(str(exc), EXIT_UNREACHABLE)
    if isinstance(exc, errors.TransportError):
        return CliError(str(exc), EXIT_USAGE)
    if not isinstance(exc, errors.ApiError):
        return CliError(str(exc), EXIT_REJECTED)
    fields = exc.details.get("fields") or {}  # InvalidArgument's fields at fault, each with what is wrong
    said = "; ".join(f"{field}: {' '.join(problems)}" for field, problems in fields.items())
    return CliError(f"{exc} ({said})" if said else str(exc), EXIT_REJECTED, exc.code, fields)


def common_options(what: str) -> argparse.ArgumentParser:
    """The options every command over the API takes (a parent parser); `what` is what --json names."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--api-key", help="partner API key (better: HEADSHOTS_API_KEY or the config file; see `order configure`)"
    )
    common.add_argument("--target", help="partner gRPC endpoint host:port (else HEADSHOTS_GRPC_TARGET)")
    common.add_argument("--config", help=f"TOML config file, mode 0600 (default {DEFAULT_CONFIG})")
    common.add_argument("--json", action="store_true", help=f"print one JSON object naming the {what}, last")
    common.add_argument("--ca-file", help="trust this CA (PEM) for the endpoint's TLS certificate, not the system's")
    common.add_argument("--tls", action="store_true", help="TLS to a loopback host too (other hosts always get it)")
    common.add_argument(
        "--plaintext", action="store_true", help="no TLS; to a host that is not loopback only with --insecure"
    )
    common.add_argument(
        "--insecure",
        action="store_true",
        help="allow --plaintext to a host that is not loopback: the key is not encrypted",
    )
    return common


def read_config(args, *, may_be_missing: bool = False) -> tuple[Path, dict]:
    """The config file's path and settings (--config must exist unless `may_be_missing`: `configure` writes it)."""
    config_path = Path(args.config) if args.config else DEFAULT_CONFIG
    if args.config and not config_path.exists() and not may_be_missing:
        raise CliError(f"no config file at {config_path}", EXIT_USAGE)
    try:
        return config_path, partner_transport.read_config(config_path)
    except TransportError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def settings(args) -> tuple[str, str, Transport]:
    """The endpoint, the key and the transport the options, the environment and the config file say."""
    config_path, config = read_config(args)
    if args.api_key:
        say(partner_transport.key_on_command_line_warning(config_path))
    key = args.api_key or os.environ.get(KEY_ENV) or config.get("api_key")
    target = args.target or os.environ.get(TARGET_ENV) or config.get("grpc_target")
    target = target or LOCAL_GRPC_TARGET  # the local stack (`make up`)
    if not key:
        raise CliError(
            f"no API key: set {KEY_ENV}, save it with `headshots order configure`, or pass --api-key", EXIT_USAGE
        )
    transport = Transport(
        tls=args.tls,
        plaintext=args.plaintext,
        insecure=args.insecure,
        ca_file=args.ca_file or config.get("ca_file", ""),
    )
    return target, key, transport


def run_command(args, command: Command, *, show: Callable[[dict], None]) -> int:
    """Run `command` with a GrpcClient opened from the settings; its summary and its errors go out as `output` says."""

    def with_client() -> dict[str, Any]:
        target, key, transport = settings(args)
        try:
            api = GrpcClient(key, target, transport=transport, timeout_s=60)
            try:
                return command(api, args)
            finally:
                api.close()
        except errors.HeadshotsError as exc:
            raise cli_error(exc, target) from None

    return output(args, with_client, show=show)


def output(args, produce: Callable[[], dict[str, Any]], *, show: Callable[[dict], None]) -> int:
    """The summary `produce` makes: with --json as one JSON object, the last line of stdout, else `show(summary)`.
    A CliError's message goes to stderr (with --json also `{"error", "exit_code", "code", "fields"}`: `code` is the
    API's when it refused, `fields` the fields it named at fault), and its exit code is returned."""
    try:
        summary = produce()
    except CliError as exc:
        say(f"error: {exc}")
        if args.json:
            failure: dict[str, Any] = {"error": str(exc), "exit_code": exc.code}
            if exc.api_code:
                failure["code"] = exc.api_code
            if exc.fields:
                failure["fields"] = exc.fields
            print(json.dumps(failure))
        return exc.code
    if args.json:
        print(json.dumps(summary))
    else:
        show(summary)
    return EXIT_OK


def unpack(archive: zipfile.ZipFile, to: Path) -> list[Path]:
    """Every file of the archive into the folder `to` (made if missing), flat, none outside it."""
    to.mkdir(parents=True, exist_ok=True)
    files = []
    for member in archive.infolist():
        target = (to / Path(member.filename).name).resolve()
        if member.is_dir() or not target.is_relative_to(to.resolve()):
            continue
        target.write_bytes(archive.read(member))
        files.append(target)
    return files
