#!/usr/bin/env python3
"""Turns the JSON lines the reliability tests append (one per test) into
Markdown tables, one per suite, for RELIABILITY.md.

Usage: scripts/reliability-summary.py target/reliability/<run>.jsonl
"""
import json
import sys


def main(path):
    suites = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                print(f"{path}:{n}: not a JSON line ({e})", file=sys.stderr)
                return 1
            suites.setdefault(row.get("suite", "?"), []).append(row)
    for suite, rows in suites.items():
        columns = []
        for row in rows:
            for key in row:
                if key != "suite" and key not in columns:
                    columns.append(key)
        print(f"### {suite}\n")
        print("| " + " | ".join(columns) + " |")
        print("|" + "---|" * len(columns))
        for row in rows:
            print("| " + " | ".join(show(row.get(c, "")) for c in columns) + " |")
        print()
    return 0


def show(v):
    if isinstance(v, float):
        return f"{v:.1f}"
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    return str(v).replace("|", "\\|")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
