"""How the clients reach the API without leaking the key: TLS, the config file, the key's source.

- gRPC channels and REST URLs are TLS with the system's roots for any host that is not loopback (`ca_file` trusts a
  private CA instead, `tls` asks for TLS on loopback too). Plaintext is the default on loopback only (the local
  stack); asked for (`plaintext`, or an http:// URL) towards any other host it is refused unless `insecure` says the
  network is trusted.
- The config file holds the key, so, as ssh does with private keys, one that group or others may read or write is
  refused; the CLI writes it 0600.
- A key on the command line is visible to every user of the machine (`ps`) and kept in shell history: it works,
  with a warning that names the safer places.

Only the standard library and grpc.
"""

from __future__ import annotations

import ipaddress
import json
import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import grpc

from headshots_client.errors import TransportError

KEY_ENV = "HEADSHOTS_API_KEY"
TARGET_ENV = "HEADSHOTS_GRPC_TARGET"
URL_ENV = "HEADSHOTS_API_URL"
# The local stack's ports (`make up`); headshots_tools.localstack.Ports takes its defaults from here.
LOCAL_HTTP_PORT = 8000
LOCAL_GRPC_PORT = 50051
LOCAL_REST_URL = f"http://127.0.0.1:{LOCAL_HTTP_PORT}"
LOCAL_GRPC_TARGET = f"127.0.0.1:{LOCAL_GRPC_PORT}"
DEFAULT_CONFIG = Path.home() / ".config" / "headshots" / "config.toml"
# Group and others: no bit at all, as ssh requires of a private key.
PRIVATE_MODE = 0o600


def target_host(target: str) -> str:
    """The host of a gRPC target: `host:port`, `[v6]:port`, `dns:///host:port`, or a bare host."""
    address = target.split("///", 1)[1] if "///" in target else target
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    host, sep, port = address.rpartition(":")
    if not sep or ":" in host or not port.isdigit():  # no port, or a bare IPv6 address
        return address
    return host


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Transport:
    """What the command line asked for: --tls, --plaintext, --insecure, --ca-file."""

    tls: bool = False
    plaintext: bool = False
    insecure: bool = False
    ca_file: str = ""


def channel_credentials(target: str, transport: Transport) -> grpc.ChannelCredentials | None:
    """The channel's TLS credentials, or None for plaintext (loopback, or --plaintext --insecure)."""
    if transport.plaintext and (transport.tls or transport.ca_file):
        raise TransportError("--plaintext cannot go with --tls or --ca-file")
    host = target_host(target)
    if transport.plaintext or (not transport.tls and not transport.ca_file and is_loopback(host)):
        if not is_loopback(host) and not transport.insecure:
            raise TransportError(
                f"refusing to send the API key in plaintext to {host}, which is not this machine: drop "
                "--plaintext to use TLS, or add --insecure if the network between is trusted"
            )
        return None
    if not transport.ca_file:
        return grpc.ssl_channel_credentials()  # the system's roots
    try:
        roots = Path(transport.ca_file).read_bytes()
    except OSError as exc:
        raise TransportError(f"--ca-file {transport.ca_file} cannot be read: {exc.strerror or exc}") from None
    if b"-----BEGIN CERTIFICATE-----" not in roots:
        raise TransportError(f"--ca-file {transport.ca_file} holds no PEM certificate")
    return grpc.ssl_channel_credentials(root_certificates=roots)


def open_channel(target: str, transport: Transport, options: list[tuple[str, int]]) -> grpc.Channel:
    credentials = channel_credentials(target, transport)
    if credentials is None:
        return grpc.insecure_channel(target, options=options)
    return grpc.secure_channel(target, credentials, options=options)


def rest_base_url(url: str, transport: Transport) -> str:
    """The REST API's base URL as it will be used: https:// for a host that is not loopback (a bare host gets it),
    http:// only to loopback unless `insecure` says the network is trusted."""
    if "://" not in url:
        url = f"http://{url}" if is_loopback(target_host(url)) and not transport.tls else f"https://{url}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TransportError(f"{url!r} is not an http(s) URL of the API")
    if parts.scheme == "http" and (transport.tls or transport.ca_file):
        raise TransportError(f"{url} is plaintext http:// but TLS was asked for: use https://")
    if parts.scheme == "http" and not is_loopback(parts.hostname) and not transport.insecure:
        raise TransportError(
            f"refusing to send the API key in plaintext to {parts.hostname}, which is not this machine: use "
            "https://, or pass insecure=True if the network between is trusted"
        )
    return url.rstrip("/")


def tls_failure(details: str) -> bool:
    """Whether an unreachable endpoint's error is a failed TLS handshake (verification, or a plaintext server)."""
    markers = ("ssl", "tls", "handshake", "certificate")
    return any(marker in details.lower() for marker in markers)


# -- the config file ----------------------------------------------------------------------------------------------
def read_config(path: Path) -> dict:
    """The config file's settings ({} when there is none); refused when group or others may read or write it."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return {}
    if stat.S_IMODE(mode) & 0o077:
        raise TransportError(
            f"{path} is open to other users (mode {stat.S_IMODE(mode):04o}) and holds your API key: "
            f"run `chmod 600 {path}`"
        )
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise TransportError(f"{path}: {exc}") from None


def write_config(path: Path, settings: dict[str, str]) -> None:
    """Write (or update) the config file, 0600 from its first byte; its folder is made 0700 if it is new."""
    config = {**read_config(path), **{k: v for k, v in settings.items() if v}}
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # JSON's string escapes are valid TOML basic-string escapes.
    text = "".join(f"{key} = {json.dumps(str(value))}\n" for key, value in config.items())
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    with os.fdopen(descriptor, "w") as file:
        os.fchmod(file.fileno(), PRIVATE_MODE)  # an existing file keeps its mode through O_CREAT
        file.write(text)


def key_on_command_line_warning(config_path: Path) -> str:
    return (
        f"warning: --api-key puts the key in your shell history and in every user's process list; set {KEY_ENV} "
        f"or save it with `headshots order configure` (into {config_path}, mode 0600)"
    )
