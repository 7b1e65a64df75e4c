"""The session's network guard (tests/network_guard_plugin.py) refuses before a packet leaves, and fails the test.

Only documentation addresses (192.0.2.0/24, RFC 5737) and names that are refused before resolution are used.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import pytest
from network_guard import NetworkBlockedError

OFF_MACHINE = ("192.0.2.1", 80)


def test_connect_off_the_machine_is_refused_before_it_is_sent(request, blocked_connections):
    with socket.socket() as sock:
        with pytest.raises(NetworkBlockedError, match=r"connect 192\.0\.2\.1:80 \(test .*test_connect_off"):
            sock.connect(OFF_MACHINE)
        with pytest.raises(OSError):
            sock.getpeername()  # never connected: the guard refused before the kernel saw the address
        with pytest.raises(NetworkBlockedError):
            sock.connect_ex(OFF_MACHINE)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, pytest.raises(NetworkBlockedError):
        udp.sendto(b"x", OFF_MACHINE)
    attempts = blocked_connections()
    assert [(a.how, a.target, a.pid, a.test) for a in attempts] == [
        (how, "192.0.2.1:80", os.getpid(), request.node.nodeid) for how in ("connect", "connect_ex", "sendto")
    ]


def test_a_udp_socket_may_pick_a_route_but_not_send_off_the_machine(blocked_connections):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        try:
            udp.connect(OFF_MACHINE)  # sends nothing: how vLLM and others learn their own address
        except OSError as exc:  # the kernel's refusal (no route), not the guard's: the send checks need a route
            pytest.skip(f"no route to {OFF_MACHINE[0]} on this machine ({exc})")
        with pytest.raises(NetworkBlockedError, match=r"send 192\.0\.2\.1:80"):
            udp.send(b"x")
        with pytest.raises(NetworkBlockedError, match=r"sendall 192\.0\.2\.1:80"):
            udp.sendall(b"x")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        with pytest.raises(NetworkBlockedError, match="connect huggingface.co:53"):
            udp.connect(("huggingface.co", 53))  # a name would be looked up first
    assert [a.how for a in blocked_connections()] == ["send", "sendall", "connect"]


def test_a_host_name_is_refused_before_it_is_resolved(blocked_connections):
    with pytest.raises(NetworkBlockedError, match="getaddrinfo huggingface.co:443"):
        socket.getaddrinfo("huggingface.co", 443)
    with pytest.raises(NetworkBlockedError, match="create_connection huggingface.co:443"):
        socket.create_connection(("huggingface.co", 443), timeout=1)
    with pytest.raises(NetworkBlockedError, match="connect huggingface.co:443"):
        socket.socket().connect(("huggingface.co", 443))  # connect() would resolve the name itself
    assert [a.how for a in blocked_connections()] == ["getaddrinfo", "create_connection", "connect"]


def test_loopback_stays_open():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        for host in ("127.0.0.1", "localhost"):
            with socket.create_connection((host, port), timeout=5):
                pass
    with socket.socket(socket.AF_UNIX) as unix:
        assert unix.connect_ex("/nonexistent/socket") != 0  # refused by the kernel, not by the guard


def test_a_test_that_swallows_the_refusal_still_fails(pytester):
    pytester.makeconftest('pytest_plugins = ["network_guard_plugin"]')
    pytester.makepyfile(
        textwrap.dedent(
            """
            import socket

            def test_falls_back_quietly():
                try:
                    socket.create_connection(("192.0.2.1", 80), timeout=1)
                except Exception:
                    pass  # what a client with an offline fallback does

            def test_stays_home():
                pass
            """
        )
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*create_connection 192.0.2.1:80 (pid *, test *::test_falls_back_quietly)*"])


def _child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    return {**env, **extra}


def test_a_child_process_is_guarded_too(request, blocked_connections):
    code = "import socket; socket.create_connection(('192.0.2.1', 80), timeout=1)"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert child.returncode != 0 and "NetworkBlockedError" in child.stderr
    [attempt] = blocked_connections()
    assert (attempt.target, attempt.test) == ("192.0.2.1:80", request.node.nodeid) and attempt.pid != os.getpid()


@pytest.mark.slow
def test_a_hub_id_given_to_from_pretrained_is_refused(tmp_path, blocked_connections):
    """What the old grep for 'huggingface.co' could not see: a hub id, online mode, an empty cache."""
    code = "from transformers import AutoConfig; AutoConfig.from_pretrained('Qwen/Qwen2.5-0.5B')"
    env = _child_env(HF_HOME=str(tmp_path / "hf"))
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert child.returncode != 0, child.stdout
    assert {a.target for a in blocked_connections()} == {"huggingface.co:443"}
