"""Render-time checks of the [hotspot] section that need more than one key or the live uplink.

Each problem is raised as ConfigError naming the key, so `samplepoint hotspot render` refuses a
configuration the radio, the regulator or the network would refuse later, less clearly.
"""
from __future__ import annotations

import ipaddress
import re

from samplepoint.config import ConfigError, HotspotConfig

# Channels usable in Vietnam without radar detection (DFS), which the appliance does not do.
VN_CHANNELS = {"2.4": tuple(range(1, 14)), "5": (36, 40, 44, 48, 149, 153, 157, 161, 165)}
DFS_CHANNELS = (52, 56, 60, 64, 100, 104, 108, 112, 116, 120, 124, 128, 132, 136, 140, 144)
FIRST_HOSTS = 9      # the device's own address must sit below the DHCP range


def ap_network(hotspot: HotspotConfig) -> ipaddress.IPv4Interface:
    try:
        iface = ipaddress.IPv4Interface(hotspot.address)
    except ValueError:
        raise ConfigError(f"hotspot.address = {hotspot.address!r} must be an IPv4 address with a "
                          f"prefix, such as 10.42.0.1/24") from None
    net = iface.network
    if not net.is_private or not 16 <= net.prefixlen <= 28:
        raise ConfigError(f"hotspot.address = {hotspot.address!r} must be in a private network "
                          f"(10/8, 172.16/12, 192.168/16) with a prefix from /16 to /28")
    offset = int(iface.ip) - int(net.network_address)
    if not 1 <= offset <= FIRST_HOSTS:
        raise ConfigError(f"hotspot.address = {hotspot.address!r} must be one of the first "
                          f"{FIRST_HOSTS} addresses of its network (e.g. {net.network_address + 1}"
                          f"/{net.prefixlen}) so DHCP can hand out the rest")
    return iface


def check_channel(hotspot: HotspotConfig) -> None:
    allowed = VN_CHANNELS[hotspot.band]
    if hotspot.channel in allowed:
        return
    why = ("needs radar detection (DFS), which the appliance does not do"
           if hotspot.channel in DFS_CHANNELS else f"is not allowed in Vietnam on {hotspot.band} GHz")
    raise ConfigError(f"hotspot.channel = {hotspot.channel} {why}; use one of "
                      f"{', '.join(map(str, allowed))} (band {hotspot.band})")


def uplink_networks(hotspot: HotspotConfig, detected: list[str]) -> list[ipaddress.IPv4Network]:
    texts = ([hotspot.uplink_subnet] if hotspot.uplink_subnet else []) + list(detected)
    networks = []
    for text in texts:
        try:
            networks.append(ipaddress.IPv4Network(text, strict=False))
        except ValueError:
            raise ConfigError(f"hotspot.uplink_subnet = {text!r} must be an IPv4 network such as "
                              f"192.168.1.0/24") from None
    return networks


def lease_count(iface: ipaddress.IPv4Interface) -> int:
    """Addresses DHCP can hand out: the network minus its first FIRST_HOSTS and the broadcast."""
    return iface.network.num_addresses - FIRST_HOSTS - 2


def check_capacity(hotspot: HotspotConfig, iface: ipaddress.IPv4Interface) -> None:
    leases = lease_count(iface)
    if leases < hotspot.max_clients:
        raise ConfigError(f"hotspot.address = {hotspot.address!r} leaves {leases} addresses for phones "
                          f"but hotspot.max_clients = {hotspot.max_clients}; use a larger network "
                          f"(e.g. /24) or lower max_clients")


def check(hotspot: HotspotConfig, detected_uplink: list[str] = ()) -> ipaddress.IPv4Interface:
    """Raise ConfigError for the first problem; return the AP address when all is well."""
    iface = ap_network(hotspot)
    check_capacity(hotspot, iface)
    check_channel(hotspot)
    if hotspot.portal_port in hotspot.uplink_tcp_ports:
        raise ConfigError(f"hotspot.uplink_tcp_ports opens {hotspot.portal_port}, the portal's port "
                          f"(hotspot.portal_port), to the uplink side; remove it")
    if hotspot.uplink_interface == hotspot.interface:
        raise ConfigError(f"hotspot.uplink_interface = {hotspot.uplink_interface!r} is the AP "
                          f"interface itself; name the Ethernet or 4G interface, or leave it empty")
    for net in uplink_networks(hotspot, list(detected_uplink)):
        if net.overlaps(iface.network):
            raise ConfigError(f"hotspot.address = {hotspot.address!r} overlaps the uplink network "
                              f"{net} (hotspot.uplink_subnet / {hotspot.uplink_interface}); pick "
                              f"another private network such as 10.42.0.1/24 or 172.20.0.1/24")
    name = hotspot.https_name
    if name and not re.fullmatch(r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", name):
        raise ConfigError(f"hotspot.https_name = {name!r} must be a host name such as "
                          f"portal.example.vn, or empty")
    return iface
