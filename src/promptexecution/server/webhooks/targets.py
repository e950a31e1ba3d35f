"""Where a webhook may go: checked when a batch is submitted and again at every delivery, so a
batch can never make the server probe the network it sits in.

A target is allowed when every address its host resolves to is globally routable: not
loopback, private, link-local, shared (CGNAT, 100.64/10), multicast, reserved or
unspecified, and the same for the IPv4 address inside an IPv4-mapped, NAT64 or 6to4 IPv6
address. Two exceptions: loopback targets, on a server that itself listens only on loopback
(a local app receiving its own callbacks), and whatever `webhook_allow` in server.toml names
(networks such as "10.0.0.0/8", or host names). A delivery connects to the very address that
was checked, so DNS cannot answer differently between the check and the connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # the well-known prefix: IPv4 in the last 32 bits
_SHARED = ipaddress.ip_network("100.64.0.0/10")
# Special-purpose ranges (IANA's registries) that this Python's `is_global` may not know:
# ones registered since, ones deprecated (site-local, the 6to4 relay anycast), and local-use
# NAT64, whose prefix length is the operator's, so the IPv4 address inside cannot be told.
_ALSO_SPECIAL = tuple(ipaddress.ip_network(n) for n in (
    "192.0.0.0/24", "192.88.99.0/24", "fec0::/10", "64:ff9b:1::/48", "3fff::/20", "5f00::/16",
))
RESOLVE_TIMEOUT = 5.0


class TargetRefused(ValueError):
    """The reason a URL may not receive webhooks, in words a user can act on."""


class Unresolved(TargetRefused):
    """The host has no address now (it may have one at delivery)."""


@dataclass(frozen=True)
class Target:
    """A checked target: the URL's parts and the addresses it may be delivered to."""

    url: SplitResult
    host: str
    port: int
    addresses: tuple[IPAddress, ...]

    def url_for(self, address: IPAddress) -> str:
        """The URL with the host replaced by `address`, to connect there and nowhere else."""
        shown = f"[{address}]" if address.version == 6 else str(address)
        path = self.url.path or "/"
        query = f"?{self.url.query}" if self.url.query else ""
        return f"{self.url.scheme}://{shown}:{self.port}{path}{query}"

    @property
    def host_header(self) -> str:
        default = 443 if self.url.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if address.version == 4:
        return None
    assert isinstance(address, ipaddress.IPv6Address)
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _special(address: IPAddress) -> str | None:
    """What makes `address` no place for a webhook, or None when it is globally routable."""
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (cloud metadata services live there)"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.version == 4 and address in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if any(address in net for net in _ALSO_SPECIAL if net.version == address.version):
        return "a special-purpose address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "a special-purpose address"
    return None


@dataclass(frozen=True)
class TargetPolicy:
    loopback_server: bool
    allowed_networks: tuple[IPNetwork, ...] = ()
    allowed_hosts: frozenset[str] = frozenset()

    @classmethod
    def build(cls, bind_host: str, allow: Iterable[str]) -> TargetPolicy:
        networks, hosts = [], set()
        for entry in allow:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(is_loopback_host(bind_host), tuple(networks), frozenset(hosts))

    def parse(self, url: str) -> tuple[SplitResult, str]:
        """The URL's parts and its host in ASCII (IDNA), or TargetRefused."""
        if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
            raise TargetRefused("it contains spaces or control characters")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise TargetRefused(f"it is not a valid URL ({exc})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TargetRefused("it is not an http(s) URL with a host")
        try:
            host = parts.hostname.encode("idna").decode("ascii")
        except UnicodeError:
            raise TargetRefused(f"{parts.hostname} is not a valid host name") from None
        if port == 0:
            raise TargetRefused("port 0 is not a port one can deliver to")
        if parts.username is not None or parts.password is not None:
            raise TargetRefused("credentials in the URL would be sent in the clear to logs; "
                                "put a secret in the path or verify the signature instead")
        return parts, host

    def refusal(self, host: str, address: IPAddress) -> str | None:
        if host.lower().rstrip(".") in self.allowed_hosts:
            return None
        # An IPv6 address that carries an IPv4 one (mapped, NAT64, 6to4) goes where that does.
        judged = _embedded_ipv4(address) or address
        if any(judged in net or address in net for net in self.allowed_networks):
            return None
        why = _special(judged)
        if why is None or (judged.is_loopback and self.loopback_server):
            return None
        shown = f"{address} (that is {judged})" if judged != address else str(address)
        what = host if host.strip("[]") == str(address) else f"{host} ({shown})"
        return f"{what} is {why}; add it to webhook_allow in server.toml to deliver there"

    async def check_at_submit(self, url: str) -> None:
        """Refuses a URL that is malformed or names a refused address; a host that does not
        resolve yet is accepted (the deliveries will say what happened)."""
        try:
            await self.check(url)
        except Unresolved:
            pass

    async def check(self, url: str) -> Target:
        """Resolves the URL's host and checks every address; raises TargetRefused."""
        parts, host = self.parse(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = await resolve(host, port)
        for address in addresses:
            why = self.refusal(host, address)
            if why is not None:
                raise TargetRefused(why)
        return Target(parts, host, port, addresses)


async def resolve(host: str, port: int) -> tuple[IPAddress, ...]:
    """Every address `host` resolves to (numeric forms such as 2130706433 included)."""
    try:
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM),
            RESOLVE_TIMEOUT,
        )
    except TimeoutError:
        raise Unresolved(f"{host} did not resolve within {RESOLVE_TIMEOUT:g} s") from None
    except OSError as exc:
        raise Unresolved(f"{host} does not resolve ({exc.strerror or exc})") from None
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in found:
            found.append(address)
    if not found:
        raise Unresolved(f"{host} resolves to no address")
    return tuple(found)


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
