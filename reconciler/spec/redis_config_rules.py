"""Which ``redis.config`` parameters cannot be managed with ``CONFIG SET`` (pure data).

Used by the spec checks (``validate``: located at the key) and by the plan (the
``redis_config`` provider refuses them, and names the server does not know, with an error).
"""

from __future__ import annotations

#: CONFIG SET refuses these: the server reads them only at start-up (Redis 7.0–7.2, Valkey 8).
RESTART_ONLY = frozenset(
    {
        "aclfile",
        "always-show-logo",
        "bind-source-addr",
        "cluster-config-file",
        "cluster-enabled",
        "cluster-port",
        "daemonize",
        "databases",
        "disable-thp",
        "enable-debug-command",
        "enable-module-command",
        "enable-protected-configs",
        "io-threads",
        "io-threads-do-reads",
        "locale-collate",
        "logfile",
        "pidfile",
        "set-proc-title",
        "supervised",
        "syslog-enabled",
        "syslog-facility",
        "syslog-ident",
        "tcp-backlog",
        "unixsocket",
        "unixsocketgroup",
        "unixsocketperm",
    }
)
#: Changeable only with ``enable-protected-configs`` (off by default, and for good reason).
PROTECTED = frozenset({"dir", "dbfilename", "appenddirname"})
#: Credentials: never through redis.config (they would show in plans).
CREDENTIALS = frozenset({"requirepass", "masterauth", "masteruser", "tls-key-file-pass"})


def config_refusal(name: str) -> str | None:
    """Why a parameter cannot be managed through ``redis.config`` (None: it can)."""
    if any(c in name for c in "*?[]") or name != name.strip() or not name:
        return "a parameter name, not a pattern, is needed"
    if name in RESTART_ONLY:
        return f"{name} cannot be changed with CONFIG SET: it needs a restart of every node"
    if name in PROTECTED:
        return (
            f"{name} is a protected config (enable-protected-configs); set it in the "
            "servers' configuration files"
        )
    if name in CREDENTIALS:
        return (
            f"{name} is a credential: manage users with redis.users and set masteruser/"
            "masterauth in the servers' configuration"
        )
    return None
