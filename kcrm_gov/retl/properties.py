"""The destination property lists shipped in the repo: what fields a destination object has.

One YAML file per destination object, ``catalog/destinations/<system>/<object>.yml``::

    system: hubspot
    object: companies
    description: HubSpot company properties of the K CRM portal (GET /crm/v3/properties/companies)
    properties:
      - {name: hs_object_id, type: number, readOnly: true, unique: true}
      - {name: kcrm_icp_fit_score, type: number}
      - {name: kcrm_icp_tier, type: enumeration, options: [A, B, C, D]}

``readOnly``: the destination computes the field, a sync may not write it. ``unique``: the field
identifies a record, so it may serve as a match key (HubSpot's upsert ``idProperty``, a Salesforce
external id, a Gainsight GSID). ``options``: a picklist's (enumeration's, dropdown's) values.
``type`` is the destination's own type name.

Loaded once into the project (:attr:`kcrm_gov.project.Project.destinations`); lint holds every retl
contract's field mapping against them, the catalog shows each mapped field's type.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Location, ProjectError
from ..yamlsource import YamlDocument, read_yaml
from .destination import FIELD_NAME, SYSTEMS

DESTINATIONS_DIR = Path("catalog") / "destinations"
_PROPERTY_KEYS = frozenset({"name", "type", "readOnly", "unique", "options", "description", "label"})


@dataclass(frozen=True)
class DestinationProperty:
    """One field of a destination object, as the destination's API describes it."""

    name: str
    type: str
    read_only: bool
    unique: bool
    options: tuple[str, ...]  # a picklist's values; empty for a free field
    description: str | None
    location: Location


@dataclass(frozen=True)
class DestinationObject:
    """A destination object (HubSpot companies, Salesforce Account...) and its fields."""

    system: str
    object: str
    description: str | None
    properties: dict[str, DestinationProperty]
    path: Path  # relative to the project root
    location: Location

    @property
    def key(self) -> tuple[str, str]:
        """``(system, object)``: how a :class:`~kcrm_gov.retl.destination.Destination` finds it."""
        return (self.system, self.object)


def load_destination_objects(root: Path) -> dict[tuple[str, str], DestinationObject]:
    """Every ``catalog/destinations/<system>/<object>.yml`` under ``root``, by ``(system, object)``.

    A malformed file raises :class:`ProjectError` at its line: a property list nobody can read
    would make every mapping to that object look unknown.
    """
    folder = root / DESTINATIONS_DIR
    out: dict[tuple[str, str], DestinationObject] = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*/*.yml")):
        rel = path.relative_to(root)
        obj = parse_destination_object(read_yaml(path, rel), path.parent.name, path.stem)
        out[obj.key] = obj
    return out


def parse_destination_object(doc: YamlDocument, system: str, obj: str) -> DestinationObject:
    """The property list in ``doc``, found at ``<system>/<obj>.yml`` (the file's place must match its content)."""
    data = doc.data
    if not isinstance(data, dict):
        raise ProjectError("a destination property list is a mapping of system, object and properties",
                           doc.location())
    unknown = sorted(set(data) - {"system", "object", "description", "properties"})
    if unknown:
        raise ProjectError(f"unknown key(s) {', '.join(unknown)} (expected system, object, description, "
                           "properties)", doc.location(unknown[0]))
    if system not in SYSTEMS:
        raise ProjectError(f"folder '{system}' is not a destination system ({', '.join(SYSTEMS)})", doc.location())
    if data.get("system") != system:
        raise ProjectError(f"system must be '{system}' (the file's folder), not {data.get('system')!r}",
                           doc.location("system"))
    if data.get("object") != obj:
        raise ProjectError(f"object must be '{obj}' (the file's name), not {data.get('object')!r}",
                           doc.location("object"))
    raw = data.get("properties")
    if not isinstance(raw, list) or not raw:
        raise ProjectError("properties must list the object's fields as {name, type, ...}",
                           doc.location("properties"))
    properties: dict[str, DestinationProperty] = {}
    for i, item in enumerate(raw):
        prop = _property(doc, i, item)
        if prop.name in properties:
            raise ProjectError(f"property '{prop.name}' is listed twice (first on line "
                               f"{properties[prop.name].location.line})", prop.location)
        properties[prop.name] = prop
    description = data.get("description")
    return DestinationObject(system=system, object=obj,
                             description=str(description) if description is not None else None,
                             properties=properties, path=Path(doc.path), location=doc.location())


def _property(doc: YamlDocument, i: int, item: Any) -> DestinationProperty:
    where = doc.location("properties", i)
    if not isinstance(item, dict):
        raise ProjectError(f"properties[{i}] must be a mapping {{name, type, ...}}", where)
    extra = sorted(set(item) - _PROPERTY_KEYS)
    if extra:
        raise ProjectError(f"properties[{i}]: unknown key(s) {', '.join(extra)} (expected "
                           f"{', '.join(sorted(_PROPERTY_KEYS))})", doc.location("properties", i, extra[0]))
    name, type_ = item.get("name"), item.get("type")
    if not isinstance(name, str) or not FIELD_NAME.match(name):
        raise ProjectError(f"properties[{i}].name {name!r} is not a field name (letters, digits and underscores)",
                           doc.location("properties", i, "name"))
    if not isinstance(type_, str) or not type_.strip():
        raise ProjectError(f"property '{name}' needs its destination type (e.g. string, number, picklist)",
                           doc.location("properties", i, "type"))
    flags = {}
    for key in ("readOnly", "unique"):
        value = item.get(key, False)
        if not isinstance(value, bool):
            raise ProjectError(f"property '{name}': {key} must be true or false, not {value!r}",
                               doc.location("properties", i, key))
        flags[key] = value
    options = item.get("options", [])
    if not isinstance(options, list) or not all(isinstance(o, str | int | float | bool) for o in options):
        raise ProjectError(f"property '{name}': options must be a list of values",
                           doc.location("properties", i, "options"))
    description = item.get("description")
    return DestinationProperty(name=name, type=type_, read_only=flags["readOnly"], unique=flags["unique"],
                               options=tuple(str(o) for o in options),
                               description=str(description) if description is not None else None,
                               location=where)
