"""Alerts whose srcip or dstuser is refused as crafted: counted, and told at most every ten minutes.

Wazuh's analysisd warns for each such alert and skips its responses (spec 6.1: 1271 "Invalid
IP Address '%s'. Possible logging attack." for a srcip, 1272 "Invalid username '%s'. Possible
logging attack." for a dstuser; OSSEC's analysisd the same, for the responses whose command
expects that field). arconsole refuses more forms than those checks (`decision.crafted_ip`:
lenient IPv4 spellings, hosts_access patterns, a leading `-`; in ossec also host names,
`decision.host_name`; `decision.crafted_user`: a leading `-`), and the text is the attacker's:
an alert stream full of them must not flood the log. So each refusal is counted (`status`
refused_crafted_srcip, refused_crafted_dstuser), the first of each field is told as a warning
at once, and then at most one every ten minutes with the running count (the same interval as
the fleet's forged AR log lines: six lines an hour per field at most, and an operator who reads
the log at any time finds the latest sample and the total).
The value is shown with `literal()` and cut to a bounded length.

Only alerts that had a response to skip are counted (Wazuh warns just before it would run one).
"""

from __future__ import annotations

from arconsole.alerts.model import Alert
from arconsole.config.model import Flavour
from arconsole.engine.context import EngineContext
from arconsole.engine.decision import IP_OK, USER_OK, host_pattern, lenient_ipv4
from arconsole.safetext import literal

CRAFTED_TELL_EVERY = 600.0  # seconds between two warnings (the count is kept in between)
_SHOWN_CHARS = 120  # of the attacker's value, in the warning


class CraftedTell:
    """The engine's count of one field's crafted refusals and its rate-limited warning."""

    field = ""  # the alert's field, as the warning and the status name it
    expects = ""  # what an ossec command expects for this field (`<expect>`)

    def __init__(self, context: EngineContext) -> None:
        self._context = context
        self.refused = 0  # alerts whose responses were skipped for this field
        self._told_at = -float("inf")
        # ossec checks per response: one count per alert, known by its identity and alert id
        # (not the Alert itself: kept alive for good, it would hold the attacker's whole line)
        self._last: tuple[int, str] | None = None

    def value(self, alert: Alert) -> str:
        raise NotImplementedError

    def why(self, value: str, ossec: bool) -> str:
        raise NotImplementedError

    def __call__(self, alert: Alert) -> None:
        last = (id(alert), alert.alert_id)
        if last == self._last:
            return
        self._last = last
        self.refused += 1
        now = self._context.clock.now()
        if now < self._told_at + CRAFTED_TELL_EVERY:
            return
        self._told_at = now
        value = self.value(alert)
        config = self._context.config
        ossec = config is not None and config.flavour is Flavour.OSSEC
        self._context.notice(
            "warning",
            f"{self.field} '{shown(value)}' refused as crafted ({self.why(value, ossec)}): "
            f"{f'its responses that expect {self.expects}' if ossec else 'the responses'} of "
            f"alert {literal(alert.alert_id[:64])} (rule "
            f"{literal(alert.rule_id[:16])}) were skipped; {self.refused:,} refused so far "
            f"(status: refused_crafted_{self.field}), told at most every ten minutes")


class CraftedSrcipTell(CraftedTell):
    """Alerts whose responses a crafted srcip stopped (Wazuh's 1271)."""

    field = "srcip"
    expects = "a srcip"

    def value(self, alert: Alert) -> str:
        return alert.srcip or ""

    def why(self, value: str, ossec: bool) -> str:
        return why_crafted(value, ossec)


class CraftedDstuserTell(CraftedTell):
    """Alerts whose responses a crafted dstuser stopped (Wazuh's 1272)."""

    field = "dstuser"
    expects = "a user"

    def value(self, alert: Alert) -> str:
        return alert.dstuser or ""

    def why(self, value: str, ossec: bool) -> str:
        return why_crafted_user(value, ossec)


def shown(value: str) -> str:
    """The attacker's text, safe to print and of bounded length."""
    if len(value) <= _SHOWN_CHARS:
        return literal(value)
    return f"{literal(value[:_SHOWN_CHARS])}... ({len(value):,} characters)"


def why_crafted(srcip: str, ossec: bool = False) -> str:
    """In a few words, which refusal `srcip` met (decision.crafted_ip, or ossec's host name)."""
    if IP_OK(srcip) is None:
        if ossec:  # ossec-hids analysisd.c: the same check, merror(CRAFTED_IP, ...)
            return "characters no address has: ossec-analysisd refuses it too, with a warning"
        return ("characters no address has: Wazuh's analysisd warns 1271 'Invalid IP "
                "Address ... Possible logging attack.' for it too")
    if srcip.startswith("-"):
        return "starts with '-', which a script's tool can read as an option"
    read_as = lenient_ipv4(srcip)
    if read_as is not None:
        return f"not written as an IPv4 address; the scripts and the firewall read {read_as}"
    if host_pattern(srcip):
        return "a hosts_access pattern (a network or a domain), not an address"
    return "a host name, which the firewall would resolve when it blocks"


def why_crafted_user(dstuser: str, ossec: bool = False) -> str:
    """In a few words, which refusal `dstuser` met (decision.crafted_user)."""
    if USER_OK(dstuser) is None:
        if ossec:  # ossec-hids analysisd.c: the same check, merror(CRAFTED_USER, ...)
            return "characters no user name has: ossec-analysisd refuses it too, with a warning"
        return ("characters no user name has: Wazuh's analysisd warns 1272 'Invalid "
                "username ... Possible logging attack.' for it too")
    return "starts with '-', which a script's tool can read as an option"
