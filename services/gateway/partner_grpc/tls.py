"""TLS for the partner gRPC server: certificate and key from files (HEADSHOTS_GRPC_TLS_*), checked at start-up.

Both files set: TLS; neither: plaintext. Anything in between (one of the two, a file that cannot be read, a key
that is not the certificate's) stops the server before it listens, with the setting and the file named: a
server that came up in plaintext by mistake would take partners' keys unencrypted.

The files are read again when they change (a renewed certificate in a mounted Secret): each new connection's
handshake asks `_Reloader`, which answers the new pair once it has checked it, and keeps the old one otherwise.
"""

from __future__ import annotations

import logging
import os
import ssl
from dataclasses import dataclass

import grpc

log = logging.getLogger(__name__)

CERT_SETTING = "HEADSHOTS_GRPC_TLS_CERT_FILE"
KEY_SETTING = "HEADSHOTS_GRPC_TLS_KEY_FILE"
CLIENT_CA_SETTING = "HEADSHOTS_GRPC_TLS_CLIENT_CA_FILE"


class TlsConfigError(Exception):
    """The TLS settings cannot serve: the message says which setting and file, and what to do."""


@dataclass(frozen=True)
class TlsFiles:
    cert_file: str = ""
    key_file: str = ""
    client_ca_file: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.cert_file or self.key_file)


def _read(setting: str, path: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise TlsConfigError(f"{setting}={path} cannot be read: {exc.strerror or exc}") from None


def _checked_pair(files: TlsFiles) -> tuple[bytes, bytes, bytes | None]:
    """(certificate chain, key, client CA or None), read and checked to be a usable pair (the standard library's
    TLS loads them as the server will)."""
    cert, key = _read(CERT_SETTING, files.cert_file), _read(KEY_SETTING, files.key_file)
    client_ca = _read(CLIENT_CA_SETTING, files.client_ca_file) if files.client_ca_file else None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(files.cert_file, files.key_file)
    except ssl.SSLError as exc:
        raise TlsConfigError(
            f"{CERT_SETTING}={files.cert_file} and {KEY_SETTING}={files.key_file} are not a PEM certificate chain "
            f"and its private key: {exc.reason or exc}"
        ) from None
    if client_ca is not None:
        try:
            context.load_verify_locations(cadata=client_ca.decode("ascii", errors="replace"))
        except ssl.SSLError as exc:
            raise TlsConfigError(
                f"{CLIENT_CA_SETTING}={files.client_ca_file} holds no PEM CA certificate: {exc.reason or exc}"
            ) from None
    return cert, key, client_ca


def _configuration(cert: bytes, key: bytes, client_ca: bytes | None):
    return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=client_ca)


class _Reloader:
    """The certificate configuration for each new handshake: a new one when the files changed and check out."""

    def __init__(self, files: TlsFiles):
        self.files = files
        self.stamp = self._stamp()

    def _stamp(self) -> tuple:
        paths = [p for p in (self.files.cert_file, self.files.key_file, self.files.client_ca_file) if p]
        stamps = []
        for path in paths:
            try:
                info = os.stat(path)  # follows the symlinks a mounted Secret swaps on renewal
            except OSError:
                return ()
            stamps.append((info.st_ino, info.st_mtime_ns, info.st_size))
        return tuple(stamps)

    def __call__(self):
        stamp = self._stamp()
        if not stamp or stamp == self.stamp:
            return None  # unchanged (or mid-swap): keep serving the current pair
        try:
            configuration = _configuration(*_checked_pair(self.files))
        except TlsConfigError as exc:
            log.error("partner gRPC TLS files changed but cannot serve; keeping the previous certificate: %s", exc)
            return None
        self.stamp = stamp
        log.info("partner gRPC TLS certificate reloaded from %s", self.files.cert_file)
        return configuration


def server_credentials(files: TlsFiles) -> grpc.ServerCredentials | None:
    """The server's credentials; None for plaintext (no file set). Raises TlsConfigError for anything half-set."""
    if not files.enabled:
        if files.client_ca_file:
            raise TlsConfigError(
                f"{CLIENT_CA_SETTING} is set but {CERT_SETTING} and {KEY_SETTING} are not: a client CA needs TLS"
            )
        return None
    if not (files.cert_file and files.key_file):
        given, missing = (CERT_SETTING, KEY_SETTING) if files.cert_file else (KEY_SETTING, CERT_SETTING)
        raise TlsConfigError(f"{given} is set but {missing} is not: set both for TLS, or neither for plaintext")
    initial = _configuration(*_checked_pair(files))
    return grpc.dynamic_ssl_server_credentials(
        initial, _Reloader(files), require_client_authentication=bool(files.client_ca_file)
    )
