#!/usr/bin/python3
"""Reads benchmark JSON lines (ours and a reference) from stdin and prints,
per (bench, size, threads), each implementation's rate and our ratio."""
import collections
import json
import sys


def main():
    rows = collections.OrderedDict()
    for line in sys.stdin:
        line = line.strip()
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        unit = "gflops" if "gflops" in r else "gbps"
        rows.setdefault((r["bench"], r["size"], r["threads"], unit), {})[r["impl"]] = r[unit]
    print(f"{'bench':8} {'size':>9} {'thr':>3} {'unit':>6} {'metagrad':>10} {'reference':>10} {'ratio':>7}")
    for (bench, size, threads, unit), impls in rows.items():
        ours = impls.get("metagrad")
        for ref_name in ("openblas", "pytorch"):
            if ref_name in impls and ours:
                ref = impls[ref_name]
                print(f"{bench:8} {size:>9} {threads:>3} {unit:>6} {ours:>10.2f} {ref:>10.2f} {ours / ref:>6.2f}x"
                      f"  (vs {ref_name})")


if __name__ == "__main__":
    main()
