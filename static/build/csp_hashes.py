#!/usr/bin/env python3
"""Trunk post-build hook: allow exactly the inline scripts Trunk injected into index.html.

The Content-Security-Policy in index.html says `script-src 'self' ...`; Trunk adds one inline
module script that loads the wasm. This replaces the placeholder `'trunk-inline-scripts'` in the
policy with the sha256 hash of every inline script, so nothing else inline can run.
"""
import base64
import hashlib
import os
import re
import sys

path = os.path.join(os.environ.get("TRUNK_STAGING_DIR", sys.argv[1] if len(sys.argv) > 1 else "dist"), "index.html")
html = open(path, encoding="utf-8").read()
scripts = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, flags=re.S)
hashes = " ".join(
    "'sha256-%s'" % base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode() for s in scripts
)
if "'trunk-inline-scripts'" not in html:
    sys.exit("csp_hashes: placeholder 'trunk-inline-scripts' not found in " + path)
open(path, "w", encoding="utf-8").write(html.replace("'trunk-inline-scripts'", hashes))
print("csp_hashes: allowed %d inline script(s)" % len(scripts))
