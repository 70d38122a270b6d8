"""arconsole: an operator console and active-response engine for Wazuh 4.x and OSSEC."""

__version__ = "0.1.0"
