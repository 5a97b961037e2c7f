"""Where a webhook may send (issue 16, point 4): the pure classification of hosts and addresses in
`riskgate.domain.integrations`, and the checks a webhook URL gets when it is saved. No network: a name is
judged as written (what it resolves to is judged when sending, tests/integration/test_channels.py)."""

from __future__ import annotations

import ipaddress

import pytest

from riskgate.domain.errors import InvalidInput
from riskgate.domain.integrations import (
    address_refusal,
    host_refusal,
    is_local_sink,
    numeric_host,
    revise_integration,
    validate_integration,
)
from riskgate.domain.response_policies import integration_serves
from riskgate.settings import _local_sinks

# The examples, and the rest of each family: every one must be refused when saved.
INTERNAL_URLS = [
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.5",
    "https://[::1]/",
    "https://0x7f000001/",
    "https://2130706433/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://0177.0.0.1/",
    "https://127.1/",
    "https://127.0.0.1:8443/",
    "https://localhost/",
    "https://LOCALHOST./",
    "https://api.localhost/",
    "https://metadata/",
    "https://instance-data/latest/",
    "https://instance-data.ec2.internal/",
    "https://172.16.0.1/",
    "https://192.168.1.10/",
    "https://100.64.0.1/",
    "https://100.100.100.200/",  # a cloud's metadata in the shared address space
    "https://0.0.0.0/",
    "https://0/",
    "https://[::]/",
    "https://[fe80::1]/",
    "https://[fe80::1%25eth0]/",
    "https://[fd00:ec2::254]/",  # the IPv6 instance metadata address: unique local
    "https://[fc00::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:169.254.169.254]/",
    "https://[::ffff:a00:5]/",
    "https://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
    "https://[2002:a00:1::]/",  # 6to4 of 10.0.0.1
    "https://[::127.0.0.1]/",  # IPv4-compatible, deprecated
    "https://224.0.0.1/",
    "https://[ff02::1]/",
    "https://240.0.0.1/",
    "https://255.255.255.255/",
    "https://192.0.2.1/",
    "https://1.2.3.999/",  # ends in a number, yet no address
    "https://08.0.0.1/",
    "https://intranet/",  # one label: the resolver's search domains decide
]


@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_an_internal_destination_is_refused_when_saved_naming_config_url(url: str) -> None:
    with pytest.raises(InvalidInput) as error:
        validate_integration("webhook", {"url": url})
    (detail,) = error.value.details
    assert detail == {"field": "config.url"}
    assert error.value.message.startswith("config.url must name a public host: ")


@pytest.mark.parametrize("url", INTERNAL_URLS[:8])
def test_a_patch_cannot_bring_an_internal_destination_either(url: str) -> None:
    current = {"url": "https://hooks.example.com/x", "preset": "generic", "rate_limit_per_minute": 60}
    with pytest.raises(InvalidInput) as error:
        revise_integration("webhook", current, {"url": url}, has_secret=False)
    assert error.value.details == [{"field": "config.url"}]


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/riskgate",
        "https://hooks.slack.com/services/T000/B000/XXXX",
        "https://8.8.8.8/hook",
        "https://[2606:4700:4700::1111]/hook",
        "https://[64:ff9b::808:808]/hook",  # NAT64 of a public address
        "https://172.32.0.1/",  # just outside 172.16/12
        "https://bücher.example/hook",
        "https://hooks.example.com./trailing-dot",
    ],
)
def test_a_public_destination_is_accepted(url: str) -> None:
    public, _ = validate_integration("webhook", {"url": url})
    assert public["url"] == url


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("169.254.169.254", "169.254.169.254"),
        ("::1", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
    ],
)
def test_numeric_hosts_are_read_as_a_resolver_reads_them(host: str, address: str) -> None:
    assert numeric_host(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["example.com", "dead.beef", "hooks.example.com", "a-1.example"])
def test_names_are_not_numbers(host: str) -> None:
    assert numeric_host(host) is None


@pytest.mark.parametrize("host", ["1.2.3.999", "08.0.0.1", "0x", "1..2", "1.2.3.4.5"])
def test_a_host_ending_in_a_number_must_be_an_address(host: str) -> None:
    with pytest.raises(ValueError, match="is not an IPv4 address"):
        numeric_host(host)


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("0x7f000001", "a loopback address (127.0.0.1)"),
        ("2130706433", "a loopback address (127.0.0.1)"),
        ("127.0.0.1", "a loopback address"),
        ("169.254.169.254", "a link-local address"),
        ("10.0.0.5", "a private address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("fd00::1", "a unique local address"),
        ("::", "the unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("::ffff:10.0.0.5", "a private address (10.0.0.5)"),
        ("metadata.google.internal", "an internal name"),
        ("localhost", "an internal name"),
        ("intranet", "a single-label name (resolved through the resolver's search domains)"),
        ("a b.example", "not a valid host name"),
        ("1.2.3.4 x", "not a valid host name"),  # what inet_aton would read as 1.2.3.4
        ("-bad.example", "not a valid host name"),
        ("hooks.example.com", None),
        ("8.8.8.8", None),
    ],
)
def test_host_refusal_says_why(host: str, reason: str | None) -> None:
    assert host_refusal(host) == reason


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.216.34", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.53", False),
        ("169.254.170.2", False),  # the ECS task metadata / credentials endpoint
        ("fe80::a9fe:a9fe", False),
        ("fd00:ec2::254", False),
        ("10.1.2.3", False),
        ("172.31.255.255", False),
        ("192.168.0.1", False),
        ("100.127.255.255", False),
        ("::ffff:192.168.0.1", False),
        ("64:ff9b::7f00:1", False),
        ("2002:c0a8:1::", False),
        ("2001::1", False),  # Teredo
        ("ff05::2", False),
        ("fec0::1", False),  # site-local, deprecated
        ("198.18.0.1", False),  # benchmarking
    ],
)
def test_resolved_addresses_are_judged_the_same_way(address: str, allowed: bool) -> None:
    assert (address_refusal(ipaddress.ip_address(address)) is None) is allowed


def test_the_local_sink_is_allowed_by_its_exact_base_url_only() -> None:
    sinks = frozenset({"http://127.0.0.1:8025"})
    public, _ = validate_integration("webhook", {"url": "http://127.0.0.1:8025/hooks/x"}, local_sinks=sinks)
    assert public["url"] == "http://127.0.0.1:8025/hooks/x"
    for other in (
        "http://127.0.0.1:8026/hooks/x",  # another local port
        "https://127.0.0.1:8025/hooks/x",  # another scheme
        "http://localhost:8025/hooks/x",  # another spelling of the host
        "http://2130706433:8025/hooks/x",
        "http://169.254.169.254/latest/meta-data/",
    ):
        with pytest.raises(InvalidInput) as error:
            validate_integration("webhook", {"url": other}, local_sinks=sinks)
        assert error.value.details == [{"field": "config.url"}], other
    assert is_local_sink("http://127.0.0.1:8025", sinks)
    assert not is_local_sink("http://127.0.0.1", sinks)
    assert not is_local_sink("not a url", sinks)
    # Off by default: nothing loopback is allowed.
    with pytest.raises(InvalidInput):
        validate_integration("webhook", {"url": "http://127.0.0.1:8025/hooks/x"})


@pytest.mark.parametrize(
    "setting",
    [
        "http://10.0.0.5:8025",  # not loopback
        "http://localhost:8025",  # a name: could resolve anywhere
        "http://127.0.0.1",  # no port: every service on port 80
        "https://127.0.0.1:8025",
        "http://127.0.0.1:8025/path",
        "http://user@127.0.0.1:8025",
        "http://127.0.0.1:99999",
    ],
)
def test_the_local_sink_setting_accepts_only_a_loopback_address_and_port(setting: str) -> None:
    with pytest.raises(ValueError, match="RISKGATE_WEBHOOK_LOCAL_SINKS"):
        _local_sinks(setting)


def test_the_local_sink_setting_reads_base_urls() -> None:
    assert _local_sinks("") == frozenset()
    assert _local_sinks("http://127.0.0.1:8025/, http://[::1]:9000") == frozenset(
        {"http://127.0.0.1:8025", "http://[::1]:9000"}
    )


@pytest.mark.parametrize(
    ("integration_scope", "policy_scope", "serves"),
    [
        ("global", "global", True),
        ("global", "scp-a", True),
        ("scp-a", "scp-a", True),
        ("scp-a", "scp-b", False),
        ("scp-a", "global", False),
    ],
)
def test_an_integration_serves_the_policies_of_its_scope_or_all_when_global(
    integration_scope: str, policy_scope: str, serves: bool
) -> None:
    assert integration_serves(integration_scope, policy_scope) is serves
