"""ACL users: desired vs live on every node (pure).

A user is compared in the form ``ACL GETUSER`` reports it (Redis 7 / Valkey): flags
(``on``/``off``, ``nopass``), the SHA-256 of each password, the command rules string
(``-@all +@read -flushall``), key patterns (``~app:* %R~ro:*``), channel patterns and
selectors. The spec's rules are brought into that form by :func:`canonical_user`, the way
the server folds them (``+@all``/``-@all`` restart the rules; a later rule for the same
command or category replaces the earlier one; ``~*`` means every key), so a user written
as the spec says is no drift. Passwords are never needed in plaintext: the spec's are
hashed where they are read, and ``ACL SETUSER`` is given ``#<sha256>``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from msgspec import Struct, field

from reconciler.providers.redis.replies import reply_text
from reconciler.spec.models import RedisUser

Reply = object


class UserRules(Struct, frozen=True):
    """A user in canonical form (what ``ACL GETUSER`` reports, normalised)."""

    enabled: bool
    nopass: bool
    password_hashes: tuple[str, ...]  # sorted, lower-case hex
    commands: str  # "-@all +@read -flushall"
    keys: tuple[str, ...]  # sorted: "~app:*", "%R~ro:*"
    channels: tuple[str, ...]  # sorted: "&news:*"
    selectors: int = 0  # additional selectors (never in a desired user)

    def setuser_args(self) -> list[str]:
        """``ACL SETUSER name`` arguments that make a user exactly this (after ``reset``)."""
        args = ["reset", "on" if self.enabled else "off"]
        args += ["nopass"] if self.nopass else [f"#{h}" for h in self.password_hashes]
        args += list(self.keys)
        args += list(self.channels) if self.channels else ["resetchannels"]
        args += self.commands.split()
        return args

    def summary(self, passwords: int | None = None) -> str:
        """The rules without password hashes (shown in plans): ``on 2 passwords ~a:* -@all``
        (``passwords``: their count when the hashes are not at hand)."""
        words = ["on" if self.enabled else "off"]
        if self.nopass:
            words.append("nopass")
        else:
            count = len(self.password_hashes) if passwords is None else passwords
            words.append(f"{count} password{'s' if count != 1 else ''}")
        words += list(self.keys) or ["(no keys)"]
        words += list(self.channels) or ["(no channels)"]
        words.append(self.commands)
        if self.selectors:
            words.append(f"+{self.selectors} selector(s)")
        return " ".join(words)


def password_hash(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def fold_commands(rules: Sequence[str]) -> str:
    """Command rules folded as the server does: ``+@all``/``-@all`` (and ``allcommands``/
    ``nocommands``) restart the list; a rule for a command or category already listed
    replaces it (and moves to the end)."""
    base = "-@all"
    kept: list[str] = []
    for raw in rules:
        rule = raw.strip().lower()
        if rule in ("+@all", "allcommands"):
            base, kept = "+@all", []
        elif rule in ("-@all", "nocommands"):
            base, kept = "-@all", []
        elif rule:
            kept = [r for r in kept if r[1:] != rule[1:]] + [rule]
    return " ".join([base, *kept])


def _key_patterns(patterns: Sequence[str]) -> tuple[str, ...]:
    out: set[str] = set()
    for pattern in patterns:
        written = pattern if pattern.startswith(("~", "%")) else f"~{pattern}"
        out.add("~*" if written in ("~*", "allkeys") else written)
    return ("~*",) if "~*" in out else tuple(sorted(out))


def _channel_patterns(patterns: Sequence[str]) -> tuple[str, ...]:
    out = {p if p.startswith("&") else f"&{p}" for p in patterns}
    return ("&*",) if "&*" in out else tuple(sorted(out))


def canonical_user(user: RedisUser, passwords: Sequence[str]) -> UserRules:
    """The spec's user in canonical form; ``passwords`` are its resolved passwords."""
    return UserRules(
        enabled=user.enabled,
        nopass=user.nopass,
        password_hashes=tuple(sorted({password_hash(p) for p in passwords})),
        commands=fold_commands(user.commands),
        keys=_key_patterns(user.keys),
        channels=_channel_patterns(user.channels),
    )


def _words(value: Reply) -> list[str]:
    """A GETUSER field: a list (flags, passwords; Redis 6 keys) or one spaced string."""
    if isinstance(value, list):
        return [reply_text(v) for v in value]
    return reply_text(value).split()


def parse_getuser(reply: Reply) -> UserRules | None:
    """``ACL GETUSER`` (RESP2: flat name/value list) → canonical rules; None: no such user."""
    if not isinstance(reply, list) or not reply:
        return None
    fields = {reply_text(reply[i]): reply[i + 1] for i in range(0, len(reply) - 1, 2)}
    flags = set(_words(fields.get("flags")))
    keys = _words(fields.get("keys"))
    if "allkeys" in flags:
        keys.append("~*")
    channels = _words(fields.get("channels"))
    if "allchannels" in flags:
        channels.append("&*")
    selectors = fields.get("selectors")
    commands = " ".join(_words(fields.get("commands"))).lower()
    return UserRules(
        enabled="on" in flags,
        nopass="nopass" in flags,
        password_hashes=tuple(sorted(h.lower() for h in _words(fields.get("passwords")))),
        commands=fold_commands(commands.split()) if commands else "-@all",
        keys=_key_patterns(keys),
        channels=_channel_patterns(channels),
        selectors=len(selectors) if isinstance(selectors, list) else 0,
    )


# --------------------------------------------------------------------------- commands


class CommandTables(Struct, frozen=True):
    """The server's command categories (``ACL CAT`` and ``ACL CAT <category>``): what a
    command rules string allows is compared as the set of commands it allows, because the
    server rewrites rules as it stores them (``+config`` becomes ``+config|get
    +config|set …``; ``-@dangerous`` after ``+@read`` becomes ``-keys -sort_ro``, in no
    fixed order)."""

    categories: Mapping[str, frozenset[str]]

    @property
    def universe(self) -> frozenset[str]:
        return frozenset().union(*self.categories.values()) if self.categories else frozenset()

    def effective(self, commands: str) -> tuple[bool, frozenset[str]]:
        """(whether commands added later are allowed: ``+@all``, the commands allowed)."""
        universe = self.universe
        future = False
        allowed: set[str] = set()
        for rule in commands.lower().split():
            sign, name = rule[0] == "+", rule[1:]
            if name == "@all":
                future, allowed = sign, set(universe) if sign else set()
                continue
            if name.startswith("@"):
                members: frozenset[str] | set[str] = self.categories.get(name[1:], frozenset())
            else:
                members = {c for c in universe if c == name or c.startswith(name + "|")}
            allowed = allowed | members if sign else allowed - members
        return future, frozenset(allowed)


def same_user(a: UserRules | None, b: UserRules | None, tables: CommandTables | None) -> bool:
    """Whether two users are the same: every field equal, commands by what they allow."""
    if a is None or b is None:
        return a is b
    if tables is None or a.commands == b.commands:
        return a == b
    plain_a = UserRules(a.enabled, a.nopass, a.password_hashes, "", a.keys, a.channels, a.selectors)
    plain_b = UserRules(b.enabled, b.nopass, b.password_hashes, "", b.keys, b.channels, b.selectors)
    return plain_a == plain_b and tables.effective(a.commands) == tables.effective(b.commands)


# --------------------------------------------------------------------------- the diff


class NodeUsers(Struct, frozen=True):
    """What one node reported: user name → rules (every user it has)."""

    name: str  # the node's endpoint name (redis_node.<name>)
    users: Mapping[str, UserRules]


class UserDiff(Struct, frozen=True):
    """One user to write on some nodes (``rules``) or delete from them (``rules`` None)."""

    name: str
    rules: UserRules | None
    nodes: tuple[str, ...]  # node names to write / delete on
    before: Mapping[str, UserRules | None]  # node name → its live rules
    creates: bool  # absent from every node that answered


class UsersDiff(Struct):
    changes: list[UserDiff] = field(default_factory=list)
    unmanaged: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # user, nodes


def diff_users(
    desired: Mapping[str, UserRules],
    nodes: Sequence[NodeUsers],
    *,
    delete_unlisted: bool,
    protected: frozenset[str] = frozenset(),
    tables: CommandTables | None = None,
) -> UsersDiff:
    """Per user: the nodes where it differs from the spec (named), in spec order; users on
    the nodes that the spec does not list (``default`` and ``protected`` ones excepted) are
    deletions when ``delete_unlisted``, else reported as unmanaged."""
    out = UsersDiff()
    for name, rules in desired.items():
        before = {node.name: node.users.get(name) for node in nodes}
        differing = tuple(n for n, live in before.items() if not same_user(live, rules, tables))
        if differing:
            creates = all(live is None for live in before.values())
            out.changes.append(UserDiff(name, rules, differing, before, creates))
    extra = sorted({u for node in nodes for u in node.users} - set(desired) - {"default"})
    for name in extra:
        holders = tuple(node.name for node in nodes if name in node.users)
        if delete_unlisted and name not in protected:
            before = {n.name: n.users.get(name) for n in nodes if n.name in holders}
            out.changes.append(UserDiff(name, None, holders, before, False))
        else:
            out.unmanaged.append((name, holders))
    return out


# --------------------------------------------------------------------------- guards


def allows(commands: str, command: str, categories: Sequence[str]) -> bool:
    """Whether folded command rules allow ``command`` (``acl`` or ``config|set``) whose
    categories are ``categories`` (an approximation of the server's bitmaps: enough to
    tell a user that keeps what the tool needs from one that loses it)."""
    main = command.split("|", 1)[0]
    allowed = False
    for rule in commands.split():
        sign, name = rule[0] == "+", rule[1:]
        if name == "@all":
            allowed = sign
        elif name.startswith("@"):
            if name[1:] in categories:
                allowed = sign
        elif name in (command, main):
            allowed = sign
    return allowed


#: What the tool itself runs, with the categories Redis puts the commands in.
TOOL_COMMANDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("acl", ("admin", "slow", "dangerous")),
    ("config", ("admin", "slow", "dangerous")),
    ("cluster", ("slow",)),
    ("info", ("slow", "dangerous")),
)
REPLICATION_COMMANDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("psync", ("admin", "slow", "dangerous")),
    ("replconf", ("admin", "slow", "dangerous")),
    ("ping", ("fast", "connection")),
)


def lockout_problem(
    rules: UserRules,
    password_sha: str | None,
    needs: Sequence[tuple[str, Sequence[str]]],
    tables: CommandTables | None = None,
) -> str | None:
    """Why ``rules`` would lock out a login that uses the password with SHA-256
    ``password_sha`` (None: no password) and runs ``needs``; None when it would not."""
    if not rules.enabled:
        return "it would be switched off"
    if not rules.nopass and (password_sha is None or password_sha not in rules.password_hashes):
        return "none of its passwords would be the one in use"
    if tables is not None and tables.categories:
        _, allowed = tables.effective(rules.commands)
        lost = [c for c, _ in needs if not any(a == c or a.startswith(c + "|") for a in allowed)]
    else:
        lost = [c for c, cats in needs if not allows(rules.commands, c, cats)]
    if lost:
        return f"it could no longer run {', '.join(lost)}"
    return None
