"""Where the service may send requests of its own (webhooks): never to the machine itself, the
private network or a cloud's metadata service, whatever the URL's form or its name resolves to.

Checked when an endpoint is registered and again before each delivery (a name may resolve
elsewhere by then); deliveries never follow redirects.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], Awaitable[list[str]]]

# Cloud metadata services: refused even where private addresses are allowed.
METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, ...
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("192.0.0.192"),  # Oracle Cloud
}
METADATA_NAMES = {"metadata.google.internal", "metadata", "instance-data"}


class ForbiddenUrl(ValueError):
    pass


async def resolve(host: str) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


# IPv6 prefixes that carry or translate to IPv4 (NAT64, 6to4, Teredo, IPv4-compatible and
# -translated): an address in them may reach any IPv4 host, a private one included.
TRANSITION = (
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("2002::/16"),
    ipaddress.ip_network("2001::/32"),
    ipaddress.ip_network("::/96"),
    ipaddress.ip_network("::ffff:0:0:0/96"),
)


def _plain(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


async def check_url(url: str, allow_private: bool = False, resolver: Resolver = resolve) -> None:
    """Raise ForbiddenUrl unless `url` is http(s) to public addresses only."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port  # a malformed port raises here
    except ValueError as error:
        raise ForbiddenUrl(f"not a valid URL: {error}") from None
    if port == 0:
        raise ForbiddenUrl("not a valid URL: port 0")
    if parts.scheme not in ("http", "https"):
        raise ForbiddenUrl("only http and https URLs can receive webhooks")
    if not host:
        raise ForbiddenUrl("the URL names no host")
    if parts.username or parts.password:
        raise ForbiddenUrl("credentials in the URL are not allowed")
    name = host.rstrip(".").lower()
    if name in METADATA_NAMES:
        raise ForbiddenUrl("cloud metadata services never receive webhooks")
    try:
        found = [name] if _literal(name) else await asyncio.wait_for(resolver(name), 5)
    except (OSError, TimeoutError) as error:
        raise ForbiddenUrl(f"{host} does not resolve: {error!r}") from None
    if not found:
        raise ForbiddenUrl(f"{host} does not resolve")
    for text in found:
        address = _plain(ipaddress.ip_address(text.split("%")[0]))
        if address in METADATA_ADDRESSES:
            raise ForbiddenUrl("cloud metadata services never receive webhooks")
        if address.is_multicast:
            raise ForbiddenUrl(f"{host} is {address}, a multicast address")
        if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
            raise ForbiddenUrl(f"{host} is {address}, a site-local address")
        if isinstance(address, ipaddress.IPv6Address) and any(
            address in network for network in TRANSITION
        ):
            raise ForbiddenUrl(f"{host} is {address}, an IPv6 address that leads to IPv4")
        if not allow_private and not address.is_global:
            raise ForbiddenUrl(
                f"{host} is {address}, a loopback, private, link-local or reserved address"
            )


def _literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
