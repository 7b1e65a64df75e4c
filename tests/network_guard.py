"""Refuse every socket connection that would leave this machine, before a packet is sent.

The test session installs it in-process (tests/network_guard_plugin.py) and in every Python child a test
starts (tests/network_guard_site/sitecustomize.py, found through PYTHONPATH). Allowed: loopback
(127.0.0.0/8, ::1, `localhost`), the unspecified address (0.0.0.0 and :: mean this host when connecting),
Unix sockets and every non-IP family, and connect() of a UDP socket to an IP address: that sends nothing, it
only picks the route (vLLM finds its own address so, "connecting" to 8.8.8.8); sending on it is checked.
Anything else raises `NetworkBlockedError` where it is attempted and
appends one line to the file named by `TUNEBENCH_NETWORK_GUARD_LOG`, so the session fails the test even
when the code under test catches the error and falls back (as huggingface_hub does when offline).

A host name other than `localhost` is refused before it is resolved: resolving it may itself send a DNS
query off the machine. The machine's own host name resolves locally (/etc/hosts), so it may be looked up.

No pytest here: children import this module without it. Python 3.8+ syntax (a child may run another Python).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading

LOG_VAR = "TUNEBENCH_NETWORK_GUARD_LOG"  # the file attempts are appended to: "test<TAB>host:port<TAB>pid<TAB>how"
TEST_VAR = "TUNEBENCH_NETWORK_GUARD_TEST"  # the node id of the test running now (inherited by its children)
ALLOW_VAR = "TUNEBENCH_NETWORK_GUARD_ALLOW"  # "1" while a test marked `network` runs: it may go out
_MARK = "_tunebench_network_guard"
_write_lock = threading.Lock()


class NetworkBlockedError(RuntimeError):
    """A connection off this machine during the tests (not an OSError, so no client retries or falls back)."""


def is_local_host(host: object) -> bool:
    """True for a loopback or unspecified IP literal and for `localhost` (or a name under `.localhost`)."""
    if not isinstance(host, str):
        host = host.decode() if isinstance(host, bytes) else ""
    name = host.strip("[]").split("%", 1)[0].rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    address = mapped or address
    return address.is_loopback or address.is_unspecified


def _may_resolve(host: object) -> bool:
    """A look-up that stays on this machine: no host (binding), an IP literal, localhost or our own name."""
    if host is None or host in ("", b""):
        return True
    text = host.decode() if isinstance(host, bytes) else str(host)
    try:
        ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
        return True
    except ValueError:
        return is_local_host(text) or text.lower() == _OWN_NAME


def refuse(host: object, port: object, how: str) -> None:
    """Record the attempt and raise NetworkBlockedError (unless the running test is marked `network`)."""
    if os.environ.get(ALLOW_VAR) == "1":
        return
    target = f"{host}:{port}"
    test = os.environ.get(TEST_VAR) or "(outside any test)"
    line = "\t".join([test, target, str(os.getpid()), how]).replace("\n", " ")
    log = os.environ.get(LOG_VAR)
    if log:
        with _write_lock, open(log, "a", encoding="utf-8") as out:
            out.write(line + "\n")
    raise NetworkBlockedError(f"network access off this machine refused during tests: {how} {target} (test {test})")


def _check_address(sock: socket.socket, address: object, how: str) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple) and address:
        if not is_local_host(address[0]):
            refuse(address[0], address[1] if len(address) > 1 else "?", how)


def _check_peer(sock: socket.socket, how: str) -> None:
    """A datagram socket connected off the machine may not send (a stream socket never got that far)."""
    if sock.type == socket.SOCK_DGRAM and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            peer = sock.getpeername()
        except OSError:
            return  # not connected: the send fails on its own
        _check_address(sock, peer, how)


def _check_connect(sock: socket.socket, address: object, how: str) -> None:
    if sock.type != socket.SOCK_DGRAM:
        _check_address(sock, address, how)
    elif isinstance(address, tuple) and address and not _may_resolve(address[0]):
        refuse(address[0], address[1] if len(address) > 1 else "?", how)  # a name: connect() would look it up


def install() -> None:
    """Patch the socket module in this process (idempotent)."""
    if getattr(socket.socket.connect, _MARK, False):
        return
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_sendto, real_sendmsg = socket.socket.sendto, socket.socket.sendmsg
    real_send, real_sendall = socket.socket.send, socket.socket.sendall
    real_create_connection, real_getaddrinfo = socket.create_connection, socket.getaddrinfo
    real_gethostbyname, real_gethostbyname_ex = socket.gethostbyname, socket.gethostbyname_ex

    def connect(self, address):
        _check_connect(self, address, "connect")
        return real_connect(self, address)

    def connect_ex(self, address):
        _check_connect(self, address, "connect_ex")
        return real_connect_ex(self, address)

    def send(self, data, *args):
        _check_peer(self, "send")
        return real_send(self, data, *args)

    def sendall(self, data, *args):
        _check_peer(self, "sendall")
        return real_sendall(self, data, *args)

    def sendto(self, data, *args):
        _check_address(self, args[-1] if args else None, "sendto")
        return real_sendto(self, data, *args)

    def sendmsg(self, buffers, *args):
        if len(args) > 2:
            _check_address(self, args[2], "sendmsg")
        else:
            _check_peer(self, "sendmsg")
        return real_sendmsg(self, buffers, *args)

    def create_connection(address, *args, **kwargs):
        if not is_local_host(address[0]):
            refuse(address[0], address[1], "create_connection")
        return real_create_connection(address, *args, **kwargs)

    def getaddrinfo(host, port, *args, **kwargs):
        if not _may_resolve(host):
            refuse(host, port, "getaddrinfo")
        return real_getaddrinfo(host, port, *args, **kwargs)

    def gethostbyname(host):
        if not _may_resolve(host):
            refuse(host, "-", "gethostbyname")
        return real_gethostbyname(host)

    def gethostbyname_ex(host):
        if not _may_resolve(host):
            refuse(host, "-", "gethostbyname_ex")
        return real_gethostbyname_ex(host)

    setattr(connect, _MARK, True)
    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    socket.socket.sendto, socket.socket.sendmsg = sendto, sendmsg
    socket.socket.send, socket.socket.sendall = send, sendall
    socket.create_connection, socket.getaddrinfo = create_connection, getaddrinfo
    socket.gethostbyname, socket.gethostbyname_ex = gethostbyname, gethostbyname_ex


_OWN_NAME = socket.gethostname().lower()
