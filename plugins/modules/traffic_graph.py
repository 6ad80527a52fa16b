#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: traffic_graph
short_description: Write a traffic model's picture as DOT and render it with Graphviz
version_added: 0.1.0
description:
  - Writes Graphviz DOT text (as returned by M(meshops.istio.traffic_model) with
    O(meshops.istio.traffic_model#module:validate_only=true)) to O(path) and renders it with
    Graphviz's C(dot) into each of O(formats), beside the C(.dot) file.
  - A picture is rendered again only when the DOT text changed or the picture is missing, so a
    second run reports no change.
  - When C(dot) is not installed the module warns and still writes the C(.dot) file.
author:
  - meshops developers
requirements:
  - Graphviz (the C(dot) command) for O(formats); without it only the C(.dot) file is written.
options:
  dot:
    description: The DOT text.
    type: str
    required: true
  path:
    description: Where to write the DOT text; pictures go beside it with the extension replaced.
    type: path
    required: true
  formats:
    description: Pictures to render.
    type: list
    elements: str
    choices: [svg, png, pdf]
    default: [svg, png]
  command:
    description: Graphviz's C(dot) program, a name looked up on C(PATH) or a path.
    type: str
    default: dot
  mode:
    description: File mode of the files written.
    type: raw
    default: "0640"
attributes:
  check_mode:
    support: full
    description: Reports what would be written without writing it.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Render the model without applying it
  meshops.istio.traffic_model:
    model: "{{ model }}"
    validate_only: true
    check_hosts: false
  register: rendered

- name: Draw it
  meshops.istio.traffic_graph:
    dot: "{{ rendered.dot }}"
    path: "{{ mesh_output_dir }}/traffic/{{ rendered.model.name }}.dot"
"""

RETURN = r"""
path:
  description: The DOT file.
  returned: always
  type: str
rendered:
  description: Pictures written (or that would be written in check mode) by this run.
  returned: always
  type: list
  elements: str
files:
  description: Every file of the picture that exists after the run.
  returned: always
  type: list
  elements: str
dot_missing:
  description: True when Graphviz's C(dot) was not found and only the DOT file was written.
  returned: always
  type: bool
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dot=dict(type="str", required=True),
            path=dict(type="path", required=True),
            formats=dict(type="list", elements="str", default=["svg", "png"], choices=["svg", "png", "pdf"]),
            command=dict(type="str", default="dot"),
            mode=dict(type="raw", default="0640"),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    content = to_bytes(module.params["dot"])
    base = os.path.splitext(path)[0]
    outputs = [(fmt, "%s.%s" % (base, fmt)) for fmt in module.params["formats"]]
    directory = os.path.dirname(path) or "."
    result = {"changed": False, "path": path, "rendered": [], "dot_missing": False}

    dot_changed = _read(path) != content
    if dot_changed:
        result["changed"] = True
        if not module.check_mode:
            if not os.path.isdir(directory):
                os.makedirs(directory)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".traffic-graph-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            module.atomic_move(tmp, path)
    if os.path.exists(path):
        result["changed"] = module.set_mode_if_different(path, module.params["mode"], result["changed"])

    todo = [(fmt, out) for fmt, out in outputs if dot_changed or not os.path.exists(out)]
    command = module.params["command"]
    if os.sep in command:
        dot_bin = command if os.access(command, os.X_OK) else None
    else:
        dot_bin = module.get_bin_path(command) if outputs else None
    if outputs and not dot_bin:
        result["dot_missing"] = True
        module.warn("Graphviz '%s' was not found, so only %s was written; install graphviz "
                    "(apt-get install graphviz) to get %s" % (command, path, ", ".join(out for _, out in outputs)))
        todo = []
    for fmt, out in todo:
        result["rendered"].append(out)
        result["changed"] = True
        if module.check_mode:
            continue
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".traffic-graph-", suffix="." + fmt)
        os.close(fd)
        rc, _out, err = module.run_command([dot_bin, "-T" + fmt, "-o", tmp, path])
        if rc != 0:
            os.unlink(tmp)
            module.fail_json(msg="dot -T%s %s failed (rc %d): %s" % (fmt, path, rc, err.strip()), **result)
        module.atomic_move(tmp, out)
        module.set_mode_if_different(out, module.params["mode"], True)
    result["files"] = [p for p in [path] + [out for _, out in outputs] if os.path.exists(p)]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
