#!/usr/bin/env python3
"""Generates fixtures/protobuf-fields.json: for every Kubernetes type, its
protobuf fields (tag, JSON name, wire kind, message type), which kube-sim
decodes `application/vnd.kubernetes.protobuf` bodies by.

The field tags and kinds come from the k8s-pb crate's generated prost code
(kube-rs's bindings of Kubernetes' own .proto files); the JSON names from
the Kubernetes schema (kubernetes-validate's _definitions.json), matched
field by field (prost's snake_case loses `volumeID`'s capitals).

Usage: protobuf-table.py K8S_PB_SRC_DIR DEFINITIONS_JSON OUT_JSON
"""
import json
import os
import re
import sys

src, definitions, out = sys.argv[1:4]
defs = json.load(open(definitions))["$defs"]

# Rust module path (under k8s-pb's src) -> schema name prefix.
PREFIXES = [
    ("api/", "io.k8s.api."),
    ("apimachinery/", "io.k8s.apimachinery."),
    ("apiextensions_apiserver/", "io.k8s.apiextensions-apiserver."),
    ("kube_aggregator/", "io.k8s.kube-aggregator."),
    ("metrics/", "io.k8s.metrics."),
]


def prefix_of(module):
    for rust, schema in PREFIXES:
        if module.startswith(rust):
            return schema + module[len(rust):].replace("/", ".")
    raise ValueError(module)


def norm(name):
    return name.replace("_", "").replace("r#", "").lower()


# Schema names by normalized name, so `AwsElasticBlockStoreVolumeSource`
# finds `AWSElasticBlockStoreVolumeSource`.
schema_names = {norm(n): n for n in defs}

def fields_of(body):
    """(prost attribute, field name, Rust type) of each field of a struct body."""
    for chunk in body.split("#[prost(")[1:]:
        attr, rest = chunk.split(")]", 1)
        rest = "\n".join(l for l in rest.splitlines() if not l.strip().startswith(("///", "#[")))
        m = re.search(r"pub (?:r#)?(\w+):(.*),", rest, re.S)
        yield attr, m.group(1), m.group(2)

STRUCT = re.compile(r"pub struct (\w+) \{(.*?)\n\}", re.S)


def resolve(module, rust_type):
    """`super::super::x::Y` or `Y` seen from `module` -> schema-style name."""
    rust_type = rust_type.strip()
    parts = rust_type.split("::")
    base = module.split("/")
    while parts and parts[0] == "super":
        parts.pop(0)
        base.pop()
    if parts and parts[0] == "crate":
        parts.pop(0)
        base = []
    name = parts[-1]
    path = base + parts[:-1]
    full = prefix_of("/".join(path)) + "." + name
    return schema_names.get(norm(full), full)


def inner(rust_type):
    """The message type inside Option<...>, Vec<...>, Box<...>, or a map's value."""
    t = re.sub(r"\s+", "", rust_type).rstrip(",")
    for wrapper in ("::core::option::Option<", "::prost::alloc::vec::Vec<", "::prost::alloc::boxed::Box<"):
        while t.startswith(wrapper):
            t = t[len(wrapper):-1].rstrip(",")
    if t.startswith("::prost::alloc::collections::BTreeMap<"):
        t = t[len("::prost::alloc::collections::BTreeMap<"):-1]
        t = t.split(",", 1)[1].rstrip(",")
        return inner(t)
    return t


table = {}
raw_names = {}
unmatched = []
for root, _, files in os.walk(src):
    for f in files:
        if f != "mod.rs":
            continue
        module = os.path.relpath(root, src)
        if module == "." or "/" not in module:
            continue
        text = open(os.path.join(root, f)).read()
        try:
            prefix = prefix_of(module)
        except ValueError:
            continue
        for struct, body in STRUCT.findall(text):
            full = prefix + "." + struct
            name = schema_names.get(norm(full), full)
            props = defs.get(name, {}).get("properties", {})
            by_norm = {norm(p): p for p in props}
            fields = {}
            raw_names[name] = {norm(f) for _, f, _ in fields_of(body)}
            for attr, field, rust_type in fields_of(body):
                tag = int(re.search(r'tag = "(\d+)"', attr).group(1))
                json_name = by_norm.get(norm(field))
                if json_name is None:
                    head, *rest = field.split("_")
                    json_name = head + "".join(w.capitalize() for w in rest)
                kind = attr.split(",")[0].split("=")[0].strip()
                card = "*" if "repeated" in attr else "1"
                ref = None
                if kind == "btree_map":
                    value = re.search(r'btree_map = "string, (\w+)"', attr).group(1)
                    card = "map"
                    kind = value
                if kind == "message":
                    ref = resolve(module, inner(rust_type))
                    if norm(field) not in by_norm:
                        unmatched.append((name, str(tag), ref, set(by_norm)))
                entry = [json_name, kind, card]
                if ref:
                    entry.append(ref)
                fields[str(tag)] = entry
            table[name] = fields

# A Go struct embedded inline (`json:",inline"`), which the schema does not
# name: its fields are the parent's own. Marked by an empty JSON name.
for parent, tag, ref, props in unmatched:
    if raw_names.get(ref) and raw_names[ref] <= props:
        table[parent][tag][0] = ""

json.dump(table, open(out, "w"), separators=(",", ":"), sort_keys=True)
print(f"{len(table)} types", file=sys.stderr)
