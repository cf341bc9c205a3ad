"""Kafka jars from Maven Central, cached across runs, and a Java runtime able to run them.

The jars of ``org.apache.kafka:kafka_2.13`` and ``kafka-tools`` are resolved by Maven from a
small generated pom into ``${LLM_ANALYTICS_CACHE:-~/.cache/llm-analytics}/kafka-<version>/lib``.
Maven runs offline first (fast when ``~/.m2`` already holds everything) and online otherwise.
The logging binding is chosen from the SLF4J API version the chosen Kafka actually brings.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import zipfile
from importlib import resources
from pathlib import Path

from msgspec import Struct

from reconciler.sandbox._process import SandboxError, info

DEFAULT_KAFKA_VERSION = "4.4.0"
_COMPLETE_MARKER = ".complete"


def default_version() -> str:
    """``$KAFKA_VERSION`` or the default Kafka version."""
    return os.environ.get("KAFKA_VERSION") or DEFAULT_KAFKA_VERSION


def cache_root() -> Path:
    """``$LLM_ANALYTICS_CACHE`` or ``~/.cache/llm-analytics``."""
    configured = os.environ.get("LLM_ANALYTICS_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "llm-analytics"


def kafka_major(version: str) -> int:
    """Major version number of a Kafka version string ("4.4.0" -> 4)."""
    match = re.match(r"(\d+)\.", version)
    if not match:
        raise SandboxError(f"not a Kafka version: {version!r}")
    return int(match.group(1))


def uses_log4j2(version: str) -> bool:
    """Kafka 4 logs through Log4j 2; Kafka 3 through Log4j 1 (reload4j)."""
    return kafka_major(version) >= 4


class KafkaDistribution(Struct, frozen=True):
    """Resolved jars of one Kafka version."""

    version: str
    home: Path

    @property
    def lib(self) -> Path:
        return self.home / "lib"

    @property
    def classpath(self) -> str:
        return str(self.lib / "*")


# ----------------------------------------------------------------------------- Maven


def _template(name: str) -> str:
    return resources.files("reconciler.sandbox").joinpath(name).read_text(encoding="utf-8")


def _dependency(group: str, artifact: str, version: str) -> str:
    return (
        "    <dependency>\n"
        f"      <groupId>{group}</groupId>\n"
        f"      <artifactId>{artifact}</artifactId>\n"
        f"      <version>{version}</version>\n"
        "    </dependency>\n"
    )


def _write_pom(path: Path, version: str, extra: str = "") -> None:
    text = _template("pom.xml").replace("@KAFKA_VERSION@", version)
    text = text.replace("    <!-- @LOGGING_DEPENDENCIES@ -->\n", extra)
    path.write_text(text, encoding="utf-8")


def _mvn(home: Path, *goals: str) -> None:
    """Run Maven on ``home/pom.xml``: offline first, then online."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise SandboxError(
            "Maven (mvn) is not installed; it resolves the Kafka jars. "
            "Install it with: apt-get install -y maven"
        )
    base = [mvn, "-B", "-q", "-f", str(home / "pom.xml")]
    offline = subprocess.run([*base, "-o", *goals], capture_output=True, text=True)
    if offline.returncode == 0:
        return
    info(f"resolving Kafka jars from Maven Central into {home} ...")
    online = subprocess.run([*base, *goals], capture_output=True, text=True)
    if online.returncode != 0:
        output = (online.stdout + online.stderr).strip().splitlines()[-40:]
        raise SandboxError("Maven could not resolve the Kafka jars:\n" + "\n".join(output))


def _jar_versions(names: list[str]) -> dict[str, str]:
    """Map artifact -> version for jar file names like ``slf4j-api-1.7.36.jar``."""
    found: dict[str, str] = {}
    for name in names:
        match = re.match(r"(.+?)-(\d[\w.\-]*)\.jar$", Path(name).name)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def _logging_dependencies(version: str, resolved: dict[str, str]) -> str:
    """The SLF4J binding (and backend) matching what this Kafka version brings."""
    slf4j = resolved.get("slf4j-api")
    if slf4j is None:
        raise SandboxError(f"Kafka {version} brings no slf4j-api; cannot choose a logging binding")
    slf4j_major = int(slf4j.split(".")[0])
    if uses_log4j2(version):
        log4j = resolved.get("log4j-core") or resolved.get("log4j-api") or "2.24.3"
        binding = "log4j-slf4j2-impl" if slf4j_major >= 2 else "log4j-slf4j-impl"
        return _dependency("org.apache.logging.log4j", binding, log4j) + _dependency(
            "org.apache.logging.log4j", "log4j-core", log4j
        )
    # Log4j 1 API through reload4j; slf4j-reload4j exists for SLF4J 1.7 and 2.x alike.
    return _dependency("org.slf4j", "slf4j-reload4j", slf4j)


def ensure_kafka(version: str | None = None) -> KafkaDistribution:
    """Resolve (once) and return the jars of Kafka ``version``."""
    version = version or default_version()
    home = cache_root() / f"kafka-{version}"
    dist = KafkaDistribution(version, home)
    if _complete(dist):
        return dist
    home.mkdir(parents=True, exist_ok=True)
    with (home.parent / f"kafka-{version}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be resolving the same version
        if not _complete(dist):
            _resolve(dist)
    return dist


def _complete(dist: KafkaDistribution) -> bool:
    return (dist.home / _COMPLETE_MARKER).exists() and any(dist.lib.glob("kafka_2.13-*.jar"))


def _resolve(dist: KafkaDistribution) -> None:
    home, version = dist.home, dist.version

    # Pass 1: which SLF4J API does this Kafka bring?
    _write_pom(home / "pom.xml", version)
    classpath_file = home / "classpath-base.txt"
    _mvn(home, "dependency:build-classpath", f"-Dmdep.outputFile={classpath_file}")
    base = classpath_file.read_text().strip().split(os.pathsep)
    logging = _logging_dependencies(version, _jar_versions(base))

    # Pass 2: the jars plus a logging binding, copied into lib/.
    _write_pom(home / "pom.xml", version, logging)
    if dist.lib.exists():
        shutil.rmtree(dist.lib)
    _mvn(
        home,
        "dependency:copy-dependencies",
        f"-DoutputDirectory={dist.lib}",
        "-DincludeScope=runtime",
    )
    if not any(dist.lib.glob("kafka_2.13-*.jar")):
        raise SandboxError(f"Maven finished but {dist.lib} holds no kafka_2.13 jar")
    (home / _COMPLETE_MARKER).write_text(version + "\n")


# ----------------------------------------------------------------------------- Java


def required_java(dist: KafkaDistribution) -> int:
    """The lowest Java feature release able to load the Kafka server classes."""
    highest = 52
    for jar in dist.lib.glob("kafka*.jar"):
        try:
            with zipfile.ZipFile(jar) as archive:
                name = next(
                    (
                        n
                        for n in archive.namelist()
                        if n.endswith(".class") and not n.startswith("META-INF/")
                    ),
                    None,
                )
                if name is None:
                    continue
                header = archive.read(name)[:8]
        except (OSError, zipfile.BadZipFile):
            continue
        if header[:4] == b"\xca\xfe\xba\xbe":
            highest = max(highest, int.from_bytes(header[6:8], "big"))
    return highest - 44


def _release_version(java_home: Path) -> int | None:
    try:
        text = (java_home / "release").read_text()
    except OSError:
        return None
    match = re.search(r'^JAVA_VERSION="(\d+)(?:\.(\d+))?', text, re.M)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _probe_version(java: Path) -> int | None:
    try:
        out = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def java_version(java: Path) -> int | None:
    """Feature release of a ``java`` executable (from its ``release`` file, else by running it)."""
    home = java.resolve().parent.parent
    return _release_version(home) or _probe_version(java)


def _default_java() -> Path | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return Path(java_home) / "bin" / "java"
    found = shutil.which("java")
    return Path(found) if found else None


def _installed_javas() -> list[tuple[int, Path]]:
    found: dict[Path, int] = {}
    for root in (Path("/usr/lib/jvm"), Path("/opt/java"), Path("/usr/local/lib/jvm")):
        if not root.is_dir():
            continue
        for home in sorted(root.iterdir()):
            java = home / "bin" / "java"
            if java.exists() and java.resolve() not in found:
                version = java_version(java)
                if version is not None:
                    found[java.resolve()] = version
    return sorted((version, java) for java, version in found.items())


def select_java(dist: KafkaDistribution) -> Path:
    """The default ``java`` when it is new enough, else the oldest installed JDK that is."""
    needed = required_java(dist)
    default = _default_java()
    if default is not None and (java_version(default) or 0) >= needed:
        return default
    for version, java in _installed_javas():
        if version >= needed:
            info(f"Kafka {dist.version} needs Java {needed}+; using Java {version} at {java}")
            return java
    raise SandboxError(
        f"Kafka {dist.version} needs Java {needed} or newer and none is installed "
        f"(default: {default or 'no java on PATH'}). "
        f"Install one, e.g.: apt-get install -y openjdk-{max(needed, 17)}-jre-headless"
    )
