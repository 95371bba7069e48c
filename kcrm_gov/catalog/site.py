"""Build or serve the catalog site with mkdocs' Python API (what ``kcrm-gov catalog`` calls).

The project's ``mkdocs.yml`` drives both; the ``kcrm-gov-catalog`` plugin it names generates the
pages. ``build_site`` is strict by default: any mkdocs warning (a broken link, a page missing
from the navigation config...) fails the build, as ``mkdocs build --strict`` does.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import KcrmGovError, Location

MKDOCS_FILE = "mkdocs.yml"


class CatalogError(KcrmGovError):
    """The catalog site could not be built (configuration error, or warnings in strict mode)."""


@dataclass(frozen=True)
class SiteBuild:
    """Where a build wrote the site and how long it took."""

    site_dir: Path
    seconds: float
    pages: int
    warnings: tuple[str, ...] = ()  # run artifacts under .kcrm/ that could not be read (not a strict failure)


def quiet_mkdocs_banner() -> None:
    """Silence mkdocs-material's end-of-life banner (set before mkdocs-material is imported)."""
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")


def _config_file(root: Path) -> Path:
    path = root / MKDOCS_FILE
    if not path.is_file():
        raise CatalogError(f"no {MKDOCS_FILE} in {root}: the catalog is configured there", Location(path))
    return path


def build_site(root: Path, *, site_dir: Path | None = None, strict: bool = True) -> SiteBuild:
    """Build the catalog of the project at ``root`` into ``site_dir`` (default: ``mkdocs.yml``'s)."""
    quiet_mkdocs_banner()
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import Abort, ConfigurationError, PluginError

    config_file = _config_file(root)
    overrides: dict[str, object] = {"strict": strict}
    if site_dir is not None:
        overrides["site_dir"] = str(site_dir.resolve())
    start = time.perf_counter()
    try:
        config = load_config(str(config_file), **overrides)  # type: ignore[arg-type]
        build(config)
    except PluginError as exc:
        raise CatalogError(str(exc), Location(config_file)) from None
    except ConfigurationError as exc:
        raise CatalogError(f"invalid configuration: {exc}", Location(config_file)) from None
    except Abort as exc:
        error = CatalogError(f"the catalog did not build: {exc} (the warnings are printed above)")
        error.exit_code = 1
        raise error from None
    out = Path(config.site_dir)
    pages = sum(1 for _ in out.rglob("index.html"))
    return SiteBuild(site_dir=out, seconds=time.perf_counter() - start, pages=pages,
                     warnings=_artifact_problems(config))


def _artifact_problems(config: object) -> tuple[str, ...]:
    """The unreadable run artifacts the catalog plugin met in this build."""
    from .plugin import CatalogPlugin

    for plugin in getattr(config, "plugins", {}).values():
        if isinstance(plugin, CatalogPlugin) and plugin.data is not None:
            return tuple(plugin.data.artifacts.problems)
    return ()


def serve_site(root: Path, *, dev_addr: str = "127.0.0.1:8000", strict: bool = False,
               open_in_browser: bool = False) -> None:
    """Serve the catalog with live reload (contracts, models and catalog/ are watched too)."""
    quiet_mkdocs_banner()
    from mkdocs.commands.serve import serve
    from mkdocs.exceptions import Abort, ConfigurationError, PluginError

    config_file = _config_file(root)
    try:
        serve(str(config_file), dev_addr=dev_addr, strict=strict, open_in_browser=open_in_browser)
    except (PluginError, ConfigurationError, Abort) as exc:
        raise CatalogError(str(exc), Location(config_file)) from None
