"""Readers for the delivery files, so tests can check them without a Docker engine.

- ``read_dockerfile``: the stages of a Dockerfile and, for the default (last) stage, the
  image config it ends with (ENV, ENTRYPOINT, HEALTHCHECK, EXPOSE, USER), following
  ``FROM <stage>`` inside the file the way the builder does.
- ``interpolate``: Compose's variable substitution (``${VAR}``, ``${VAR:-d}``, ``${VAR-d}``,
  ``${VAR:?err}``, ``${VAR?err}``, ``$$``).
- ``read_env_file``: ``KEY=value`` lines, as Compose reads ``.env``.
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

SERVICES = ("embedder", "retriever", "qa", "graph")
ALL_IMAGES = (*SERVICES, "gateway")


def dockerfile_path(name: str) -> Path:
    return ROOT / ("gateway" if name == "gateway" else f"services/{name}") / "Dockerfile"


@dataclass
class Stage:
    name: str | None
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ImageConfig:
    env: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)  # ["CMD", ...] or ["CMD-SHELL", s]
    healthcheck_options: dict[str, str] = field(default_factory=dict)
    expose: list[int] = field(default_factory=list)
    user: str = ""
    workdir: str = "/"
    copies: list[str] = field(default_factory=list)


@dataclass
class Dockerfile:
    path: Path
    args: dict[str, str]  # global ARGs (before the first FROM) with defaults
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        for st in self.stages:
            if st.name == name:
                return st
        raise KeyError(name)

    def config(self, target: str | None = None) -> ImageConfig:
        """The image config of ``target`` (default: the last stage)."""
        stage = self.stages[-1] if target is None else self.stage(target)
        chain = [stage]
        names = {st.name for st in self.stages if st.name}
        while chain[-1].base in names:
            chain.append(self.stage(chain[-1].base))
        cfg = ImageConfig()
        for st in reversed(chain):
            for op, rest in st.instructions:
                _apply(cfg, op, rest)
        return cfg


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    buf = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue  # comment lines inside a continuation are dropped by the builder
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        lines.append(buf)
        buf = ""
    if buf:
        lines.append(buf)
    return lines


def read_dockerfile(path: Path) -> Dockerfile:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in _logical_lines(path.read_text()):
        op, _, rest = line.partition(" ")
        op = op.upper()
        rest = rest.strip()
        if op == "FROM":
            parts = rest.split()
            parts = [p for p in parts if not p.startswith("--")]
            base = _expand(parts[0], args)
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(name, base))
        elif not stages:
            if op == "ARG":
                key, _, default = rest.partition("=")
                args[key] = default
        else:
            stages[-1].instructions.append((op, rest))
    return Dockerfile(path, args, stages)


def _expand(value: str, env: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return env.get(name, "")

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", sub, value)


def _apply(cfg: ImageConfig, op: str, rest: str) -> None:
    if op == "ENV":
        for token in shlex.split(rest):
            key, sep, value = token.partition("=")
            if not sep:
                raise ValueError(f"legacy 'ENV key value' form is not supported: {rest!r}")
            cfg.env[key] = _expand(value, cfg.env)
    elif op == "ENTRYPOINT":
        cfg.entrypoint = _exec_form(rest, op)
    elif op == "HEALTHCHECK":
        opts: dict[str, str] = {}
        tokens = rest.split(" ")
        while tokens and tokens[0].startswith("--"):
            key, _, value = tokens.pop(0)[2:].partition("=")
            opts[key] = value
        body = " ".join(tokens).strip()
        if body.upper() == "NONE":
            cfg.healthcheck = []
            return
        kw, _, cmd = body.partition(" ")
        if kw.upper() != "CMD":
            raise ValueError(f"HEALTHCHECK without CMD: {rest!r}")
        cmd = cmd.strip()
        cfg.healthcheck = (
            ["CMD", *_exec_form(cmd, op)] if cmd.startswith("[") else ["CMD-SHELL", cmd]
        )
        cfg.healthcheck_options = opts
    elif op == "EXPOSE":
        cfg.expose = [int(p.split("/")[0]) for p in rest.split()]
    elif op == "USER":
        cfg.user = rest
    elif op == "WORKDIR":
        cfg.workdir = rest
    elif op == "COPY":
        cfg.copies.append(rest)


def _exec_form(rest: str, op: str) -> list[str]:
    try:
        value = json.loads(rest)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{op} is not in exec (JSON array) form: {rest!r}") from exc
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{op} is not a JSON array of strings: {rest!r}")
    return value


# -- Compose ---------------------------------------------------------------------------------
class MissingRequired(KeyError):
    """A ``${VAR:?message}`` whose variable is unset or empty."""


_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def variables(text: str) -> set[str]:
    """Names of the variables a Compose file interpolates."""
    return {
        m.group("name") or m.group("bare") for m in _VAR.finditer(text) if not m.group("escaped")
    }


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's substitution over a loaded YAML tree (strings only)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        if m.group("escaped"):
            return "$"
        name = m.group("name") or m.group("bare")
        op, arg = m.group("op"), m.group("arg") or ""
        current = env.get(name)
        if op == ":-":
            return current if current else arg
        if op == "-":
            return current if current is not None else arg
        if op in (":?", "?"):
            if current is None or (op == ":?" and not current):
                raise MissingRequired(f"{name}: {arg}")
            return current
        return current or ""

    return _VAR.sub(sub, value)


def read_env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path.name}: not KEY=value: {raw!r}")
        env[key.strip()] = value.strip()
    return env


def environment_dict(value: Any) -> dict[str, str | None]:
    """A service's ``environment`` (mapping or list form) as a dict; None = pass-through."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): None if v is None else str(v) for k, v in value.items()}
    out: dict[str, str | None] = {}
    for item in value:
        key, sep, val = str(item).partition("=")
        out[key] = val if sep else None
    return out


def healthcheck_port(test: list[str] | str) -> int | None:
    """The port a healthcheck command probes (host:port argument or URL)."""
    text = test if isinstance(test, str) else " ".join(test)
    m = re.search(r"(?:127\.0\.0\.1|localhost):(\d+)", text)
    return int(m.group(1)) if m else None


def settings_env_names(name: str) -> set[str]:
    """Every environment variable the service's Settings class reads."""
    module = importlib.import_module(
        "gateway.settings" if name == "gateway" else f"services.{name}.server"
    )
    cls = module.Settings
    prefix = cls.model_config["env_prefix"]
    names: set[str] = set()
    for fname, info in cls.model_fields.items():
        names.add(f"{prefix}{fname}".upper())
        alias = info.validation_alias
        for choice in getattr(alias, "choices", []) or []:
            if isinstance(choice, str):
                names.add(choice.upper())
    return names


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    """One .dockerignore pattern as a regular expression over slash-separated paths."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out.append(pattern[i : end + 1])
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def in_build_context(path: str, dockerignore: Path | None = None) -> bool:
    """Whether ``.dockerignore`` lets ``path`` (relative to the root) into the build context.

    Docker's rules: patterns apply in order and the last one that matches decides; a pattern
    that matches a directory matches everything under it; ``!`` lets a path back in.
    """
    text = (dockerignore or ROOT / ".dockerignore").read_text()
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    included = True
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        regex = _ignore_regex(line.lstrip("!").strip("/"))
        if any(regex.fullmatch(p) for p in prefixes):
            included = negate
    return included
