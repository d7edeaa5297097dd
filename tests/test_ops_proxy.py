"""The service behind the shipped nginx configuration (docs/nginx/voting.conf),
and the command line over TLS.

nginx runs as the current user from a temporary prefix, with the shipped file
included as it is except for its ports, paths and server name, in front of a
real ``voting serve``. Clients use several loopback addresses (127.0.0.2, ...)
as their source, so the login rate limit can be seen counting per client.

The rate limit is counted in memory, whatever the database: these tests run on
SQLite only.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import free_port, make_pki, manifest
from voting import operator, tls
from voting.app import MAX_BODY_BYTES
from voting.client import Client
from voting.settings import Settings

SHIPPED = Path(__file__).resolve().parent.parent / "docs" / "nginx" / "voting.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
RATE = 3
ADMIN = "A0001"


# --- a self-signed server certificate ---------------------------------------------------------


@pytest.fixture
def server_cert(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, as `openssl req -x509` makes."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path / "tls"
    directory.mkdir()
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@pytest.fixture
def trusting(server_cert):
    """The library's clients trust the test certificate (what --cacert does), for this test only."""
    tls.use_cacert(server_cert[0])
    yield server_cert[0]
    tls.use_cacert(None)


# --- the service, started as the operator does --------------------------------------------------


def voting_command(*args: str, env: dict, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "voting.cli", *args], env=env, capture_output=True, text=True, timeout=120, **kwargs)


class Service:
    """``voting serve`` on a loopback port (after ``voting db upgrade``)."""

    def __init__(self, data_dir: Path, **env: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.env = {
            **os.environ,
            "VOTING_DATA_DIR": str(data_dir),
            "VOTING_DATABASE_URL": f"sqlite:///{data_dir / 'voting.sqlite3'}",
            "VOTING_HOST": "127.0.0.1",
            "VOTING_PORT": str(self.port),
            "VOTING_LOGIN_RATE_PER_MINUTE": str(RATE),
            **{f"VOTING_{k.upper()}": v for k, v in env.items()},
        }
        for name in ("VOTING_FORWARDED_ALLOW_IPS", "VOTING_CACERT", "FORWARDED_ALLOW_IPS"):
            if name.lower().removeprefix("voting_") not in env:
                self.env.pop(name, None)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Service:
        upgraded = voting_command("db", "upgrade", env=self.env)
        assert upgraded.returncode == 0, upgraded.stderr
        self.log = self.data_dir / "serve.log"
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "voting.cli", "serve", "--log-level", "warning"], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(self.url + "/api/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("voting serve did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- nginx with the shipped configuration ----------------------------------------------------


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


#: Where the shipped file includes the proxy's secret from (docs/operations.md 3.3 writes it).
SECRET_INCLUDE = "/etc/nginx/voting-proxy-secret.conf"


def secret_include(directory: Path, secret: str) -> Path:
    """The include file that docs/operations.md 3.3 writes: nginx's header with
    the service's proxy secret (mode 0600)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "voting-proxy-secret.conf"
    path.write_text(f"proxy_set_header X-Voting-Proxy-Secret {secret};\n")
    path.chmod(0o600)
    return path


def render(
    shipped: str, *, http_port: int, https_port: int, upstream_port: int, cert: Path, key: Path, include: Path
) -> str:
    """The shipped file with only its ports, listen addresses (loopback),
    certificate paths, the proxy secret's include file (``secret_include``)
    and server name replaced; each must be found."""
    v6 = "[::1]" if ipv6_loopback() else None
    replacements = [
        (SECRET_INCLUDE, str(include)),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen [::]:80;", f"listen {v6}:{http_port};" if v6 else ""),
        ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"),
        ("listen [::]:443 ssl;", f"listen {v6}:{https_port} ssl;" if v6 else ""),
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};"),
        ("/etc/ssl/voting/fullchain.pem", str(cert)),
        ("/etc/ssl/voting/privkey.pem", str(key)),
        ("server_name vote.city.example;", "server_name localhost;"),
    ]
    text = shipped
    for old, new in replacements:
        assert old in text, f"the shipped configuration no longer has {old!r}: update this test"
        text = text.replace(old, new)
    return text


class Nginx:
    """nginx in the foreground, from a temporary prefix, as the current user."""

    def __init__(self, prefix: Path, site: str) -> None:
        self.prefix = prefix
        prefix.mkdir()
        (prefix / "voting.conf").write_text(site)
        user = "user root;\n" if os.geteuid() == 0 else ""  # workers would otherwise drop to nobody
        temp = "".join(f"    {kind}_temp_path {prefix / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (prefix / "nginx.conf").write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} info;\n"
            "events { worker_connections 64; }\n"
            f"http {{\n    access_log {prefix / 'access.log'};\n{temp}    include {prefix / 'voting.conf'};\n}}\n"
        )
        self.args = [NGINX, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(prefix / "nginx.conf")]
        self.process: subprocess.Popen | None = None

    def check(self) -> None:
        checked = subprocess.run([*self.args, "-t"], capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, checked.stderr

    def start(self, port: int) -> Nginx:
        self.check()
        self.process = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.prefix / "error.log").read_text()[-3000:]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise AssertionError("nginx did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def require_nginx() -> None:
    if Path(NGINX).exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"nginx is needed for the reverse-proxy tests and is missing ({NGINX}): install nginx-light")
    pytest.skip("nginx is not installed (Debian: apt-get install nginx-light)")


@pytest.fixture
def behind_nginx(tmp_path, server_cert):
    """``voting serve`` trusting 127.0.0.1 as its proxy, and nginx in front of it."""
    require_nginx()
    data_dir = tmp_path / "data"
    pki = make_pki(data_dir)
    http_port, https_port = free_port(), free_port()
    service = Service(data_dir, public_url=f"https://localhost:{https_port}", forwarded_allow_ips="127.0.0.1")
    cert, key = server_cert
    include = secret_include(tmp_path / "nginx-secret", secrets.token_hex(32))
    site = render(
        SHIPPED.read_text(), http_port=http_port, https_port=https_port, upstream_port=service.port, cert=cert, key=key,
        include=include,
    )
    nginx = Nginx(tmp_path / "nginx", site)
    service.start()
    try:
        nginx.start(https_port)
        yield pki, service, http_port, https_port
    finally:
        nginx.stop()
        service.stop()


def client_from(source: str, base_url: str, cert: Path | None = None) -> httpx.Client:
    """An HTTP client whose connections come from loopback address ``source``."""
    verify = ssl.create_default_context(cafile=str(cert)) if cert else True
    return httpx.Client(base_url=base_url, transport=httpx.HTTPTransport(local_address=source, verify=verify), timeout=30)


def login_attempts(client: httpx.Client, count: int, *, spoof: str | None = None) -> list[int]:
    """Status codes of ``count`` login attempts (a bad token: the limit counts those too),
    each with a different forged X-Forwarded-For when ``spoof`` is given."""
    statuses = []
    for n in range(count):
        headers = {"X-Forwarded-For": f"{spoof}.{n + 1}"} if spoof else {}
        statuses.append(client.post("/api/auth/login", json={"token": "not-a-token"}, headers=headers).status_code)
    return statuses


def limited(statuses: list[int]) -> bool:
    """The first RATE attempts were let through (and refused as bad tokens), every later one answered 429."""
    return all(s != 429 for s in statuses[:RATE]) and all(s == 429 for s in statuses[RATE:])


# --- the tests ----------------------------------------------------------------------------------


def test_shipped_configuration_matches_the_service():
    """Same body limit as the service; the client's X-Forwarded-For is replaced, never appended to."""
    text = SHIPPED.read_text()
    size = re.search(r"client_max_body_size\s+(\d+)([km]?);", text)
    assert size, "client_max_body_size is missing"
    assert int(size[1]) * {"": 1, "k": 1024, "m": 1024 * 1024}[size[2]] == MAX_BODY_BYTES
    assert re.search(r"proxy_set_header\s+X-Forwarded-For\s+\$remote_addr;", text)
    assert "proxy_add_x_forwarded_for" not in text
    assert re.search(r"proxy_set_header\s+X-Forwarded-Proto\s+\$scheme;", text)
    assert re.search(r"ssl_protocols\s+TLSv1\.2 TLSv1\.3;", text)
    for setting in ("client_header_timeout", "client_body_timeout"):
        assert re.search(rf"{setting}\s+\d+s;", text), setting


@pytest.mark.slow
def test_behind_nginx_logins_work_and_the_limit_counts_each_real_client(behind_nginx, server_cert, trusting):
    pki, service, http_port, https_port = behind_nginx
    cert = server_cert[0]
    front = f"https://localhost:{https_port}"

    # A login over HTTPS through nginx (the audience is the public https origin),
    # from an address of its own (it counts towards that address's allowance).
    employee = pki.enroll("E0001")
    with Client(front, transport=httpx.HTTPTransport(local_address="127.0.0.5", verify=tls.client_context())) as client:
        client.login(employee)
        assert client.get("/api/auth/me")["employee_id"] == "E0001"

    # Plain HTTP is only a redirect to HTTPS; the service is told the scheme (its HSTS header).
    with client_from("127.0.0.1", f"http://127.0.0.1:{http_port}") as plain:
        redirect = plain.get("/api/health", headers={"Host": "localhost"})
    assert redirect.status_code == 301
    assert redirect.headers["location"] == "https://localhost/api/health"
    with client_from("127.0.0.1", front, cert) as local:
        assert "max-age" in local.get("/api/health").headers.get("strict-transport-security", "")

    # Two clients: each has its own allowance (the service sees each one's address, not nginx's).
    with client_from("127.0.0.2", front, cert) as a, client_from("127.0.0.3", front, cert) as b:
        assert limited(login_attempts(a, RATE + 2, spoof="10.9.1")), "a forged X-Forwarded-For bypassed the limit"
        assert limited(login_attempts(b, RATE + 1)), "the second client did not get its own allowance"
    # A client on nginx's own address (which the service trusts) cannot forge one either.
    with client_from("127.0.0.1", front, cert) as c:
        assert limited(login_attempts(c, RATE + 2, spoof="10.9.2")), "a forged X-Forwarded-For bypassed the limit"
    # A client that goes round nginx, to the service's port: its header is ignored.
    with client_from("127.0.0.4", service.url) as direct:
        assert limited(login_attempts(direct, RATE + 2, spoof="10.9.3")), "a direct client's X-Forwarded-For was believed"

    # /metrics: only for the monitoring address.
    with client_from("127.0.0.2", front, cert) as outsider, client_from("127.0.0.1", front, cert) as monitoring:
        assert outsider.get("/metrics").status_code == 403
        assert outsider.get("/metrics/").status_code == 403
        assert monitoring.get("/metrics").status_code != 403


def test_without_a_trusted_proxy_a_forwarded_address_is_ignored(tmp_path):
    """The default (VOTING_FORWARDED_ALLOW_IPS unset): the connecting address counts,
    even from 127.0.0.1, which uvicorn's own default would trust."""
    make_pki(tmp_path / "data")
    service = Service(tmp_path / "data").start()
    try:
        with client_from("127.0.0.1", service.url) as client:
            assert limited(login_attempts(client, RATE + 2, spoof="10.9.4")), "a direct client's X-Forwarded-For was believed"
    finally:
        service.stop()


def test_a_malformed_trusted_proxy_list_is_one_line(tmp_path):
    env = {**os.environ, "VOTING_DATA_DIR": str(tmp_path / "data"), "VOTING_FORWARDED_ALLOW_IPS": "127.0.0.1, nginx-host"}
    run = voting_command("serve", env=env)
    assert run.returncode != 0
    assert run.stderr.strip().count("\n") == 0, run.stderr
    assert "VOTING_FORWARDED_ALLOW_IPS" in run.stderr and "'nginx-host'" in run.stderr


# --- the command line over TLS ----------------------------------------------------------------


@pytest.fixture
def tls_service(tmp_path, server_cert):
    """The service itself serving HTTPS with the self-signed certificate, with an
    election created by its administrator."""
    data_dir = tmp_path / "data"
    pki = make_pki(data_dir)
    port = free_port()
    url = f"https://localhost:{port}"
    env = {
        **os.environ,
        "VOTING_DATA_DIR": str(data_dir),
        "VOTING_DATABASE_URL": f"sqlite:///{data_dir / 'voting.sqlite3'}",
        "VOTING_PORT": str(port),
        "VOTING_PUBLIC_URL": url,
        "VOTING_LOGIN_RATE_PER_MINUTE": "0",
    }
    env.pop("VOTING_CACERT", None)
    env.pop("SSL_CERT_FILE", None)
    settings = Settings(data_dir=data_dir, database_url=env["VOTING_DATABASE_URL"], port=port, public_url=url)
    operator.upgrade(settings)
    operator.add_role(settings, ADMIN, "admin")
    cert, key = server_cert
    log = open(data_dir / "server.log", "ab")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "voting.app:create_app", "--host", "127.0.0.1", "--port", str(port),
         "--ssl-certfile", str(cert), "--ssl-keyfile", str(key), "--log-level", "warning"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        context = ssl.create_default_context(cafile=str(cert))
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None and time.monotonic() < deadline, (data_dir / "server.log").read_text()[-3000:]
            try:
                if httpx.get(url + "/api/health", verify=context, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        tls.use_cacert(cert)
        try:
            with Client(url) as admin:
                admin.login(pki.enroll(ADMIN))
                admin.create_election(manifest("tls-survey"), ["T0001", "T0002", "T0003"], 2)
        finally:
            tls.use_cacert(None)
        yield url, env, cert
    finally:
        process.terminate()
        process.wait(15)
        log.close()


@pytest.mark.slow
def test_cli_refuses_an_untrusted_certificate_naming_cacert_and_trusts_the_one_given(tls_service, tmp_path):
    url, env, cert = tls_service
    status = ("election", "status", "tls-survey", "--server", url)

    refused = voting_command(*status, env=env)
    assert refused.returncode == 1
    assert refused.stderr.strip().count("\n") == 0, refused.stderr
    assert f"the TLS certificate of {url} is not trusted" in refused.stderr and "--cacert" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr

    accepted = voting_command(*status, "--cacert", str(cert), env=env)
    assert accepted.returncode == 0, accepted.stderr
    assert "tls-survey" in accepted.stdout
    assert voting_command(*status, env={**env, "VOTING_CACERT": str(cert)}).returncode == 0

    # verify-receipt has its own --server: it takes --cacert too.
    receipt = tmp_path / "receipt.json"
    receipt.write_text('{"election_id": "tls-survey"}')
    refused = voting_command("verify-receipt", str(receipt), "--server", url, env=env)
    assert refused.returncode != 0
    assert refused.stderr.strip().count("\n") == 0, refused.stderr
    assert "--cacert" in refused.stderr, refused.stderr

    missing = voting_command(*status, "--cacert", str(tmp_path / "nowhere.pem"), env=env)
    assert missing.returncode == 2 and "nowhere.pem" in missing.stderr and "Traceback" not in missing.stderr


def test_cli_trusts_the_system_trust_store(tls_service):
    """Without --cacert, what OpenSSL's system store holds is trusted (here pointed
    at the test certificate, as installing the city's CA on the machine would do)."""
    url, env, cert = tls_service
    run = voting_command("election", "status", "tls-survey", "--server", url, env={**env, "SSL_CERT_FILE": str(cert)})
    assert run.returncode == 0, run.stderr
    import truststore

    assert isinstance(tls.client_context(), truststore.SSLContext)


# --- the login limits cannot be bypassed, nor turned against everyone ------------------------------


@pytest.mark.slow
def test_ipv6_clients_of_one_64_share_one_allowance(tmp_path):
    """Behind the proxy, one host with a /64 used to get an allowance per address
    (2^64 of them); IPv4-mapped IPv6 counts as the IPv4 address."""
    make_pki(tmp_path / "data")
    service = Service(tmp_path / "data", forwarded_allow_ips="127.0.0.1").start()
    try:
        with client_from("127.0.0.1", service.url) as proxy:

            def attempts(addresses: list[str]) -> list[int]:
                return [
                    proxy.post("/api/auth/login", json={"token": "x"}, headers={"X-Forwarded-For": a}).status_code
                    for a in addresses
                ]

            assert limited(attempts([f"2001:db8:1:2::{n:x}" for n in range(1, RATE + 3)])), "each address of a /64 had its own allowance"
            # Another /64 has an allowance of its own.
            assert attempts(["2001:db8:1:3::1"]) != [429]
            assert limited(attempts(["::ffff:10.1.2.3"] * 2 + ["10.1.2.3"] * (RATE + 1)))
    finally:
        service.stop()


def test_many_addresses_cannot_use_up_everyones_challenges():
    """The attack: 51 addresses each take their 60 challenges a minute (3060 in
    all); a cap shared by all clients (3000) then refused every employee's login.
    Now only the per-address cap holds."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from voting.auth.service import AuthService
    from voting.errors import TooManyRequests
    from voting.keys import ServerKey

    auth = AuthService(Settings(login_rate_per_minute=30), key=ServerKey(Ed25519PrivateKey.generate()), trust=None)

    for n in range(51):
        for _ in range(60):
            auth.challenge(f"10.77.0.{n + 1}")
    with pytest.raises(TooManyRequests):  # the per-address cap holds
        auth.challenge("10.77.0.1")
    assert "nonce" in auth.challenge("192.0.2.50")  # an employee's first challenge


def test_the_rate_limiter_forgets_idle_addresses(monkeypatch):
    from voting.auth import service as auth

    clock = [1000.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: clock[0])
    limiter = auth.RateLimiter(5)
    for n in range(1000):
        limiter.hit(f"10.0.{n // 256}.{n % 256}")
    assert len(limiter) == 1000
    clock[0] += 61
    limiter.hit("10.9.9.9")
    assert len(limiter) == 1
    assert auth.client_key("2001:db8::1") == auth.client_key("2001:db8::ffff:1") == "2001:db8::/64"
    assert auth.client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert auth.client_key("192.0.2.1") == "192.0.2.1"


def test_forwarded_values_that_are_not_addresses_share_one_allowance(monkeypatch, caplog):
    """The attack: a trusted proxy passing on whatever the client sent ("unknown",
    "1.2.3.4 x", "[v6]", …) gave each distinct string an allowance of its own.
    They now share one "unparseable" key, logged once."""
    import logging

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from voting.auth import service as auth
    from voting.errors import TooManyRequests
    from voting.keys import ServerKey

    monkeypatch.setattr(auth, "_unparseable_logged", False)
    service = auth.AuthService(Settings(login_rate_per_minute=30), key=ServerKey(Ed25519PrivateKey.generate()), trust=None)

    with caplog.at_level(logging.WARNING, logger="voting.auth"):
        for n in range(60):
            service.challenge(f"unknown-{n}")
        with pytest.raises(TooManyRequests):
            service.challenge("1.2.3.4 x")
        assert "nonce" in service.challenge("192.0.2.50")
    assert len([r for r in caplog.records if "not an IP address" in r.getMessage()]) == 1
    assert auth.client_key("[2001:db8::1]") == auth.client_key("unknown") == auth.UNPARSEABLE
