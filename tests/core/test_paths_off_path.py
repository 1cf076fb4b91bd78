"""A cluster event's read of only the firewalls its VNets can reach (docs/platform-notes.md 13.3): configured
firewalls shown off every path of the pass (`Snapshot.off_path_firewalls`) are neither missing nor a choice; the
spoke peering of a Virtual WAN hub connection is not called a VNet peering; which SPOKE_PREFIXES entries need
every hub. Pure, table-driven."""

from __future__ import annotations

import dataclasses

import pytest

from remediation.core.model import ObservedPeering
from remediation.planning import paths
from tests.core import factories as f
from tests.core.test_paths_several import FW2, HUB2, SEVERAL, SPOKE2, estate

HV = ("/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/RG_vhub-weu_0a1b/providers/"
      "Microsoft.Network/virtualNetworks/HV_vhub-weu_9c8d")


def test_a_firewall_off_every_path_is_not_missing_and_not_a_choice() -> None:
    only_mine = dataclasses.replace(estate(), firewalls=(f.firewall(),), off_path_firewalls=frozenset({FW2.lower()}))
    assert paths.missing_firewalls(only_mine, SEVERAL) == ()
    result = paths.firewall_for_vnet(only_mine, f.VNET, SEVERAL)
    assert isinstance(result, paths.Reaches) and result.firewall.id == f.FIREWALL


def test_without_the_off_path_mark_an_unread_firewall_is_still_missing() -> None:
    unread = dataclasses.replace(estate(), firewalls=(f.firewall(),))
    assert paths.missing_firewalls(unread, SEVERAL) == (FW2,)
    assert isinstance(paths.firewall_for_vnet(unread, f.VNET, SEVERAL), paths.Unreachable)


def test_every_firewall_off_path_leaves_the_vnet_unreachable_with_what_it_is_connected_to() -> None:
    snap = dataclasses.replace(estate(), firewall=None, firewalls=(),
                               off_path_firewalls=frozenset({f.FIREWALL.lower(), FW2.lower()}))
    result = paths.firewall_for_vnet(snap, SPOKE2, SEVERAL)
    assert isinstance(result, paths.Unreachable) and "connected only to VNet hub-eastus" in result.reason


def _side(name: str, remote: str) -> ObservedPeering:
    return dataclasses.replace(f.peering(f.VNET, remote), name=name)


@pytest.mark.parametrize(("name", "remote", "expected"), [
    ("RemoteVnetToHubPeering_6d0e4669-bbb6-573b-a990-35bf9dfc0665", HV, True),
    ("remotevnettohubpeering_6d0e4669", HV.lower(), True),
    ("RemoteVnetToHubPeering_6d0e4669", HUB2, False),  # the name alone is not enough
    ("to-hub", HV, False),  # nor the remote's name alone
])
def test_a_hub_connection_peering_is_known_by_its_name_and_its_remote(name: str, remote: str, expected: bool) -> None:
    assert paths.is_hub_connection_peering(_side(name, remote)) is expected


def test_a_hub_connection_peering_is_not_named_as_a_vnet_peering_in_a_reason() -> None:
    spoke = f.vnet(f.VNET, _side("RemoteVnetToHubPeering_6d0e4669", HV))
    snap = dataclasses.replace(estate(), vnets={**estate().vnets, f.VNET.lower(): spoke})
    result = paths.firewall_for_vnet(snap, f.VNET, SEVERAL)
    assert isinstance(result, paths.Unreachable)
    assert "has no peering and no hub connection to a configured firewall" in result.reason, result.reason


@pytest.mark.parametrize(("entries", "held"), [
    ((), False),
    (("10.200.0.0/16",), False),  # nobody's
    (("10.60.0.0/16",), True),  # spoke-eastus's, on hub-eastus
    (("10.0.0.0/8",), True),  # spans both hubs' spokes
])
def test_spoke_prefixes_held_by_a_spoke_of_an_observed_hub(entries: tuple[str, ...], held: bool) -> None:
    assert paths.spoke_prefixes_held(estate(), dataclasses.replace(SEVERAL, spoke_prefixes=entries)) is held
