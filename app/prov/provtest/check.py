# Checks PROV-JSON documents with the prov package (W3C PROV data model) and
# rdflib. Usage: python3 check.py doc.json...; prints one JSON line per
# document and exits 1 on the first problem, naming it.
import json
import re
import sys

import rdflib
from lxml import etree
from prov.model import PROV, ProvAgent, ProvDocument, QualifiedName
from prov.constants import PROV_TYPE

# PROV-N's PN_LOCAL (PROV-N, section 3.7.1), ASCII and the Unicode ranges of
# PN_CHARS_BASE.
BASE = "A-Za-z\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02FF\u0370-\u037D\u037F-\u1FFF\u200C-\u200D\u2070-\u218F\u2C00-\u2FEF\u3001-\uD7FF\uF900-\uFDCF\uFDF0-\uFFFD"
CHARS = BASE + "_0-9\\-\u00B7\u0300-\u036F\u203F-\u2040"
OTHERS = r"(?:[/@~&+*?#$!]|%[0-9A-Fa-f]{2}|\\[=\'(),\-:;\[\].])"
PN_LOCAL = re.compile("(?:[" + BASE + "_0-9]|" + OTHERS + ")(?:(?:[" + CHARS + ".]|" + OTHERS + ")*(?:[" + CHARS + "]|" + OTHERS + "))?$")
ORG = PROV["Organization"]


def fail(path, msg):
    print("%s: %s" % (path, msg), file=sys.stderr)
    sys.exit(1)


def names(doc):
    for rec in doc.get_records():
        if rec.identifier is not None:
            yield rec.identifier
        for _, v in rec.attributes:
            if isinstance(v, QualifiedName):
                yield v


for path in sys.argv[1:]:
    doc = ProvDocument.deserialize(content=open(path, encoding="utf-8").read(), format="json")
    for q in names(doc):
        local = q.localpart
        if not PN_LOCAL.match(local):
            fail(path, "%s: local part %r is not a PROV-N PN_LOCAL" % (q, local))
        try:
            etree.QName(q.namespace.uri, local)
        except ValueError as e:
            fail(path, "%s: local part %r is not an XML NCName: %s" % (q, local, e))
    agents = list(doc.get_records(ProvAgent))
    for a in agents:
        types = list(a.get_attribute(PROV_TYPE))
        if not any(isinstance(t, QualifiedName) and t == ORG for t in types):
            fail(path, "agent %s is not a prov:Organization: prov:type %r" % (a.identifier, types))
    provn = doc.serialize(format="provn")
    xml = doc.serialize(format="xml")
    etree.fromstring(xml.encode("utf-8") if isinstance(xml, str) else xml)
    back = ProvDocument.deserialize(content=xml, format="xml")
    if back != doc:
        fail(path, "the PROV-XML serialisation does not read back as the same document")
    ttl = doc.serialize(format="rdf", rdf_format="turtle")
    g = rdflib.Graph()
    g.parse(data=ttl, format="turtle")
    prov_ns = rdflib.Namespace("http://www.w3.org/ns/prov#")
    orgs = sorted(str(s) for s in g.subjects(rdflib.RDF.type, prov_ns.Organization))
    entities = sorted(str(s) for s in g.subjects(rdflib.RDF.type, prov_ns.Entity))
    print(json.dumps({"path": path, "agents": len(agents), "organizations": orgs, "entities": entities,
                      "provnBytes": len(provn), "triples": len(g)}))
