#!/usr/bin/env python3
"""prom_check.py -- reads a Prometheus text exposition as Prometheus does.

    python3 tests/tools/prom_check.py SCRAPE [--prev PREV.json]

Parses SCRAPE (a /metrics body) with prometheus_client's parser
(python3-prometheus-client, Debian's package), and prints one JSON object:
every sample as "name{label="value",...}" (labels sorted) -> its value.
Fails (exit 1, the reason on stderr) when the text does not parse, when a
family has no TYPE (the parser then calls it "unknown"), or, with --prev
(an earlier output of this tool), when a counter, a histogram bucket, _sum
or _count went down: counters only grow.
"""
import argparse
import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def key(sample):
    labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(sample.labels.items()))
    return "%s{%s}" % (sample.name, labels) if labels else sample.name


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scrape")
    ap.add_argument("--prev")
    args = ap.parse_args()
    with open(args.scrape, encoding="utf-8") as f:
        text = f.read()
    samples, growing = {}, set()
    try:
        for fam in text_string_to_metric_families(text):
            if fam.type == "unknown":
                sys.exit("family %s has no TYPE" % fam.name)
            for s in fam.samples:
                k = key(s)
                if k in samples:
                    sys.exit("sample %s twice" % k)
                samples[k] = s.value
                if fam.type in ("counter", "histogram"):
                    growing.add(k)
    except ValueError as e:
        sys.exit("does not parse: %s" % e)
    if not samples:
        sys.exit("no samples")
    if args.prev:
        with open(args.prev, encoding="utf-8") as f:
            prev = json.load(f)
        for k in sorted(growing):
            if k in prev and samples[k] < prev[k]:
                sys.exit("%s went down: %s -> %s" % (k, prev[k], samples[k]))
        gone = sorted(k for k in prev if k not in samples)
        if gone:
            sys.exit("series gone: %s" % ", ".join(gone[:5]))
    json.dump(samples, sys.stdout, sort_keys=True)
    print()


if __name__ == "__main__":
    main()
