"""CASE 1.1 exporter: any framework as a 1EdTech CASE *CFPackage* (JSON).

Exporter id ``case`` (subject ``framework``, ``application/json``, ``.json``), reached through
``GET /api/v1/frameworks/<id>/export/case?lang=sv|en``. The package validates against the official
CASE 1.1 CFPackage JSON Schema (draft 2019-09) with format checking on; the test suite checks it.

Mapping (the framework document of :func:`core.exports.framework_document`, in the reader's language):

==========================  =======================================================================
KBP                         CASE
==========================  =======================================================================
framework                   ``CFDocument``: ``title`` = name, ``creator`` "KBP", ``description``,
                            ``version``, ``language`` = the export's locale, ``caseVersion`` "1.1",
                            ``notes`` = "DEMO …" in demo mode and the licence notice,
                            ``licenseURI`` → a ``CFLicense`` whose ``licenseText`` is the notice;
                            for a licensed framework followed by the marker
                            ``kbp-licensed:<framework id>`` (importers refuse such files)
group                       ``CFItem`` of ``CFItemType`` "Competency Group": ``fullStatement`` =
                            name, ``notes`` = description, ``humanCodingScheme`` = its code
                            (imported from CASE), else the group id
competency                  ``CFItem`` of ``CFItemType`` "Competency": ``fullStatement`` = name,
                            ``notes`` = the full definition, ``humanCodingScheme`` = its
                            code, else the competency id
hierarchy and order         ``CFAssociation`` ``isChildOf`` (group → document, competency → group
                            or → the competency it sits under) with ``sequenceNumber`` = position
                            among its siblings (1, 2, …); a heading is a "Competency Group" item
related competencies        ``CFAssociation`` ``isRelatedTo`` between the two items
education levels            ``educationLevel`` of the competency's item
item types, licence         ``CFDefinitions.CFItemTypes`` and ``CFDefinitions.CFLicenses``
KBP ids, demo flag          ``extensions.kbp`` of the document and of each item
==========================  =======================================================================

**Identifiers** are UUIDs (version 5) in a fixed KBP namespace over ``framework:<id>``,
``group:<framework>:<group>``, ``competency:<global id>``, ``isChildOf:<origin>:<destination>``,
``itemtype:<name>`` and ``licence:<framework>``: exporting again — in any language, on any
installation — gives the same identifiers, so a CASE server updates instead of duplicating.
A group or competency whose id *is* a UUID (one imported from a CASE package by ``import_case``)
keeps it as its identifier, so a CASE → KBP → CASE round trip keeps the items' identity.

**URIs** are ``urn:uuid:<identifier>``; set ``CASE_URI_BASE`` (``KBP_CASE_URI_BASE``) to an
``https://`` address to publish resolvable ones: ``<base>/CFItems/<identifier>`` etc.

``lastChangeDateTime`` is the export time (KBP keeps no change time per competency).
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from core import hookimpl, i18n, imports
from core.model import Exporter
from core.registry import ContentError

__version__ = "1.0.0"

#: the namespace of every identifier KBP writes into a CASE package (never change it)
KBP_NAMESPACE = uuid.UUID("2cd11273-f357-5237-a3e8-a0053091f391")
CASE_VERSION = "1.1"
CREATOR = "KBP"
#: key of KBP's own data under ``extensions`` (read back by the CASE importer)
EXTENSION = "kbp"
GROUP_TYPE = "Competency Group"
COMPETENCY_TYPE = "Competency"
URI_BASE_SETTING = "CASE_URI_BASE"

#: where each kind of object lives under a published base URI (the CASE REST API's paths)
_COLLECTIONS = {
    "document": "CFDocuments",
    "item": "CFItems",
    "association": "CFAssociations",
    "itemtype": "CFItemTypes",
    "licence": "CFLicenses",
}


def N_(message: str) -> str:
    """Mark a UI string for extraction; it is translated into the export's locale later."""
    return message


TITLE = N_("CASE 1.1 package (JSON)")
DEMO_NOTE = N_("Exported from a KBP demonstration installation: not for use in production.")
LICENCE_TITLE = N_("Licence of %(framework)s")
GROUP_TYPE_DESCRIPTION = "A group of competencies in a KBP framework."
COMPETENCY_TYPE_DESCRIPTION = "A competency of a KBP framework."


def case_id(name: str) -> str:
    """The stable CASE identifier (a UUID) KBP uses for the object called ``name``."""
    return str(uuid.uuid5(KBP_NAMESPACE, name))


def framework_identifier(framework_id: str) -> str:
    return case_id(f"framework:{framework_id}")


def _imported(local_id: str) -> str | None:
    """The id itself when it is a CASE identifier (a group or competency imported from CASE)."""
    try:
        parsed = uuid.UUID(local_id)
    except ValueError:
        return None
    return str(parsed) if str(parsed) == local_id else None


def group_identifier(framework_id: str, group_id: str) -> str:
    return _imported(group_id) or case_id(f"group:{framework_id}:{group_id}")


def competency_identifier(global_id: str) -> str:
    return _imported(global_id.split(":", 1)[-1]) or case_id(f"competency:{global_id}")


def association_identifier(origin: str, destination: str, kind: str = "isChildOf") -> str:
    return case_id(f"{kind}:{origin}:{destination}")


def _translate(locale: str, message: str, **variables: Any) -> str:
    """A UI string (English msgid, core catalog) in ``locale``, whatever the request's language."""
    text = i18n.content(message, i18n.UI_SOURCE_LANGUAGE, i18n.CORE_DOMAIN, locale, {})
    return text % variables if variables else text


def _timestamp(document: dict) -> str:
    raw = (document.get("meta") or {}).get("exported_at")
    try:
        when = datetime.fromisoformat(raw) if raw else datetime.now(timezone.utc)
    except (TypeError, ValueError):
        when = datetime.now(timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.isoformat(timespec="seconds")


def _language(locale: str) -> str:
    return (locale or "").replace("_", "-")


def check_uri_base(base: str) -> str:
    """``base`` without a trailing slash; a ContentError unless it is an absolute http(s) URL."""
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ContentError(
            f"{URI_BASE_SETTING} must be an absolute http(s) address without query or fragment, not {base!r}"
        )
    return base.rstrip("/")


class CaseExporter(Exporter):
    id = "case"
    title = TITLE
    subject = "framework"
    media_type = "application/json"
    extension = "json"
    domain = i18n.CORE_DOMAIN

    def __init__(self, uri_base: str | None = None):
        self.uri_base = check_uri_base(uri_base) if uri_base else None

    # ------------------------------------------------------------------ helpers
    def uri(self, kind: str, identifier: str) -> str:
        if self.uri_base:
            return f"{self.uri_base}/{_COLLECTIONS[kind]}/{identifier}"
        return f"urn:uuid:{identifier}"

    def link(self, kind: str, identifier: str, title: str) -> dict[str, str]:
        return {"title": title, "identifier": identifier, "uri": self.uri(kind, identifier)}

    # ------------------------------------------------------------------ export
    def package(self, document: dict, locale: str) -> dict[str, Any]:
        """The CFPackage as a dict (``export`` serialises it)."""
        fw_id = document["id"]
        changed = _timestamp(document)
        language = _language(document.get("language") or locale)
        meta = document.get("meta") or {}
        demo = bool(meta.get("demo"))
        doc_id = framework_identifier(fw_id)
        doc_link = self.link("document", doc_id, document["name"])

        item_types = {
            GROUP_TYPE: (case_id(f"itemtype:{GROUP_TYPE}"), GROUP_TYPE_DESCRIPTION, "1", "competency-group"),
            COMPETENCY_TYPE: (case_id(f"itemtype:{COMPETENCY_TYPE}"), COMPETENCY_TYPE_DESCRIPTION, "2", "competency"),
        }
        definitions: dict[str, Any] = {
            "CFItemTypes": [
                {"identifier": ident, "uri": self.uri("itemtype", ident), "title": title, "description": description,
                 "hierarchyCode": code, "typeCode": type_code, "lastChangeDateTime": changed}
                for title, (ident, description, code, type_code) in item_types.items()
            ]
        }

        notice = document.get("licence_notice") or ""
        licensed = bool(document.get("licensed"))
        licence_text = notice
        if licensed:  # the machine-readable mark importers refuse (core.imports)
            licence_text = "\n\n".join(p for p in (notice, imports.marker(fw_id)) if p)
        licence_link = None
        if licence_text:
            licence_id = case_id(f"licence:{fw_id}")
            licence_title = _translate(locale, LICENCE_TITLE, framework=document["name"])
            licence_link = self.link("licence", licence_id, licence_title)
            definitions["CFLicenses"] = [
                {"identifier": licence_id, "uri": self.uri("licence", licence_id), "title": licence_title,
                 "licenseText": licence_text, "lastChangeDateTime": changed}
            ]

        notes = []
        if demo:
            notes.append("DEMO: " + _translate(locale, DEMO_NOTE))
        if notice:
            notes.append(notice)
        if licensed:
            notes.append(imports.marker(fw_id))

        cf_document: dict[str, Any] = {
            "identifier": doc_id,
            "uri": doc_link["uri"],
            "creator": CREATOR,
            "title": document["name"],
            "lastChangeDateTime": changed,
            "caseVersion": CASE_VERSION,
            "language": language,
        }
        if document.get("description"):
            cf_document["description"] = document["description"]
        if document.get("version"):
            cf_document["version"] = str(document["version"])
        if licence_link:
            cf_document["licenseURI"] = licence_link
        if notes:
            cf_document["notes"] = "\n\n".join(notes)
        cf_document["extensions"] = {
            EXTENSION: {
                "frameworkId": fw_id,
                "sourceLanguage": document.get("source_language", ""),
                "licensed": bool(document.get("licensed")),
                "demo": demo,
                "generator": meta.get("generator", CREATOR),
                "exportedAt": changed,
            }
        }

        items: list[dict[str, Any]] = []
        associations: list[dict[str, Any]] = []

        def item(identifier: str, kind: str, name: str, notes_text: str, code: str, position: int, extra: dict,
                 own_code: str = "") -> dict:
            type_id = item_types[kind][0]
            data: dict[str, Any] = {
                "identifier": identifier,
                "uri": self.uri("item", identifier),
                "fullStatement": name,
                "humanCodingScheme": own_code or code,
                "listEnumeration": str(position),
                "CFItemType": kind,
                "CFItemTypeURI": self.link("itemtype", type_id, kind),
                "language": language,
                "lastChangeDateTime": changed,
            }
            if notes_text:
                data["notes"] = notes_text
            if licence_link:
                data["licenseURI"] = dict(licence_link)
            data["extensions"] = {EXTENSION: {**extra, "code": own_code}}
            return data

        def child_of(origin: dict, destination: dict, position: int) -> dict:
            ident = association_identifier(origin["identifier"], destination["identifier"])
            return {
                "identifier": ident,
                "uri": self.uri("association", ident),
                "associationType": "isChildOf",
                "originNodeURI": origin,
                "destinationNodeURI": destination,
                "sequenceNumber": position,
                "lastChangeDateTime": changed,
            }

        for gpos, group in enumerate(document.get("groups", []), start=1):
            gid = group_identifier(fw_id, group["id"])
            group_item = item(gid, GROUP_TYPE, group["name"], group.get("description") or "", group["id"],
                              group.get("position", gpos), {"kind": "group", "id": group["id"]}, group.get("code") or "")
            items.append(group_item)
            group_link = self.link("item", gid, group["name"])
            associations.append(child_of(group_link, doc_link, group.get("position", gpos)))
            links: dict[str, dict] = {}  # competency id -> link, for the ones under it
            siblings: dict[str, int] = {}  # parent ('' = the group) -> competencies placed under it so far
            for comp in group.get("competencies", []):
                global_id = comp.get("global_id") or f"{fw_id}:{comp['id']}"
                cid = competency_identifier(global_id)
                parent = comp.get("parent") or ""
                position = siblings[parent] = siblings.get(parent, 0) + 1
                kind = COMPETENCY_TYPE if comp.get("selectable", True) else GROUP_TYPE
                items.append(item(cid, kind, comp["name"], comp.get("definition") or "", comp["id"],
                                  position, {"kind": "competency", "id": comp["id"], "globalId": global_id},
                                  comp.get("code") or ""))
                if comp.get("levels"):
                    items[-1]["educationLevel"] = list(comp["levels"])
                links[comp["id"]] = self.link("item", cid, comp["name"])
                destination = links.get(parent) or group_link
                associations.append(child_of(dict(links[comp["id"]]), dict(destination), position))

        # related competencies: an isRelatedTo association each (the importer reads them back as related)
        by_id = {item_["extensions"][EXTENSION]["id"]: item_ for item_ in items
                 if item_["extensions"][EXTENSION].get("kind") == "competency"}
        for group in document.get("groups", []):
            for comp in group.get("competencies", []):
                for other in comp.get("related") or ():
                    if other in by_id and comp["id"] in by_id:
                        origin, destination = by_id[comp["id"]], by_id[other]
                        ident = association_identifier(origin["identifier"], destination["identifier"], "isRelatedTo")
                        associations.append({
                            "identifier": ident, "uri": self.uri("association", ident),
                            "associationType": "isRelatedTo",
                            "originNodeURI": self.link("item", origin["identifier"], origin["fullStatement"]),
                            "destinationNodeURI": self.link("item", destination["identifier"],
                                                            destination["fullStatement"]),
                            "lastChangeDateTime": changed,
                        })

        return {
            "CFDocument": cf_document,
            "CFItems": items,
            "CFAssociations": associations,
            "CFDefinitions": definitions,
        }

    def export(self, obj: Any, locale: str) -> bytes:
        return (json.dumps(self.package(obj, locale), ensure_ascii=False, indent=2) + "\n").encode("utf-8")


@hookimpl
def kbp_exporters(config):
    return [CaseExporter(uri_base=(config or {}).get(URI_BASE_SETTING) or None)]
