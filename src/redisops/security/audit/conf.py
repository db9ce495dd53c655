"""Read redis.conf / sentinel.conf as Redis 7.0 does, with no server running.

A line is split like ``sdssplitargs``: blanks separate arguments, ``"..."``
takes the escapes ``\\n \\r \\t \\b \\a \\\\ \\" \\xHH``, ``'...'`` only ``\\'``, and a
closing quote must be followed by a blank or the end of the line (else Redis
refuses the file: "unbalanced quotes").  Directive names are case-insensitive.
``include`` pulls another file in at that point (a glob, as Redis 7 allows;
relative paths are taken from the including file's directory), and
``aclfile`` users are read when the file is there.

A file is taken for a config when at least half of its directives are ones
Redis 7.0 knows (security/data/redis_directives.txt, the names ``CONFIG GET *``
lists plus the file-only ones: include, user, rename-command, loadmodule,
sentinel); anything else (a YAML file, a binary) is an input error, one line.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from redisops.errors import InputError
from redisops.security.audit.acl import AclUser, default_user, parse_user
from redisops.security.audit.model import Directive, Kind, Layer, Secret, Target

__all__ = ["ConfigFileError", "holds_secret", "load_config", "role_of", "split_args"]

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "a": "\a", "\\": "\\", '"': '"'}
_MAX_INCLUDES = 32


class ConfigFileError(InputError):
    """A file given to the static audit that cannot be read as a Redis config."""

    def __init__(self, path: Path | str, reason: str, hint: str | None = None) -> None:
        self.path = str(path)
        super().__init__(f"{path}: {reason}",
                         hint=hint or "pass redis.conf / sentinel.conf files (`redisops audit --config FILE`)")


class _Unbalanced(ValueError):
    pass


def split_args(line: str) -> list[str]:
    """One config line split into arguments, as Redis's ``sdssplitargs``."""
    args: list[str] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            return args
        current: list[str] = []
        quote = ""
        while i < n:
            ch = line[i]
            if quote == '"':
                if ch == "\\" and i + 3 < n and line[i + 1] == "x" and _is_hex(line[i + 2:i + 4]):
                    current.append(chr(int(line[i + 2:i + 4], 16)))
                    i += 3
                elif ch == "\\" and i + 1 < n:
                    current.append(_ESCAPES.get(line[i + 1], line[i + 1]))
                    i += 1
                elif ch == '"':
                    if i + 1 < n and not line[i + 1].isspace():
                        raise _Unbalanced("closing quote must be followed by a space")
                    i += 1
                    break
                else:
                    current.append(ch)
            elif quote == "'":
                if ch == "\\" and i + 1 < n and line[i + 1] == "'":
                    current.append("'")
                    i += 1
                elif ch == "'":
                    if i + 1 < n and not line[i + 1].isspace():
                        raise _Unbalanced("closing quote must be followed by a space")
                    i += 1
                    break
                else:
                    current.append(ch)
            elif ch.isspace():
                break
            elif ch in "\"'":
                quote = ch
            else:
                current.append(ch)
            i += 1
        else:
            if quote:
                raise _Unbalanced("unbalanced quotes")
        args.append("".join(current))


def _is_hex(text: str) -> bool:
    return len(text) == 2 and all(c in "0123456789abcdefABCDEF" for c in text)


@cache
def known_directives() -> frozenset[str]:
    text = resources.files("redisops.security").joinpath("data/redis_directives.txt").read_text("utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


@dataclass
class _Reader:
    root: Path
    directives: list[Directive]
    files: list[Path]
    depth: int = 0

    def read(self, path: Path) -> None:
        if len(self.files) > _MAX_INCLUDES:
            raise ConfigFileError(self.root, f"more than {_MAX_INCLUDES} included files (an include loop?)")
        text = _read_text(path)
        self.files.append(path)
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            try:
                args = split_args(line)
            except _Unbalanced as exc:
                raise ConfigFileError(path, f"line {number}: {exc}",
                                      hint="Redis refuses this file too; fix the quoting of that line") from None
            if not args:
                continue
            name = args[0].lower()
            if name == "include" and len(args) == 2:
                self._include(path, args[1], number)
                continue
            self.directives.append(Directive(name, tuple(args[1:]), str(path), number))

    def _include(self, parent: Path, pattern: str, number: int) -> None:
        base = Path(pattern) if Path(pattern).is_absolute() else parent.parent / pattern
        matches = sorted(glob.glob(str(base))) if any(c in pattern for c in "*?[") else [str(base)]
        for match in matches:
            target = Path(match)
            if target.exists():
                self.read(target)
            else:  # e.g. a container path of a Compose project: audited without it, said so
                self.directives.append(Directive("include-missing", (str(target),), str(parent), number))


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigFileError(path, "no such file", hint="check the path") from None
    except IsADirectoryError:
        raise ConfigFileError(path, "is a directory") from None
    except PermissionError:
        raise ConfigFileError(path, "permission denied",
                              hint="run the audit as a user that can read it (e.g. sudo, or the redis user)") from None
    except OSError as exc:
        raise ConfigFileError(path, f"cannot read it ({exc.strerror})") from None
    if b"\0" in data:
        raise ConfigFileError(path, "is a binary file, not a Redis config")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def load_config(path: Path) -> Target:
    """The static :class:`Target` of one config file (its includes and aclfile followed)."""
    reader = _Reader(path, [], [])
    reader.read(path)
    directives = reader.directives
    names = [d.name for d in directives if d.name != "include-missing"]
    known = [n for n in names if n in known_directives()]
    if not known or len(known) * 2 < len(names):
        first = next((d for d in directives if d.name not in known_directives()), None)
        where = f" (line {first.line}: {first.name!r})" if first else ""
        raise ConfigFileError(path, f"is not a redis.conf / sentinel.conf: no Redis directives{where}"
                              if not known else f"is not a redis.conf / sentinel.conf: mostly unknown directives"
                              f"{where}")
    kind = Kind.SENTINEL if "sentinel" in names else Kind.REDIS
    users, files = _users(path, directives)
    target = Target(str(path), kind, Layer.STATIC, tuple(directives), tuple(users),
                    files=tuple(reader.files) + tuple(files))
    target.secrets = tuple(_secrets(target))
    target.secret_files = frozenset({d.file for d in directives if d.file and holds_secret(d)}
                                    | {str(f) for f in files})
    return target


def _users(path: Path, directives: list[Directive]) -> tuple[list[AclUser], list[Path]]:
    """Users as the server would hold them: the default user (requirepass), ``user`` lines or the aclfile."""
    base = default_user()
    requirepass = next((d for d in reversed(directives) if d.name == "requirepass"), None)
    if requirepass is not None and requirepass.value:
        base = parse_user("default", ["resetpass", f">{requirepass.value}"], base=base)
    elif requirepass is not None:  # requirepass "" : no password
        base = parse_user("default", ["nopass"], base=base)
    lines: list[tuple[list[str], str, int | None]] = [
        (list(d.args), d.file or str(path), d.line) for d in directives if d.name == "user" and d.args]
    files: list[Path] = []
    aclfile = next((d for d in reversed(directives) if d.name == "aclfile" and d.args), None)
    if aclfile is not None:
        acl_path = Path(aclfile.args[0])
        acl_path = acl_path if acl_path.is_absolute() else path.parent / acl_path
        if acl_path.is_file():
            files.append(acl_path)
            for number, raw in enumerate(_read_text(acl_path).splitlines(), start=1):
                parts = split_args(raw.strip()) if raw.strip() and not raw.strip().startswith("#") else []
                if len(parts) >= 2 and parts[0].lower() == "user":
                    lines.append((parts[1:], str(acl_path), number))
    users: dict[str, AclUser] = {"default": base}
    for args, source, line in lines:
        name, rules = args[0], args[1:]
        if name == "default":  # a `user default` line resets the default user first (ACLLoadConfiguredUsers)
            users[name] = parse_user(name, rules, source=source, line=line)
        else:
            users[name] = parse_user(name, rules, source=source, line=line, base=users.get(name))
    return list(users.values()), files


def holds_secret(d: Directive) -> bool:
    """Does this line carry a password (so its file must not be readable by others)."""
    if d.name in ("requirepass", "masterauth", "tls-key-file-pass", "tls-client-key-file-pass"):
        return bool(d.value)
    if d.name == "user":
        return any(a[:1] in (">", "#") for a in d.args)
    return d.name == "sentinel" and d.args[:1] in (("auth-pass",), ("sentinel-pass",))


#: user names of the monitoring role (redis_exporter's user): the same role on data nodes and sentinels
MONITORING_USERS = ("redisops-exporter", "exporter", "monitor")


def role_of(kind: Kind, user: str) -> str:
    """The role a password serves, by where it is and the user's name (replica*, sentinel*, exporter*):
    ``app``, ``replication``, ``failover`` (a data node's user for Sentinel), ``monitoring``, and ``sentinel``
    (a sentinel's own password)."""
    name = user.lower()
    if name.startswith(MONITORING_USERS):
        return "monitoring"
    if kind is Kind.SENTINEL:
        return "sentinel"
    if name.startswith("repl"):
        return "replication"
    # Sentinel's login to the data nodes, not the sentinels' own password (role "sentinel")
    return "failover" if name.startswith("sentinel") else "app"


def _secrets(target: Target) -> list[Secret]:
    out: list[Secret] = []
    requirepass = target.value("requirepass")
    for user in target.users:
        for plain in user.passwords:
            source = "requirepass" if user.name == "default" and plain == requirepass else f"user {user.name}"
            out.append(Secret.of(role_of(target.kind, user.name), source, plain))
    masterauth = target.value("masterauth")
    if masterauth:
        out.append(Secret.of("replication", "masterauth", masterauth))
    auth_users = {d.args[1]: d.args[2] for d in target.all("sentinel")
                  if len(d.args) == 3 and d.args[0].lower() == "auth-user"}
    for d in target.all("sentinel"):
        if len(d.args) == 3 and d.args[0].lower() == "auth-pass" and d.args[2]:
            # with `auth-user`, the role of that user on the data nodes; without, the default user's password,
            # which applications share
            auth_user = auth_users.get(d.args[1])
            role = role_of(Kind.REDIS, auth_user) if auth_user else "app"
            out.append(Secret.of(role, f"sentinel auth-pass {d.args[1]}", d.args[2]))
    return out
