"""Make `ansible_collections.meshops.istio` importable from the working tree."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK_ROOT = os.path.join(ROOT, ".collections")

if not os.path.islink(os.path.join(LINK_ROOT, "ansible_collections", "meshops", "istio")):
    subprocess.run([os.path.join(ROOT, "scripts", "collection-link")], check=True)
if LINK_ROOT not in sys.path:
    sys.path.insert(0, LINK_ROOT)
