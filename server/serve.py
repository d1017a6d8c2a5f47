"""`liftstream serve`: run the app under uvicorn and print how to open it.

In local auth mode the printed URL carries a token for the default user (the way notebook servers
do it); the page keeps the token and takes it out of the address bar. `--https` serves TLS with
the given certificate or a self-signed one kept in the data folder, because phones open the
camera only on secure origins; the LAN address is printed so a phone on the network can connect.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import socket
import sys
from dataclasses import replace
from pathlib import Path

from server.errors import InvalidInputError
from server.settings import Settings

DEFAULT_USER = "athlete"
GIL_SWITCH_S = 0.001  # see cli_serve
CERT_FILE, KEY_FILE = "tls-cert.pem", "tls-key.pem"


def lan_address() -> str | None:
    """This machine's address on the local network (the route a UDP socket would take), or None.
    Nothing is sent: connect() on a UDP socket only picks the interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed, no packet leaves
            address = str(s.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def self_signed_certificate(data_dir: Path, hosts: list[str]) -> tuple[Path, Path]:
    """A self-signed certificate for `hosts` (names or IPs), made once and reused."""
    cert_path, key_path = data_dir / CERT_FILE, data_dir / KEY_FILE
    if cert_path.is_file() and key_path.is_file():
        return cert_path, key_path
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "LiftStream (self-signed)")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def open_urls(settings: Settings, scheme: str, token: str | None) -> list[str]:
    """The URLs to print: this host, and the LAN address when listening on all interfaces."""
    hosts = [settings.host if settings.host not in ("0.0.0.0", "::") else "127.0.0.1"]
    if settings.host in ("0.0.0.0", "::"):
        lan = lan_address()
        if lan:
            hosts.append(lan)
    query = f"/?token={token}" if token else "/"
    return [f"{scheme}://{h}:{settings.port}{query}" for h in hosts]


def cli_serve(settings: Settings, args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from server.app import create_app

    logging.getLogger("alembic").setLevel(logging.WARNING)  # migration chatter at each start
    if args.host:
        settings = replace(settings, host=args.host)
    if args.port:
        settings = replace(settings, port=args.port)
    if args.https and settings.host == "127.0.0.1" and not args.host:
        # --https is for a phone on the network: listen beyond loopback unless told otherwise.
        settings = replace(settings, host="0.0.0.0")
    if (args.cert is None) != (args.key is None):
        raise InvalidInputError("--cert and --key go together")
    app = create_app(settings, freeze_gc=True)
    tls: dict[str, str] = {}
    if args.https:
        if args.cert:
            cert, key = Path(args.cert), Path(args.key)
        else:
            hosts = ["localhost", "127.0.0.1", *filter(None, [lan_address()])]
            cert, key = self_signed_certificate(settings.data_dir, hosts)
        tls = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    token = None
    if settings.auth_mode == "local":
        from server.auth.local import LocalTokens

        token = LocalTokens.from_settings(settings).mint(DEFAULT_USER, plan="pro", days=30)
    scheme = "https" if args.https else "http"
    print("LiftStream is starting. Open:", flush=True)
    for url in open_urls(settings, scheme, token):
        print(f"    {url}", flush=True)
    if token:
        print(
            f"(signed in as {DEFAULT_USER!r}; mint other tokens with "
            "`liftstream token create --user U`)",
            flush=True,
        )
    if args.https and not args.cert:
        print("(self-signed certificate: accept the browser's warning once)", flush=True)
    print(f"API docs: {scheme}://127.0.0.1:{settings.port}/docs", flush=True)
    # Hand the GIL over sooner (CPython's default is 5 ms): a job analysing a finished lift is
    # mostly Python-level numpy work that a live stream's thread would wait out whole intervals
    # behind. (Measured here: no clear change for one stream; two streams' p99 72 against 106 ms
    # in one pair of runs, within this machine's noise.)
    sys.setswitchinterval(GIL_SWITCH_S)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", **tls)  # type: ignore[arg-type]
    return 0
