#!/usr/bin/env python3
"""Regenerates the option table of doc/configuration.md from `spind --help`
(the single option table in runtime/src/config.cpp). Usage:
    tools/gen-config-doc.py build/actors/spind
The test "doc/configuration.md documents every option and its default"
fails when the doc and the code disagree."""
import re
import subprocess
import sys

spind = sys.argv[1]
help_text = subprocess.run([spind, "--help"], capture_output=True, text=True,
                           check=True).stdout
rows = []
cur = None
for line in help_text.splitlines():
    m = re.match(r"^  --(\w+) (\S+)  \(default: (.*)\)$", line)
    if m:
        cur = {"name": m.group(1), "kind": m.group(2), "default": m.group(3), "help": [],
               "alias": ""}
        rows.append(cur)
        continue
    if cur is None:
        continue
    m = re.match(r"^      SPIN 1\.0 name: (.*)$", line)
    if m:
        cur["alias"] = ", ".join("`%s`" % a for a in m.group(1).split())
    elif line.startswith("      "):
        cur["help"].append(line.strip())
kinds = {"TEXT": "text", "NUMBER": "number", "0|1": "0/1", "LIST": "list"}
table = []
for r in rows:
    default = "(empty)" if r["default"] == "empty" else "`%s`" % r["default"]
    table.append("| `%s` | %s | %s | %s | %s |" % (
        r["name"], kinds.get(r["kind"], r["kind"]), default, " ".join(r["help"]),
        r["alias"] or "-"))
doc_path = "doc/configuration.md"
doc = open(doc_path).read()
start = doc.index("| option | type | default | meaning | SPIN 1.0 name |")
end = doc.index("\n\n", start)
header = "| option | type | default | meaning | SPIN 1.0 name |\n|---|---|---|---|---|\n"
doc = doc[:start] + header + "\n".join(table) + doc[end:]
open(doc_path, "w").write(doc)
print("%d options written to %s" % (len(table), doc_path))
