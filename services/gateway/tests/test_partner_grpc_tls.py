"""The partner gRPC API over TLS: the real server process with a certificate from a test CA, and the installed
`headshots` command run as a partner runs it (a subprocess, with a HOME of its own)."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from headshots_client.transport import Transport, channel_credentials
from headshots_tools.localstack import GATEWAY_DIR
from headshots_tools.ports import free_port
from partner_grpc.server import build_server
from partner_grpc.tls import TlsFiles

HEADSHOTS = Path(sys.executable).parent / "headshots"  # the console script, as a partner's shell finds it


# -- a test CA and server certificates for 127.0.0.1 and localhost ------------------------------------------------
def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, key, issuer: tuple | None = None, server: bool = False) -> x509.Certificate:
    """Self-signed CA when `issuer` is None, else a server certificate signed by (issuer key, issuer cert)."""
    now = datetime.now(UTC)
    signing_key, issuer_name = (key, _name(subject)) if issuer is None else (issuer[0], issuer[1].subject)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=not server, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def _write_pki(folder: Path, label: str) -> dict[str, Path]:
    """A CA and a server certificate it signed: {ca, cert, key} PEM files named after `label`."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate(f"{label} test CA", ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _certificate("127.0.0.1", server_key, issuer=(ca_key, ca), server=True)
    paths = {"ca": folder / f"{label}-ca.pem", "cert": folder / f"{label}-server.pem", "key": folder / f"{label}.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, dict[str, Path]]:
    folder = tmp_path_factory.mktemp("pki")
    return {label: _write_pki(folder, label) for label in ("ours", "other")}


# -- the server process -------------------------------------------------------------------------------------------
def _gateway_env(folder: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADSHOTS_")}
    env.update(
        DATABASE_URL=f"sqlite:///{folder / 'gateway.sqlite3'}",
        HEADSHOTS_VAR_DIR=str(folder),
        HEADSHOTS_BLOB_URL=f"file://{folder / 'blobs'}",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def _manage(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=GATEWAY_DIR, env=env, capture_output=True, text=True, timeout=timeout
    )


def _serving_over_tls(target: str, ca: Path) -> bool:
    credentials = grpc.ssl_channel_credentials(root_certificates=ca.read_bytes())
    options = [("grpc.use_local_subchannel_pool", 1)]  # a fresh connection, so a fresh handshake
    try:
        with grpc.secure_channel(target, credentials, options=options) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
            return reply.status == health_pb2.HealthCheckResponse.SERVING
    except grpc.RpcError:
        return False


@contextlib.contextmanager
def _tls_server(folder: Path, files: dict[str, Path]) -> Iterator[tuple[str, str, Path]]:
    """`manage.py run_partner_grpc` with TLS from `files`, and a partner's key: (target, key, log file)."""
    env = _gateway_env(
        folder, HEADSHOTS_GRPC_TLS_CERT_FILE=str(files["cert"]), HEADSHOTS_GRPC_TLS_KEY_FILE=str(files["key"])
    )
    assert _manage(env, "migrate", "--noinput").returncode == 0
    created = _manage(env, "partner", "create", "tls-partner")
    assert created.returncode == 0, created.stderr
    port, log = free_port(), folder / "grpc.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_partner_grpc", "--port", str(port)],
            cwd=GATEWAY_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        target, deadline = f"127.0.0.1:{port}", time.monotonic() + 60
        while not _serving_over_tls(target, files["ca"]):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the TLS server did not start:\n" + log.read_text()
            time.sleep(0.2)
        yield target, created.stdout.strip(), log
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def tls_server(pki, tmp_path_factory):
    with _tls_server(tmp_path_factory.mktemp("tls-gateway"), pki["ours"]) as server:
        yield server


def _cli(*args: str, home: Path, key: str = "") -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADSHOTS_")}
    env.update(HOME=str(home), COLUMNS="200")
    if key:
        env["HEADSHOTS_API_KEY"] = key
    result = subprocess.run([str(HEADSHOTS), *args], capture_output=True, text=True, env=env, timeout=120)
    return result.returncode, result.stdout, result.stderr


def _last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


# -- the CLI over TLS ---------------------------------------------------------------------------------------------
def test_the_cli_speaks_tls_with_the_private_ca_and_fails_verification_without_it(tls_server, pki, tmp_path):
    target, key, log = tls_server
    port = target.rsplit(":", 1)[1]
    assert "over TLS" in log.read_text()  # the server says which mode it runs in
    ours, other = str(pki["ours"]["ca"]), str(pki["other"]["ca"])
    for where in (target, f"localhost:{port}"):  # the certificate names both
        code, out, err = _cli("order", "list", "--json", "--target", where, "--ca-file", ours, home=tmp_path, key=key)
        assert code == 0, err
        assert _last_json(out)["total_size"] == 0
    # The system's roots do not know the test CA; neither does another CA.
    for trust in (["--tls"], ["--ca-file", other]):
        code, out, err = _cli("order", "list", "--target", target, *trust, home=tmp_path, key=key)
        assert code == 5, err
        assert "no TLS connection" in err and "CERTIFICATE_VERIFY_FAILED" in err.replace("\n", ""), err
    # Plaintext to a TLS server gets nowhere either.
    code, out, err = _cli("order", "list", "--target", target, home=tmp_path, key=key)
    assert code == 5, err


def test_plaintext_to_a_host_that_is_not_loopback_is_refused_without_insecure(tmp_path):
    target = "partner-api.invalid:50051"
    code, out, err = _cli("order", "list", "--target", target, "--plaintext", home=tmp_path, key="hs_x_y")
    assert code == 2 and "refusing to send the API key in plaintext to partner-api.invalid" in err, err
    # With --insecure the call is made (and fails only because the name does not resolve).
    code, out, err = _cli("order", "list", "--target", target, "--plaintext", "--insecure", home=tmp_path, key="hs_x")
    assert code == 5 and "cannot reach" in err, err
    # Without --plaintext a host that is not loopback gets TLS with the system's roots; loopback plaintext.
    assert channel_credentials("api.example.com:443", Transport()) is not None
    assert channel_credentials("[2001:db8::1]:443", Transport()) is not None
    assert channel_credentials("127.0.0.1:50051", Transport()) is None
    assert channel_credentials("[::1]:50051", Transport()) is None


def test_the_config_file_must_be_private_and_configure_writes_it_so(tls_server, pki, tmp_path):
    target, key, _ = tls_server
    config = tmp_path / "config.toml"
    config.write_text(f'api_key = "{key}"\ngrpc_target = "{target}"\nca_file = "{pki["ours"]["ca"]}"\n')
    for mode in (0o644, 0o640, 0o602):
        config.chmod(mode)
        code, out, err = _cli("order", "list", "--config", str(config), home=tmp_path)
        assert code == 2 and str(config) in err.replace("\n", "") and "chmod 600" in err, (oct(mode), err)
    config.chmod(0o600)
    code, out, err = _cli("order", "list", "--json", "--config", str(config), home=tmp_path)
    assert code == 0 and _last_json(out)["total_size"] == 0, err

    # `configure` writes the key it is given (never as an argument) 0600, and the CLI then uses it.
    home = tmp_path / "home"
    code, out, err = _cli(
        "order", "configure", "--target", target, "--ca-file", str(pki["ours"]["ca"]), home=home, key=key
    )
    assert code == 0, err
    written = home / ".config" / "headshots" / "config.toml"
    assert written.stat().st_mode & 0o777 == 0o600 and key in written.read_text()
    code, out, err = _cli("order", "list", "--json", home=home)
    assert code == 0 and _last_json(out)["total_size"] == 0, err


def test_a_key_on_the_command_line_works_with_a_warning(tls_server, pki, tmp_path):
    target, key, _ = tls_server
    code, out, err = _cli(
        "order", "list", "--target", target, "--ca-file", str(pki["ours"]["ca"]), "--api-key", key, home=tmp_path
    )
    assert code == 0, err
    assert "warning: --api-key" in err and "HEADSHOTS_API_KEY" in err and "configure" in err, err
    code, out, err = _cli(
        "order", "list", "--target", target, "--ca-file", str(pki["ours"]["ca"]), home=tmp_path, key=key
    )
    assert code == 0 and "warning" not in err, err


# -- the server's start-up and certificate renewal -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("cert without key", "HEADSHOTS_GRPC_TLS_CERT_FILE is set but HEADSHOTS_GRPC_TLS_KEY_FILE is not"),
        ("key without cert", "HEADSHOTS_GRPC_TLS_KEY_FILE is set but HEADSHOTS_GRPC_TLS_CERT_FILE is not"),
        ("missing key file", "cannot be read"),
        ("another certificate's key", "are not a PEM certificate chain and its private key"),
        ("client CA without TLS", "a client CA needs TLS"),
    ],
)
def test_half_configured_tls_stops_the_server_at_start_up(pki, tmp_path, case, message):
    ours, other = pki["ours"], pki["other"]
    settings = {
        "cert without key": {"CERT": ours["cert"]},
        "key without cert": {"KEY": ours["key"]},
        "missing key file": {"CERT": ours["cert"], "KEY": tmp_path / "nowhere.key"},
        "another certificate's key": {"CERT": ours["cert"], "KEY": other["key"]},
        "client CA without TLS": {"CLIENT_CA": ours["ca"]},
    }[case]
    env = _gateway_env(tmp_path, **{f"HEADSHOTS_GRPC_TLS_{name}_FILE": str(path) for name, path in settings.items()})
    started = _manage(env, "run_partner_grpc", "--port", str(free_port()), timeout=60)
    assert started.returncode != 0 and message in started.stderr, started.stderr


def test_a_renewed_certificate_is_served_to_new_connections_without_a_restart(pki, tmp_path):
    live = {"cert": tmp_path / "tls.crt", "key": tmp_path / "tls.key"}
    for name, path in live.items():
        path.write_bytes(pki["ours"][name].read_bytes())
    port = free_port()
    server = build_server(port, tls=TlsFiles(str(live["cert"]), str(live["key"])))
    server.start()
    try:
        target = f"127.0.0.1:{port}"
        assert _serving_over_tls(target, pki["ours"]["ca"])
        assert not _serving_over_tls(target, pki["other"]["ca"])
        # As a mounted Secret is renewed: new files swapped in whole.
        for name, path in live.items():
            staged = path.with_suffix(".new")
            staged.write_bytes(pki["other"][name].read_bytes())
            os.replace(staged, path)
        assert _serving_over_tls(target, pki["other"]["ca"])
        assert not _serving_over_tls(target, pki["ours"]["ca"])
        # A broken renewal (a key that is not the certificate's) keeps the last good pair.
        live["key"].write_bytes(pki["ours"]["key"].read_bytes())
        assert _serving_over_tls(target, pki["other"]["ca"])
    finally:
        server.stop(grace=None)
