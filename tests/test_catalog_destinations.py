"""The catalog on the retl mini project: the retl table's page shows its destination and mapped fields,
and each upstream column's schema row names the destination fields it reaches; the site builds strictly."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import retlproject
from conftest import REPO

from kcrm_gov.catalog.pages import column_anchor, table_uri
from kcrm_gov.catalog.site import build_site


def _page(site: Path, name: str) -> str:
    return (site / table_uri(name).removesuffix(".md") / "index.html").read_text()


def _text(markup: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


def _row(page: str, anchor: str) -> str:
    match = re.search(rf'<tr id="{column_anchor(anchor)}".*?</tr>', page, re.S)
    assert match, anchor
    return _text(match.group(0))


def test_retl_page_shows_destination_and_columns_show_what_they_reach(tmp_path: Path) -> None:
    root = retlproject.make(tmp_path / "retl")
    shutil.copy2(REPO / "mkdocs.yml", root / "mkdocs.yml")
    shutil.copytree(REPO / "docs", root / "docs")
    build_site(root, site_dir=tmp_path / "site", strict=True)  # raises on any mkdocs warning
    retl = _page(tmp_path / "site", "retl.hubspot__companies")
    section = _text(retl[retl.index('id="destination"'):retl.index('id="trust"')])
    for fact in ("System hubspot", "Instance hubspot://kcrm-portal", "Object companies",
                 "Match key hs_object_id from column company_id", "On delete clear",
                 "Property list catalog/destinations/hubspot/companies.yml"):
        assert fact in section, (fact, section)
    assert "3 of 4 mapped fields are written" in section
    assert "company_id hs_object_id match key (not written) number" in section
    assert "company_name name written string" in section
    assert "size_tier kcrm_tier written enumeration Options: A , B , C" in section
    # upstream columns name the HubSpot field they reach, two hops away (stg -> core -> retl)
    core = _page(tmp_path / "site", "core.items")
    assert "Synced to: hubspot://kcrm-portal/companies.kcrm_amount via retl.hubspot__companies.amount_usd" in \
        _row(core, "amount_usd")
    stg = _page(tmp_path / "site", "stg.src__items")
    assert "hubspot://kcrm-portal/companies.name" in _row(stg, "item_name")
    assert "hubspot://kcrm-portal/companies.hs_object_id" in _row(stg, "item_id")  # the match key is sent too
    assert "Synced to: hubspot://kcrm-portal/companies.kcrm_tier" in _row(retl, "size_tier")


def test_pii_register_shows_a_pii_column_synced_out(tmp_path: Path) -> None:
    from kcrm_gov.catalog.pages import collect, pii_page
    from kcrm_gov.project import Project

    root = retlproject.make(tmp_path / "retl")
    pii = ("owner_email", "STRING", "confidential", ["tags: [pii]"])
    (root / retlproject.RETL).write_text(retlproject.retl_contract(columns=[*retlproject.COLUMNS, pii]).replace(
        "approvedPii: []", "approvedPii: [owner_email]").replace(
        "        - {column: size_tier", "        - {column: owner_email, field: kcrm_owner_email}\n"
        "        - {column: size_tier"))
    page = pii_page(collect(Project.load(root), git_history=False))
    row = next(r for r in re.findall(r"<tr>.*?</tr>", page, re.S) if "owner&#95;email" in r or "owner_email" in r)
    assert "hubspot://kcrm-portal/companies.kcrm_owner_email (synced out)" in _text(row)
