"""Software bills of materials for the built images (syft, SPDX JSON) and a vulnerability scan when a
vulnerability database is at hand.

syft is a Go program (syft_tool.py finds it, or builds the pinned version while the images build).
An image the same syft has described before (same image ID) is not scanned again: its SPDX document and
summary come from $TODO_RUNBOOK_CACHE/sbom/, and the evidence says so. Otherwise one syft run per image writes
the SPDX document into the run folder (`sbom/<image>.spdx.json`) and syft's
own JSON into a scratch folder: that one carries each package's type and metadata (installed size, a
Python package's RECORD), which the summary (package count by type, the largest packages) is computed from.

The scan runs only when the `vuln_db` parameter names a Grype or Trivy database folder and that scanner is
on PATH; without one it says "not scanned: no vulnerability database" with the commands to get one, and its
criterion is "not applicable". No step here reaches the network: update checks and database updates are off.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import shell
from .config import RunbookConfig, cache_root
from .errors import RunbookError
from .progress import Progress
from .syft_tool import SYFT_VERSION, build_log, can_build, find_syft, install_command, install_syft, syft_dir
from .timing import Timer, iso_now

SBOM_FORMAT = "spdx-json"
SBOM_SUFFIX = ".spdx.json"
SYFT_TIMEOUT_S = 1800
LARGEST = 10
NO_DATABASE = "not scanned: no vulnerability database"
NOT_INSTALLED = "not generated: syft not installed (and no Go toolchain to build it)"
NOT_BUILT = "not generated: syft could not be built"
SEVERITIES = ("critical", "high", "medium", "low", "negligible", "unknown")
# Never ask the network: no self-update check, no database download, no database age refusal.
OFFLINE_ENV = {"SYFT_CHECK_FOR_APP_UPDATE": "false", "GRYPE_CHECK_FOR_APP_UPDATE": "false",
               "GRYPE_DB_AUTO_UPDATE": "false", "GRYPE_DB_VALIDATE_AGE": "false"}
GRYPE_INSTALL = "go install github.com/anchore/grype/cmd/grype@latest"
TRIVY_INSTALL = "go install github.com/aquasecurity/trivy/cmd/trivy@latest"


@dataclass
class PackageSize:
    name: str
    version: str
    type: str
    bytes: int


@dataclass
class ImageSbom:
    component: str
    image: str
    generated: bool
    path: str = ""  # the SPDX document, relative to the run folder
    format: str = ""  # e.g. "SPDX-2.3 JSON"
    package_count: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    largest: list[PackageSize] = field(default_factory=list)  # by the size their metadata records
    unsized: int = 0  # packages whose metadata records no size (not ranked)
    seconds: float = 0.0
    detail: str = ""


@dataclass
class ImageVulnerabilities:
    component: str
    by_severity: dict[str, int] = field(default_factory=dict)
    total: int = 0
    fixable_critical: int = 0  # critical ones with a fixed version available
    worst: list[dict[str, str]] = field(default_factory=list)


@dataclass
class VulnerabilityScan:
    applicable: bool  # a database was configured: then not scanning is a failure to measure
    scanned: bool
    reason: str = ""
    scanner: str = ""
    database: str = ""
    command: str = ""  # what to run by hand (or to get a database)
    images: list[ImageVulnerabilities] = field(default_factory=list)


@dataclass
class SbomResult:
    attempted: bool  # syft was found and there were images to describe
    reason: str = ""  # why not attempted, e.g. NOT_INSTALLED
    tool: str = ""
    install_command: str = ""
    images: list[ImageSbom] = field(default_factory=list)
    scan: VulnerabilityScan = field(default_factory=lambda: VulnerabilityScan(False, False, NO_DATABASE))
    commands: list[dict[str, str]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.attempted and bool(self.images) and all(i.generated and i.package_count for i in self.images)


# -- SBOM generation ---------------------------------------------------------------------------------
def sbom_filename(image: str) -> str:
    """`todo-backend` -> `todo-backend.spdx.json` (a repository path keeps only safe characters)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", image) + SBOM_SUFFIX


def generate(images: Sequence[tuple[str, str]], out_dir: Path | None, config: RunbookConfig,
             progress: Progress = lambda _: None, docker_env: Mapping[str, str] | None = None,
             image_ids: Mapping[str, str] | None = None) -> SbomResult:
    """An SBOM per (component, image ref) into `out_dir`, then the scan when a database is configured.
    `image_ids` (ref -> image ID) lets an image described before reuse its SBOM."""
    # Without SBOMs the scan still says why it did not run: no database, or (with one) no SBOM to scan.
    no_scan = scan([], out_dir or Path("sbom"), config.vuln_db)
    if not config.sbom:
        return SbomResult(False, "not generated: sbom=false", scan=no_scan)
    if out_dir is None:
        return SbomResult(False, "not generated: no run folder to keep it in", scan=no_scan)
    syft = find_syft()
    if syft is None and not can_build():
        return SbomResult(False, NOT_INSTALLED, install_command=install_command(), scan=no_scan)
    if syft is None:  # the build step started its build in the background: wait for it (or build it now)
        progress(f"waiting for syft {SYFT_VERSION} to finish building (log {build_log()})")
        try:
            syft = install_syft()
        except RunbookError as exc:
            return SbomResult(False, f"{NOT_BUILT}: {exc.problem[:300]}", install_command=install_command(),
                              scan=no_scan)
    pinned = f" {SYFT_VERSION}" if syft.parent == syft_dir() else ""
    result = SbomResult(True, tool=f"syft{pinned} ({syft})", install_command=install_command())
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {**OFFLINE_ENV, **(docker_env or {})}
    for component, ref in images:
        image_id = (image_ids or {}).get(ref, "")
        reused = from_cache(syft, image_id, component, ref, out_dir) if image_id else None
        if reused is None:
            progress(f"SBOM of {ref} (syft)")
            image_sbom, command = describe_image(syft, component, ref, out_dir, env)
            if image_id and image_sbom.generated:
                to_cache(syft, image_id, image_sbom, out_dir)
        else:
            image_sbom, command = reused
        result.images.append(image_sbom)
        result.commands.append(shell.recorded(command, f"SBOM of the {component} image (SPDX JSON)"))
        progress(f"SBOM of {ref}: {image_sbom.package_count} packages "
                 f"({', '.join(f'{k} {v}' for k, v in image_sbom.by_type.items())}) {image_sbom.detail}".rstrip())
    result.scan = scan(result.images, out_dir, config.vuln_db, progress)
    if result.scan.scanned:
        result.commands.append(shell.recorded(result.scan.command, "scan the SBOMs for known vulnerabilities"))
    return result


def describe_image(syft: Path, component: str, ref: str, out_dir: Path,
                   env: Mapping[str, str]) -> tuple[ImageSbom, str]:
    """One syft run on the engine's image: the SPDX document kept, syft's JSON summarized then dropped."""
    repository = ref.rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref
    target = out_dir / sbom_filename(repository)
    with tempfile.TemporaryDirectory(prefix="todo-sbom-") as scratch:
        native = Path(scratch) / "syft.json"
        argv = [str(syft), "scan", f"docker:{ref}", "-q", "-o", f"{SBOM_FORMAT}={target}", "-o", f"syft-json={native}"]
        command = f"syft scan docker:{ref} -o {SBOM_FORMAT}={target.parent.name}/{target.name}"
        timer = Timer().start()
        try:
            res = shell.run(argv, env=env, timeout=SYFT_TIMEOUT_S, check=False, mask_output=False)
        except RunbookError as exc:
            return ImageSbom(component, ref, False, detail=exc.problem[-600:]), command
        timer.stop()
        if not res.ok or not native.is_file() or not target.is_file():
            return ImageSbom(component, ref, False, seconds=timer.seconds,
                             detail=f"syft exited with {res.returncode}: {res.tail(6)}"), command
        summary = summarize(json.loads(native.read_text()))
    document = json.loads(target.read_text())
    return ImageSbom(component, ref, True, path=f"{out_dir.name}/{target.name}", format=document_format(document),
                     package_count=summary.package_count, by_type=summary.by_type, largest=summary.largest,
                     unsized=summary.unsized, seconds=round(timer.seconds, 2)), command


def sbom_cache_dir(syft: Path, image_id: str) -> Path:
    """Where the SBOM of one image ID by one syft binary is kept (another syft, another folder)."""
    binary = syft.resolve()
    info = binary.stat()
    tool = hashlib.sha256(f"{binary}:{info.st_size}:{info.st_mtime_ns}".encode()).hexdigest()[:12]
    return cache_root() / "sbom" / tool / re.sub(r"[^A-Za-z0-9]+", "-", image_id)


def to_cache(syft: Path, image_id: str, image: ImageSbom, out_dir: Path) -> None:
    folder = sbom_cache_dir(syft, image_id)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out_dir / Path(image.path).name, folder / "document.spdx.json")
    summary = {"format": image.format, "package_count": image.package_count, "by_type": image.by_type,
               "largest": [vars(p) for p in image.largest], "unsized": image.unsized, "seconds": image.seconds,
               "made_at": iso_now()}
    (folder / "summary.json").write_text(json.dumps(summary, indent=1))


def from_cache(syft: Path, image_id: str, component: str, ref: str,
               out_dir: Path) -> tuple[ImageSbom, str] | None:
    """The SBOM made of this very image (same ID, same syft) by an earlier run, copied into `out_dir`."""
    folder = sbom_cache_dir(syft, image_id)
    try:
        summary = json.loads((folder / "summary.json").read_text())
        repository = ref.rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref
        target = out_dir / sbom_filename(repository)
        shutil.copyfile(folder / "document.spdx.json", target)
    except (OSError, ValueError):
        return None
    command = f"syft scan docker:{ref} -o {SBOM_FORMAT}={target.parent.name}/{target.name}"
    return ImageSbom(component, ref, True, path=f"{out_dir.name}/{target.name}", format=summary["format"],
                     package_count=summary["package_count"], by_type=summary["by_type"],
                     largest=[PackageSize(**p) for p in summary["largest"]], unsized=summary["unsized"],
                     detail=f"reused: syft described this image ID ({image_id[:19]}) at {summary['made_at']}"), command


@dataclass
class PackageSummary:
    package_count: int
    by_type: dict[str, int]
    largest: list[PackageSize]
    unsized: int


def summarize(native: Mapping[str, Any], top: int = LARGEST) -> PackageSummary:
    """Package count by type and the largest packages from syft's JSON document.

    A package's size is what its own metadata records: the installed size of an OS package (dpkg: KiB,
    apk and rpm: bytes) or the sum of the file sizes in a Python package's RECORD. Packages without
    one (e.g. npm packages found by their package.json) are counted but not ranked.
    """
    artifacts = native.get("artifacts") or []
    sizes, unsized = [], 0
    for pkg in artifacts:
        size = package_bytes(pkg)
        if size:
            sizes.append(PackageSize(pkg.get("name", ""), pkg.get("version", ""), pkg.get("type", ""), size))
        else:
            unsized += 1
    by_type = Counter(str(pkg.get("type") or "unknown") for pkg in artifacts)
    sizes.sort(key=lambda p: (-p.bytes, p.name))
    return PackageSummary(len(artifacts), dict(by_type.most_common()), sizes[:top], unsized)


def package_bytes(pkg: Mapping[str, Any]) -> int:
    metadata = pkg.get("metadata") or {}
    installed = metadata.get("installedSize", metadata.get("size"))
    if isinstance(installed, int) and installed > 0:
        return installed * 1024 if pkg.get("type") == "deb" else installed
    recorded = [f.get("size") for f in metadata.get("files") or [] if isinstance(f, Mapping)]
    return sum(int(size) for size in recorded if isinstance(size, int | str) and str(size).isdigit())


def document_format(document: Mapping[str, Any]) -> str:
    """'SPDX-2.3 JSON' / 'CycloneDX 1.6 JSON' from the document itself (not from what was asked for)."""
    if isinstance(document.get("spdxVersion"), str):
        return f"{document['spdxVersion']} JSON"
    if document.get("bomFormat") == "CycloneDX":
        return f"CycloneDX {document.get('specVersion', '?')} JSON"
    return "unknown"


# -- vulnerability scan ------------------------------------------------------------------------------
def how_to_get_database(sbom_path: str) -> str:
    return (f"on a machine with internet: `grype db update` (or `trivy image --download-db-only`), copy its "
            f"database folder here, then rerun with -p vuln_db=<folder>; by hand: "
            f"GRYPE_DB_CACHE_DIR=<folder> GRYPE_DB_AUTO_UPDATE=false grype sbom:{sbom_path}")


def locate_database(vuln_db: str) -> tuple[str, Path] | None:
    """(scanner, the folder the scanner takes as its cache) for a Grype or Trivy database folder."""
    root = Path(vuln_db).expanduser()
    if any(root.glob("*/vulnerability.db")):
        return "grype", root
    if (root / "vulnerability.db").is_file():
        return "grype", root.parent  # the schema folder itself (e.g. .../grype/db/6)
    if (root / "db" / "trivy.db").is_file():
        return "trivy", root
    if (root / "trivy.db").is_file():
        return "trivy", root.parent
    return None


def scan(images: Sequence[ImageSbom], out_dir: Path, vuln_db: str,
         progress: Progress = lambda _: None) -> VulnerabilityScan:
    documents = [i for i in images if i.generated]
    example = documents[0].path if documents else f"{out_dir.name}/<image>{SBOM_SUFFIX}"
    if not vuln_db:
        return VulnerabilityScan(False, False, NO_DATABASE, command=how_to_get_database(example))
    found = locate_database(vuln_db)
    if found is None:
        return VulnerabilityScan(True, False, f"not scanned: {vuln_db} holds no Grype database (<folder>/6/"
                                 "vulnerability.db) and no Trivy database (<folder>/db/trivy.db)",
                                 database=vuln_db, command=how_to_get_database(example))
    scanner, database = found
    binary = shell.which(scanner)
    if binary is None:
        install = GRYPE_INSTALL if scanner == "grype" else TRIVY_INSTALL
        return VulnerabilityScan(True, False, f"not scanned: {scanner} not installed (install: {install})",
                                 scanner=scanner, database=str(database), command=install)
    if not documents:
        return VulnerabilityScan(True, False, "not scanned: no SBOM was generated", scanner, str(database))
    out = VulnerabilityScan(True, True, scanner=scanner, database=str(database))
    for image in documents:
        argv = _scan_argv(scanner, binary, database, out_dir.parent / image.path)
        out.command = shlex.join(argv)
        progress(f"scanning {image.image} with {scanner}")
        try:
            res = shell.run(argv, env=OFFLINE_ENV, timeout=SYFT_TIMEOUT_S, mask_output=False,
                            hint=f"check the database in {database}; rerun by hand: {out.command}")
        except RunbookError as exc:
            return VulnerabilityScan(True, False, f"not scanned: {scanner} failed: {exc.problem[-400:]}",
                                     scanner, str(database), out.command)
        out.images.append(count_vulnerabilities(image.component, scanner, json.loads(res.stdout or "{}")))
    return out


def _scan_argv(scanner: str, binary: str, database: Path, document: Path) -> list[str]:
    if scanner == "grype":
        # Grype takes its database folder from the environment; set here so the argv is complete.
        return ["env", f"GRYPE_DB_CACHE_DIR={database}", binary, f"sbom:{document}", "-o", "json", "-q"]
    return [binary, "sbom", "--cache-dir", str(database), "--skip-db-update", "--offline-scan", "--format", "json",
            "--quiet", str(document)]


def count_vulnerabilities(component: str, scanner: str, report: Mapping[str, Any]) -> ImageVulnerabilities:
    """Severity counts from Grype's JSON (`matches`) or Trivy's (`Results[].Vulnerabilities`)."""
    found: list[tuple[str, str, str, bool]] = []  # id, severity, package, fixable
    if scanner == "grype":
        for match in report.get("matches") or []:
            vuln, artifact = match.get("vulnerability") or {}, match.get("artifact") or {}
            found.append((vuln.get("id", ""), str(vuln.get("severity") or "unknown").lower(),
                          f"{artifact.get('name', '')} {artifact.get('version', '')}",
                          (vuln.get("fix") or {}).get("state") == "fixed"))
    else:
        for target in report.get("Results") or []:
            for vuln in target.get("Vulnerabilities") or []:
                found.append((vuln.get("VulnerabilityID", ""), str(vuln.get("Severity") or "unknown").lower(),
                              f"{vuln.get('PkgName', '')} {vuln.get('InstalledVersion', '')}",
                              bool(vuln.get("FixedVersion"))))
    counts = Counter(sev if sev in SEVERITIES else "unknown" for _, sev, _, _ in found)
    rank = {sev: i for i, sev in enumerate(SEVERITIES)}
    worst = sorted(found, key=lambda f: (rank.get(f[1], len(SEVERITIES)), f[0]))[:LARGEST]
    return ImageVulnerabilities(component, {s: counts[s] for s in SEVERITIES if counts[s]}, len(found),
                                sum(1 for _, sev, _, fixable in found if sev == "critical" and fixable),
                                [{"id": i, "severity": s, "package": p, "fixable": str(f).lower()}
                                 for i, s, p, f in worst])


# -- what the report and the notebook show -----------------------------------------------------------
@dataclass
class SbomOverview:
    status: str  # what was generated with which tool, or why nothing was (with the install command)
    scan: str  # the scan's outcome, or why there was none (with the command to run)
    rows: list[dict[str, str]]  # one per image: image, document (path: "" when none), format, packages, ...


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.0f} kB"


def overview(build: Any, largest: int = 5) -> SbomOverview | None:
    """The SBOM summary of a build result (the step's dataclass or its evidence dict); None without one."""
    from .evidence import to_jsonable

    data = to_jsonable(build) if not isinstance(build, Mapping) else build
    sbom = data.get("sbom")
    if not sbom:
        return None
    if sbom.get("attempted"):
        status = f"SBOMs of {len(sbom.get('images') or [])} images by {sbom.get('tool')}"
    else:
        install = sbom.get("install_command")
        status = str(sbom.get("reason")) + (f" — install: {install}" if install else "")
    rows = []
    for image in sbom.get("images") or []:
        top = "; ".join(f"{p['name']} {p['version']} ({p['type']}) {_megabytes(p['bytes'])}"
                        for p in (image.get("largest") or [])[:largest])
        rows.append({"image": image["image"], "document": image.get("path") or "—", "path": image.get("path") or "",
                     "format": image.get("format") or "—",
                     "packages": str(image.get("package_count", 0)) if image.get("generated") else
                     f"failed: {image.get('detail', '')}",
                     "by type": ", ".join(f"{k} {v}" for k, v in (image.get("by_type") or {}).items()),
                     "largest": top})
    return SbomOverview(status, _scan_line(sbom.get("scan") or {}), rows)


def _scan_line(scan: Mapping[str, Any]) -> str:
    if not scan.get("scanned"):
        return str(scan.get("reason") or NO_DATABASE) + (f" — {scan['command']}" if scan.get("command") else "")
    parts = []
    for image in scan.get("images") or []:
        severities = ", ".join(f"{k} {v}" for k, v in (image.get("by_severity") or {}).items()) or "none found"
        parts.append(f"{image['component']}: {severities} ({image.get('fixable_critical', 0)} critical fixable)")
    return f"scanned with {scan.get('scanner')} ({scan.get('database')}): " + "; ".join(parts)
