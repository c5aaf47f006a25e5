"""The network policy: what Probar and Detectar may connect to.

The address half is pure (no sockets); ``test_refused_targets_never_reach_connect`` at the end
runs the real ``diagnose()`` under an audit hook that blocks every ``socket.connect``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emisario.core.errors import InvalidValue
from emisario.core.netpolicy import (
    BLOCKED_NETWORKS,
    NetworkPolicy,
    PolicyRefused,
    SystemResolver,
    embedded_ipv4,
    is_public,
    parse_allow_entry,
)

ROOT = Path(__file__).resolve().parents[2]

BLOCKED = [
    ("127.0.0.1", "loopback"),
    ("127.1.2.3", "loopback-other"),
    ("::1", "loopback-v6"),
    ("10.0.0.1", "private-10"),
    ("10.255.255.254", "private-10-top"),
    ("172.16.0.1", "private-172.16"),
    ("172.31.255.254", "private-172.31"),
    ("192.168.1.1", "private-192.168"),
    ("fc00::1", "unique-local-fc"),
    ("fd12:3456:789a::1", "unique-local-fd"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local-v6"),
    ("fe80::1%eth0", "link-local-v6-scoped"),
    ("100.64.0.1", "cgnat"),
    ("100.127.255.254", "cgnat-top"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast-ssdp"),
    ("ff02::1", "multicast-v6"),
    ("ff0e::1", "multicast-v6-global"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "this-network"),
    ("::", "unspecified-v6"),
    ("169.254.169.254", "cloud-metadata"),
    ("::ffff:127.0.0.1", "mapped-loopback"),
    ("::ffff:10.0.0.1", "mapped-private"),
    ("::ffff:169.254.169.254", "mapped-metadata"),
    ("::127.0.0.1", "compatible-loopback"),
    ("::ffff:0:7f00:1", "translated-loopback"),
    ("64:ff9b::7f00:1", "nat64-loopback"),
    ("64:ff9b::a9fe:a9fe", "nat64-metadata"),
    ("64:ff9b:1::a00:1", "nat64-local-use"),
    ("2002:7f00:1::", "6to4-loopback"),
    ("2002:a9fe:a9fe::1", "6to4-metadata"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "teredo"),
    ("255.255.255.255", "broadcast"),
    ("240.0.0.1", "reserved-240"),
    ("192.0.2.10", "doc-test-net-1"),
    ("198.51.100.10", "doc-test-net-2"),
    ("203.0.113.10", "doc-test-net-3"),
    ("2001:db8::1", "doc-v6"),
    ("3fff::1", "doc-v6-rfc9637"),
    ("198.18.0.1", "benchmarking"),
    ("192.0.0.8", "ietf-protocol"),
    ("192.88.99.1", "6to4-relay-anycast"),
    ("100::1", "discard-v6"),
    ("fec0::1", "site-local-v6"),
    ("4000::1", "unallocated-v6"),
    ("fe00::1", "reserved-v6"),
]
PUBLIC = [
    ("8.8.8.8", "google-dns"),
    ("1.1.1.1", "cloudflare"),
    ("142.250.64.108", "gmail-smtp"),
    ("52.96.0.1", "outlook"),
    ("2607:f8b0:4004:800::200e", "google-v6"),
    ("2a00:1450:4001:80b::2005", "google-v6-eu"),
    ("100.128.0.1", "just-above-cgnat"),
    ("172.32.0.1", "just-above-172.16/12"),
    ("11.0.0.1", "just-above-10/8"),
]


def ids(cases):
    return [case_id for _, case_id in cases]


def addr(text: str):
    return ipaddress.ip_address(text.split("%", 1)[0])


class StubResolver:
    """The resolver protocol of ``netpolicy``: answers chosen addresses, records the calls."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, int]] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if host not in self.answers:
            raise OSError(f"no such host {host}")
        return list(self.answers[host])


# --- addresses -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", [text for text, _ in BLOCKED], ids=ids(BLOCKED))
def test_blocked_forms_are_not_public(text):
    assert not is_public(addr(text))


@pytest.mark.parametrize("text", [text for text, _ in BLOCKED], ids=ids(BLOCKED))
def test_blocked_forms_are_refused_by_the_default_policy(text):
    with pytest.raises(PolicyRefused):
        NetworkPolicy().check_addresses("mail.example.com", [text])


@pytest.mark.parametrize("text", [text for text, _ in PUBLIC], ids=ids(PUBLIC))
def test_public_addresses_pass(text):
    assert is_public(addr(text))
    [checked] = NetworkPolicy().check_addresses("mail.example.com", [text])
    assert checked == addr(text)


@pytest.mark.parametrize(
    ("text", "inner"),
    [
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("::127.0.0.1", "127.0.0.1"),
        ("64:ff9b::7f00:1", "127.0.0.1"),
        ("2002:7f00:1::", "127.0.0.1"),
        ("2002:a9fe:a9fe::1", "169.254.169.254"),
    ],
    ids=["mapped", "compatible", "nat64", "6to4", "6to4-metadata"],
)
def test_embedded_ipv4_is_found(text, inner):
    assert embedded_ipv4(addr(text)) == ipaddress.IPv4Address(inner)


@pytest.mark.parametrize(
    "text", ["8.8.8.8", "::1", "::", "2607:f8b0:4004:800::200e"], ids=["v4", "lo", "any", "v6"]
)
def test_no_embedded_ipv4(text):
    assert embedded_ipv4(addr(text)) is None


def test_one_private_answer_refuses_the_whole_name():
    with pytest.raises(PolicyRefused) as caught:
        NetworkPolicy().check_addresses("rebind.example.com", ["8.8.8.8", "10.0.0.5"])
    assert "10.0.0.5" in caught.value.reason


def test_private_answer_hidden_among_public_ones_is_refused():
    answers = ["8.8.8.8", "2607:f8b0:4004:800::200e", "::ffff:169.254.169.254", "1.1.1.1"]
    with pytest.raises(PolicyRefused):
        NetworkPolicy().check_addresses("mail.example.com", answers)


def test_all_public_answers_are_returned_in_order():
    answers = ["8.8.8.8", "2607:f8b0:4004:800::200e", "1.1.1.1"]
    checked = NetworkPolicy().check_addresses("mail.example.com", answers)
    assert checked == [addr(text) for text in answers]


def test_no_answer_is_refused():
    with pytest.raises(PolicyRefused):
        NetworkPolicy().check_addresses("mail.example.com", [])


@pytest.mark.parametrize(
    "answer", ["not-an-ip", "", "999.1.1.1", "8.8.8.8/32"], ids=["name", "empty", "bad", "cidr"]
)
def test_resolver_garbage_is_refused(answer):
    with pytest.raises(PolicyRefused):
        NetworkPolicy().check_addresses("mail.example.com", ["8.8.8.8", answer])


def test_refusal_text_is_generic_reason_is_specific():
    policy = NetworkPolicy()
    refusals = []
    for target in ("127.0.0.1", "10.0.0.1", "169.254.169.254"):
        with pytest.raises(PolicyRefused) as caught:
            policy.check_addresses("mail.example.com", [target])
        refusals.append(caught.value)
    assert len({refusal.reason for refusal in refusals}) == 3
    assert all(isinstance(refusal.reason, str) and refusal.reason for refusal in refusals)


# --- allow list ----------------------------------------------------------------------------


def test_allowed_network_lets_an_internal_relay_through():
    policy = NetworkPolicy.from_settings(ports=[25], allow=["10.0.0.0/8"])
    assert policy.check_addresses("relay.corp", ["10.1.2.3"]) == [addr("10.1.2.3")]
    with pytest.raises(PolicyRefused):
        policy.check_addresses("relay.corp", ["192.168.1.1"])
    with pytest.raises(PolicyRefused):
        policy.check_addresses("relay.corp", ["127.0.0.1"])


def test_allowed_ipv4_network_allows_its_mapped_ipv6_form():
    policy = NetworkPolicy.from_settings(ports=[25], allow=["10.0.0.0/8"])
    assert policy.check_addresses("relay.corp", ["::ffff:10.1.2.3"])
    with pytest.raises(PolicyRefused):
        policy.check_addresses("relay.corp", ["::ffff:127.0.0.1"])


def test_allowed_single_address():
    policy = NetworkPolicy.from_settings(ports=[25], allow=["192.168.5.10"])
    assert policy.check_addresses("relay.corp", ["192.168.5.10"])
    with pytest.raises(PolicyRefused):
        policy.check_addresses("relay.corp", ["192.168.5.11"])


def test_allowed_ipv6_network():
    policy = NetworkPolicy.from_settings(ports=[25], allow=["fd00:1::/64"])
    assert policy.check_addresses("relay.corp", ["fd00:1::25"])
    with pytest.raises(PolicyRefused):
        policy.check_addresses("relay.corp", ["fd00:2::25"])


def test_allowed_host_name_is_exact():
    policy = NetworkPolicy.from_settings(ports=[25], allow=["Relay.Corp.Example."])
    assert policy.allowed_hosts == frozenset({"relay.corp.example"})
    assert policy.check_addresses("relay.corp.example", ["10.9.9.9"])
    for other in ("other.corp.example", "x.relay.corp.example", "relay.corp.example.evil"):
        with pytest.raises(PolicyRefused):
            policy.check_addresses(other, ["10.9.9.9"])


def test_allow_list_does_not_unblock_the_rest():
    policy = NetworkPolicy.from_settings(ports=[25], allow=["10.0.0.0/8", "relay.corp.example"])
    with pytest.raises(PolicyRefused):
        policy.check_addresses("mail.example.com", ["8.8.8.8", "169.254.169.254"])


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("10.0.0.0/8", ipaddress.ip_network("10.0.0.0/8")),
        (" 10.1.2.3/8 ", ipaddress.ip_network("10.0.0.0/8")),  # host bits are forgiven
        ("192.168.1.1", ipaddress.ip_network("192.168.1.1/32")),
        ("fd00::/8", ipaddress.ip_network("fd00::/8")),
        ("Relay.Example.COM", "relay.example.com"),
        ("relé.example.com", "xn--rel-dma.example.com"),
    ],
    ids=["cidr", "host-bits", "single", "v6", "name", "idna"],
)
def test_parse_allow_entry(entry, expected):
    assert parse_allow_entry(entry) == expected


@pytest.mark.parametrize(
    "entry",
    ["", "   ", "10.0.0.0/33", "bad host", "relay\r\n.corp", "a/b/c", "-bad-.example"],
    ids=["empty", "blank", "bad-prefix", "space", "crlf", "slashes", "hyphens"],
)
def test_bad_allow_entries_are_refused(entry):
    with pytest.raises(InvalidValue) as caught:
        NetworkPolicy.from_settings(ports=[25], allow=[entry])
    assert caught.value.code == "invalid_allow_entry"


# --- ports ---------------------------------------------------------------------------------


def test_default_ports():
    assert NetworkPolicy().allowed_ports == frozenset({25, 465, 587, 2525})


@pytest.mark.parametrize("port", [25, 465, 587, 2525], ids=str)
def test_default_ports_pass(port):
    NetworkPolicy().check_port(port)


@pytest.mark.parametrize("port", [22, 80, 443, 3306, 5432, 6379, 8080, 11211, 1, 65535], ids=str)
def test_other_ports_are_refused(port):
    with pytest.raises(PolicyRefused):
        NetworkPolicy().check_port(port)


def test_ports_from_settings():
    policy = NetworkPolicy.from_settings(ports=["587", 1025], allow=[])
    assert policy.allowed_ports == frozenset({587, 1025})
    policy.check_port(1025)
    with pytest.raises(PolicyRefused):
        policy.check_port(25)


@pytest.mark.parametrize("port", [0, 65536, -1], ids=str)
def test_ports_out_of_range_are_refused_in_settings(port):
    with pytest.raises(InvalidValue) as caught:
        NetworkPolicy.from_settings(ports=[25, port], allow=[])
    assert caught.value.code == "invalid_port"


# --- the resolver --------------------------------------------------------------------------


def test_system_resolver_answers_literals_without_dns():
    answers = asyncio.run(SystemResolver().resolve("127.0.0.1", 25))
    assert answers == ["127.0.0.1"]


def test_stub_resolver_is_a_resolver():
    resolver = StubResolver({"mail.example.com": ["8.8.8.8", "10.0.0.1"]})
    answers = asyncio.run(resolver.resolve("mail.example.com", 587))
    with pytest.raises(PolicyRefused):
        NetworkPolicy().check_addresses("mail.example.com", answers)
    assert resolver.calls == [("mail.example.com", 587)]


# --- properties ----------------------------------------------------------------------------

BLOCKED_V4 = [net for net in BLOCKED_NETWORKS if net.version == 4]


@st.composite
def address_in_blocked_ipv4_network(draw):
    network = draw(st.sampled_from(BLOCKED_V4))
    offset = draw(st.integers(min_value=0, max_value=network.num_addresses - 1))
    return network.network_address + offset


@given(address_in_blocked_ipv4_network())
def test_property_any_ipv4_in_a_blocked_network_is_refused(address):
    with pytest.raises(PolicyRefused):
        NetworkPolicy().check_addresses("mail.example.com", [str(address)])
    # the same address hidden in the IPv6 forms that embed IPv4
    for wrapped in (
        ipaddress.IPv6Address(f"::ffff:{address}"),
        ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) + int(address)),
        ipaddress.IPv6Address((0x2002 << 112) | (int(address) << 80)),
    ):
        assert not is_public(wrapped), wrapped


def python_says_not_public(address) -> bool:
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
    )


any_address = st.one_of(
    st.ip_addresses(v=4),
    st.ip_addresses(v=6),
    st.ip_addresses(v=4).map(lambda a: ipaddress.IPv6Address(f"::ffff:{a}")),
)


@given(any_address)
def test_property_what_python_calls_non_public_is_refused(address):
    if python_says_not_public(address):
        assert not is_public(address)
        with pytest.raises(PolicyRefused):
            NetworkPolicy().check_addresses("mail.example.com", [str(address)])


@given(st.sampled_from([net for net in BLOCKED_NETWORKS if net.version == 6]), st.integers(0))
def test_property_any_ipv6_in_a_blocked_network_is_refused(network, offset):
    address = network.network_address + (offset % network.num_addresses)
    assert not is_public(address)


@given(st.ip_addresses(v=4))
def test_property_allowing_everything_v4_allows_every_v4(address):
    policy = NetworkPolicy.from_settings(ports=[25], allow=["0.0.0.0/0"])
    assert policy.check_addresses("relay.corp", [str(address)])
    assert policy.check_addresses("relay.corp", [f"::ffff:{address}"])


# --- the policy holds before any socket: real diagnose() under an audit hook ---------------

CONNECT_PROBE = textwrap.dedent(
    """
    import asyncio, json, sys

    events = []

    def hook(event, args):
        if event == "socket.connect":
            events.append(repr(args[1]))
            raise RuntimeError("connect blocked by the test audit hook")

    sys.addaudithook(hook)

    from emisario.core.netpolicy import NetworkPolicy
    from emisario.core.smtp.diagnose import diagnose
    from emisario.core.smtp.endpoint import SecurityMode, SmtpEndpoint
    from emisario.core.smtp.steps import Step, StepStatus

    class StubResolver:
        def __init__(self, answers):
            self.answers = answers

        async def resolve(self, host, port):
            return list(self.answers)

    cases = json.loads(sys.argv[1])
    results = []
    for case in cases:
        endpoint = SmtpEndpoint(
            host=case["host"],
            port=case["port"],
            security=SecurityMode.STARTTLS,
            sender="cobranzas@example.com",
        )
        diagnosis = asyncio.run(
            diagnose(
                endpoint,
                recipient="cobranzas@example.com",
                message=None,
                policy=NetworkPolicy(),
                deadline=5.0,
                resolver=StubResolver(case["answers"]),
                local_hostname="erp.example.com",
            )
        )
        failure = diagnosis.failure
        results.append(
            {
                "id": case["id"],
                "failed_step": failure.step.value if failure else None,
                "reply_text": failure.reply_text if failure else None,
                "reply_code": failure.reply_code if failure else None,
                "passed": [r.step.value for r in diagnosis.steps if r.status is StepStatus.PASSED],
            }
        )
    refused_connects = list(events)

    # control: the hook does see (and stop) a connect that is really attempted
    import socket
    try:
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    except RuntimeError:
        pass
    print(json.dumps({"results": results, "connects": refused_connects, "control": events}))
    """
)


def connect_cases() -> list[dict]:
    cases = []
    for text, case_id in BLOCKED:
        if "%" in text:
            continue
        # typed as an IP literal ...
        cases.append({"id": f"literal-{case_id}", "host": text, "port": 587, "answers": [text]})
        # ... and behind a name whose resolver answers a public address first
        cases.append(
            {
                "id": f"name-{case_id}",
                "host": "mail.example.com",
                "port": 587,
                "answers": ["8.8.8.8", text],
            }
        )
    for port in (22, 80, 3306, 6379):
        cases.append(
            {"id": f"port-{port}", "host": "mail.example.com", "port": port, "answers": ["8.8.8.8"]}
        )
    return cases


def test_refused_targets_never_reach_connect():
    from emisario.core.smtp.diagnose import POLICY_REFUSED_TEXT as policy_refused_text

    cases = connect_cases()
    completed = subprocess.run(
        [sys.executable, "-c", CONNECT_PROBE, json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["connects"] == []
    assert len(report["control"]) == 1  # the hook works: it saw the deliberate connect
    results = report["results"]
    assert [result["id"] for result in results] == [case["id"] for case in cases]
    assert {result["failed_step"] for result in results} == {"policy"}
    assert {result["passed"].count("connect") for result in results} == {0}
    texts = {result["reply_text"] for result in results}
    assert len(texts) == 1, texts
    [text] = texts
    assert text == policy_refused_text
    for needle in ("127.", "169.254", "10.0.0.1", "::", "private", "loopback", "allowed ports"):
        assert needle not in text.lower()
