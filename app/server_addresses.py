"""The servers' addresses as the settings take them: Temporal's host:port and PostgreSQL's URL,
each checked before anything connects, whether one names this machine, and a URL with its
passwords hidden, to print and log.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import parse_qs, unquote_plus, urlsplit, urlunsplit


def on_this_machine(address: str) -> bool:
    """Whether ``host:port`` names this machine (a loopback address, or localhost)."""
    try:
        host = urlsplit(f"//{address}").hostname or ""  # host:port, [v6]:port, or a bare host
    except ValueError:
        host = ""
    if not host and ":" in address:  # a bare IPv6 address, ::1
        host = address
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and 1 <= int(text) <= 65535


def _is_host_and_port(address: str) -> bool:
    """``host:port`` (``[::1]:7233`` too): no scheme, no path, no space."""
    host, _, port = address.rpartition(":")
    return bool(host) and not any(c.isspace() or c == "/" for c in host) and _is_port(port)


def _is_postgres_url(url: str) -> bool:
    """A postgres:// or postgresql:// URL whose hosts' ports, if given, are numbers: asyncpg
    also takes several hosts (``h1:5432,h2:5433``), and a socket directory in ``?host=``."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        return False
    for host in parts.netloc.rpartition("@")[2].split(","):
        port = host.rpartition("]")[2] if host.startswith("[") else host
        if ":" in port and not _is_port(port.rpartition(":")[2]):
            return False
    return True


# The URL parameters asyncpg takes only from a list, and refuses otherwise before it connects
# (ClientConfigurationError), which every command reported as a PostgreSQL "not reachable".
_TLS_VERSIONS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
URL_PARAMETER_CHOICES = {
    "sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "target_session_attrs": ("any", "primary", "standby", "prefer-standby", "read-write", "read-only"),
    "sslnegotiation": ("postgres", "direct"),
    "gsslib": ("gssapi", "sspi"),
    "ssl_min_protocol_version": _TLS_VERSIONS,
    "ssl_max_protocol_version": _TLS_VERSIONS,
}


def _bad_url_parameter(url: str) -> str | None:
    """The sentence refusing a parameter of a PostgreSQL URL that asyncpg would refuse, or None.
    The last of a repeated parameter counts, as for asyncpg; a query it cannot read is refused too."""
    query = urlsplit(url).query
    try:
        given = {name: values[-1] for name, values in parse_qs(query, strict_parsing=True).items()} if query else {}
    except ValueError:
        return f"DATABASE_URL's parameters must be name=value pairs joined by &, not {redact_url(url).partition('?')[2]!r}."
    for name, choices in URL_PARAMETER_CHOICES.items():
        if name in given and given[name] not in choices:
            return f"DATABASE_URL's {name} must be one of {', '.join(choices)}, not {given[name]!r}."
    return None


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe to print and log: the one before the host,
    and those asyncpg also takes as query parameters (``?password=``, and ``?sslpassword=``,
    the client TLS key's)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = netloc.replace(f":{parts.password}@", ":***@", 1)
    query = "&".join(
        f"{name}=***" if (name := unquote_plus(pair.partition("=")[0])) in ("password", "sslpassword") else pair
        for pair in parts.query.split("&")
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))
