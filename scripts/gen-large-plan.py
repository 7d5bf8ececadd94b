#!/usr/bin/env python3
"""Grow a real `terraform show -json` plan into a large synthetic one.

Used to measure the plan parser (src/terraform/plan.rs) on plans of 100 MB
and more, which real monorepos produce but nobody wants to commit.

    scripts/gen-large-plan.py real.json 100 > large.json
    scripts/gen-large-plan.py real.json 100 -o large.json --seed 7

The source plan's managed resource changes are the templates. Each copy of
the template set lives in its own module (`module.copy_<n>.`), so every
address is unique. Each copied change is given an action drawn from a fixed,
realistic mix (mostly no-op and create, some update, replace and delete),
and its before/after values are reshaped to match that action the way
Terraform shapes them. `planned_values`, `prior_state` and `configuration`
grow along with the changes, so the bulk the parser must skip is in the same
proportion as in a real plan. Output is compact JSON in Terraform's own
top-level key order. Only the Python standard library is used.
"""

import argparse
import copy
import json
import random
import sys

# Weights of the action mix given to copied resource changes.
ACTION_MIX = [
    ("no-op", 55),
    ("create", 27),
    ("update", 9),
    ("replace", 4),
    ("delete", 4),
    ("forget", 1),
]

# Terraform's order of top-level keys (the field order of its Go struct).
KEY_ORDER = [
    "format_version",
    "terraform_version",
    "variables",
    "planned_values",
    "resource_drift",
    "resource_changes",
    "output_changes",
    "prior_state",
    "configuration",
    "relevant_attributes",
    "checks",
    "timestamp",
    "applyable",
    "complete",
    "errored",
]


def dumps(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def prefix_address(address, module):
    return module + "." + address


def first_string_attr(obj):
    """Name of a top-level string attribute to modify for updates."""
    if isinstance(obj, dict):
        for key in sorted(obj):
            if key != "id" and isinstance(obj[key], str):
                return key
    return None


def reshape(change, action, serial):
    """Rewrite a template's `change` so it is a plausible `action`."""
    values = change.get("before") or change.get("after") or {}
    before_sens = change.get("before_sensitive")
    after_sens = change.get("after_sensitive")
    if not isinstance(before_sens, dict):
        before_sens = after_sens if isinstance(after_sens, dict) else {}
    if not isinstance(after_sens, dict):
        after_sens = before_sens
    before = copy.deepcopy(values)
    after = copy.deepcopy(values)
    out = {"actions": [action]}
    reason = None
    if action == "no-op":
        out.update(before=before, after=after, after_unknown={},
                   before_sensitive=before_sens, after_sensitive=after_sens)
    elif action == "create":
        if isinstance(after, dict):
            after.pop("id", None)
        out.update(before=None, after=after, after_unknown={"id": True},
                   before_sensitive=False, after_sensitive=after_sens)
    elif action in ("delete", "forget"):
        out.update(before=before, after=None, after_unknown={},
                   before_sensitive=before_sens, after_sensitive=False)
        reason = "delete_because_no_resource_config"
    else:
        key = first_string_attr(after)
        if key is not None:
            after[key] = after[key] + "-changed-%d" % serial
        out.update(before=before, after=after, after_unknown={},
                   before_sensitive=before_sens, after_sensitive=after_sens)
        if action == "replace":
            out["actions"] = ["delete", "create"]
            if key is not None:
                out["replace_paths"] = [[key]]
            if isinstance(after, dict):
                after.pop("id", None)
                out["after_unknown"] = {"id": True}
            reason = "replace_because_cannot_update"
    return out, reason


def pick_action(rng):
    total = sum(w for _, w in ACTION_MIX)
    roll = rng.randrange(total)
    for action, weight in ACTION_MIX:
        if roll < weight:
            return action
        roll -= weight
    return ACTION_MIX[0][0]


def copy_changes(templates, module, rng, serial):
    out = []
    for rc in templates:
        action = pick_action(rng)
        new = {k: v for k, v in rc.items() if k not in ("change", "action_reason")}
        new["address"] = prefix_address(rc["address"], module)
        new["module_address"] = prefix_address(rc["module_address"], module) \
            if rc.get("module_address") else module
        new.pop("previous_address", None)
        new["change"], reason = reshape(rc["change"], action, serial)
        if reason:
            new["action_reason"] = reason
        out.append(new)
        serial += 1
    return out, serial


def copy_module(resources, module):
    """A child_modules entry holding copies of state/planned resources."""
    copied = []
    for res in resources:
        new = dict(res)
        new["address"] = prefix_address(res["address"], module)
        copied.append(new)
    return {"address": module, "resources": copied}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="a real `terraform show -json` plan")
    parser.add_argument("size_mb", type=float, help="target size in MB (10^6 bytes)")
    parser.add_argument("-o", "--output", help="output file (default: stdout)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    args = parser.parse_args()

    with open(args.source, encoding="utf-8") as f:
        plan = json.load(f)
    if "format_version" not in plan or "resource_changes" not in plan:
        sys.exit("gen-large-plan: %s is not a plan with resource_changes" % args.source)

    templates = [rc for rc in plan.get("resource_changes") or []
                 if rc.get("mode") == "managed" and "change" in rc]
    if not templates:
        sys.exit("gen-large-plan: %s has no managed resource changes" % args.source)
    planned = ((plan.get("planned_values") or {}).get("root_module") or {}).get("resources") or []
    prior = (((plan.get("prior_state") or {}).get("values") or {}).get("root_module") or {}).get("resources") or []
    config_resources = ((plan.get("configuration") or {}).get("root_module") or {}).get("resources") or []

    # Bytes one copy adds, measured on a sample copy, decide the copy count.
    rng = random.Random(args.seed)
    sample_changes, _ = copy_changes(templates, "module.copy_0", rng, 0)
    per_copy = (len(dumps(sample_changes)) + len(dumps(copy_module(planned, "module.copy_0")))
                + len(dumps(copy_module(prior, "module.copy_0")))
                + len(dumps({"module_calls": {"copy_0": {"module": {"resources": config_resources}}}})))
    copies = max(1, int(args.size_mb * 1_000_000 / max(per_copy, 1)))

    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    rng = random.Random(args.seed)

    def write_array(items_of_copy):
        out.write("[")
        first = True
        for n in range(copies):
            for item in items_of_copy(n):
                if not first:
                    out.write(",")
                first = False
                out.write(dumps(item))
        out.write("]")

    def write_section(key):
        if key == "resource_changes":
            serial = [0]

            def changes_of(n):
                changes, serial[0] = copy_changes(templates, "module.copy_%d" % n, rng, serial[0])
                return changes
            write_array(changes_of)
        elif key == "planned_values":
            pv = dict(plan["planned_values"])
            root = dict(pv.get("root_module") or {})
            out.write("{")
            if "outputs" in pv:
                out.write('"outputs":' + dumps(pv["outputs"]) + ",")
            out.write('"root_module":{"resources":' + dumps(root.get("resources") or []))
            out.write(',"child_modules":')
            write_array(lambda n: [copy_module(planned, "module.copy_%d" % n)])
            out.write("}}")
        elif key == "prior_state":
            ps = plan["prior_state"]
            values = ps.get("values") or {}
            head = {k: v for k, v in ps.items() if k != "values"}
            out.write("{")
            for k, v in head.items():
                out.write(dumps(k) + ":" + dumps(v) + ",")
            out.write('"values":{')
            if "outputs" in values:
                out.write('"outputs":' + dumps(values["outputs"]) + ",")
            out.write('"root_module":{"resources":' + dumps(prior))
            out.write(',"child_modules":')
            write_array(lambda n: [copy_module(prior, "module.copy_%d" % n)])
            out.write("}}}")
        elif key == "configuration":
            conf = plan["configuration"]
            root = dict(conf.get("root_module") or {})
            root["module_calls"] = {
                "copy_%d" % n: {"source": "./copy", "module": {"resources": config_resources}}
                for n in range(copies)
            }
            conf = dict(conf)
            conf["root_module"] = root
            out.write(dumps(conf))
        else:
            out.write(dumps(plan[key]))

    out.write("{")
    keys = [k for k in KEY_ORDER if k in plan or k == "resource_changes"]
    keys += [k for k in plan if k not in KEY_ORDER]
    for i, key in enumerate(keys):
        if i:
            out.write(",")
        out.write(dumps(key) + ":")
        write_section(key)
    out.write("}\n")
    if out is not sys.stdout:
        out.close()
    print("gen-large-plan: %d copies of %d resource changes" % (copies, len(templates)),
          file=sys.stderr)


if __name__ == "__main__":
    main()
