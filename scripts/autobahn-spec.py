#!/usr/bin/env python
"""Fills in an Autobahn spec template from conformance/autobahn/.

Usage:
    autobahn-spec.py TEMPLATE OUTPUT --mode quick|full --url URL --outdir DIR
                     [--cases LIST]

Replaces "@URL@" and "@OUTDIR@" anywhere in the template, sets "exclude-cases"
to the template's "_exclude_cases_by_mode"[mode], and drops keys starting with
"_". With --cases, only the listed cases run (before exclusions): LIST is
comma-separated, each item a section ("6"), a range of sections ("1-10") or a
wstest case pattern ("12.1.*", "6.4.1").

Prints the number of cases the spec selects when run by the Python that has
autobahntestsuite installed, and "?" otherwise. Runs on Python 2.7 and 3.
"""
from __future__ import print_function

import argparse
import json
import re
import sys


def case_patterns(text):
    """Turns "1-10,12.1.*" into ["1.*", ..., "10.*", "12.1.*"]."""
    patterns = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        sections = re.match(r"^(\d+)(?:-(\d+))?$", item)
        if sections:
            first = int(sections.group(1))
            last = int(sections.group(2) or first)
            if last < first:
                raise ValueError("empty section range %r" % item)
            patterns.extend("%d.*" % n for n in range(first, last + 1))
        elif re.match(r"^\d+(\.(\d+|\*))*$", item):
            patterns.append(item)
        else:
            raise ValueError("not a section, range or case pattern: %r" % item)
    if not patterns:
        raise ValueError("no cases given")
    return patterns


def substitute(value, replacements):
    """Replaces placeholders in every string of a JSON value."""
    if isinstance(value, dict):
        return dict((k, substitute(v, replacements)) for k, v in value.items())
    if isinstance(value, list):
        return [substitute(v, replacements) for v in value]
    if isinstance(value, type(u"")) or isinstance(value, str):
        for placeholder, text in replacements.items():
            value = value.replace(placeholder, text)
    return value


def count_cases(spec):
    """The number of cases wstest will run for this spec, or None."""
    try:
        from autobahntestsuite.case import (Cases, CaseSetname, CaseBasename,
                                            CaseCategories, CaseSubCategories)
        from autobahntestsuite.caseset import CaseSet
    except ImportError:
        return None
    case_set = CaseSet(CaseSetname, CaseBasename, Cases, CaseCategories,
                       CaseSubCategories)
    return len(case_set.parseSpecCases(spec))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("template")
    parser.add_argument("output")
    parser.add_argument("--mode", required=True, choices=["quick", "full"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--outdir", required=True)
    parser.add_argument("--cases", default="")
    args = parser.parse_args()

    with open(args.template) as f:
        template = json.load(f)
    by_mode = template.get("_exclude_cases_by_mode", {})
    if args.mode not in by_mode:
        parser.error("%s has no exclusions for mode %r" % (args.template, args.mode))

    spec = dict((k, v) for k, v in template.items() if not k.startswith("_"))
    spec = substitute(spec, {"@URL@": args.url, "@OUTDIR@": args.outdir})
    spec["exclude-cases"] = by_mode[args.mode]
    if args.cases:
        try:
            spec["cases"] = case_patterns(args.cases)
        except ValueError as err:
            parser.error("--cases: %s" % err)

    with open(args.output, "w") as f:
        json.dump(spec, f, indent=2, sort_keys=True, separators=(",", ": "))
        f.write("\n")

    count = count_cases(spec)
    print("?" if count is None else count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
