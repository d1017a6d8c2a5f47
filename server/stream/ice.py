"""ICE configuration for aiortc: STUN/TURN servers from settings, and loopback-only candidates.

aioice never offers 127.0.0.1 as a host candidate. On a loopback-only test network (tests,
benchmarks, `stream-file` against a local server) both peers must pair on 127.0.0.1, so
`use_loopback_candidates()` makes this process's aioice offer exactly that; it is process-wide
and only ever switched on by a test, a benchmark or a client talking to a loopback server.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer

from server.errors import InvalidInputError

_LOOPBACK = ["127.0.0.1"]
_original_host_addresses = aioice.ice.get_host_addresses


def _loopback_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return list(_LOOPBACK) if use_ipv4 else []


def use_loopback_candidates(enabled: bool = True) -> None:
    """Offer only 127.0.0.1 host candidates in this process (or restore aioice's choice)."""
    aioice.ice.get_host_addresses = (  # type: ignore[assignment]
        _loopback_addresses if enabled else _original_host_addresses
    )


# stun:host[:port] | turn(s):[user:credential@]host[:port][?transport=udp|tcp]
_ICE_URL = re.compile(
    r"^(stun|stuns|turn|turns):(?:([^:@]+):([^@]+)@)?([^@?]+)(\?transport=(udp|tcp))?$"
)


def ice_server(url: str) -> RTCIceServer:
    """One STUN/TURN server from a settings string; credentials may sit before the host."""
    m = _ICE_URL.match(url.strip())
    if m is None:
        raise InvalidInputError(
            f"ICE server {url!r} is not stun:HOST[:PORT] or turn:[USER:PASS@]HOST[:PORT]"
        )
    scheme, user, password, host, query = m.group(1), m.group(2), m.group(3), m.group(4), m.group(5)
    plain = f"{scheme}:{host}{query or ''}"
    if user is None:
        return RTCIceServer(urls=plain)
    return RTCIceServer(urls=plain, username=unquote(user), credential=unquote(password))


def rtc_configuration(urls: tuple[str, ...]) -> RTCConfiguration:
    """aiortc's configuration for the given servers (none: host candidates only)."""
    return RTCConfiguration(iceServers=[ice_server(u) for u in urls])


def keep_loopback_candidates(sdp: str) -> str:
    """Drop the remote's non-loopback candidates, so checks never leave 127.0.0.0/8."""
    out = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            parts = line.split()
            if len(parts) > 4 and not _is_loopback(parts[4]):
                continue
        out.append(line)
    return "\r\n".join(out) + "\r\n"


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # an mDNS name or garbage: not reachable on a loopback-only network
