#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: traffic_outputs
short_description: Write a traffic model's rendered objects and its picture (DOT, SVG, PNG)
version_added: 0.1.0
description:
  - Writes the rendered objects of a traffic model to C(<dest>/<name>.yaml) and its picture as
    Graphviz DOT text to C(<dest>/<name>.dot), and renders the DOT text with Graphviz's C(dot) into
    each of O(formats) beside it (C(<dest>/<name>.svg), ...). Creates O(dest) when missing.
  - The texts come from the P(meshops.istio.traffic_render#filter) filter or from
    M(meshops.istio.traffic_model) with O(meshops.istio.traffic_model#module:validate_only=true).
  - A file is written only when its content changes, and a picture is rendered again only when
    the DOT text changed or the picture is missing, so a second run reports no change.
  - When C(dot) is not installed the module warns and still writes the C(.dot) file.
author:
  - meshops developers (@meshops)
requirements:
  - Graphviz (the C(dot) command) for O(formats); without it only the text files are written.
options:
  dest:
    description: Directory for the files.
    type: path
    required: true
  name:
    description: Base name of the files, normally the model's name.
    type: str
    required: true
  dot:
    description: The DOT text.
    type: str
    required: true
  manifest:
    description: The rendered objects (multi-document YAML); not written when omitted.
    type: str
  formats:
    description: Pictures to render from the DOT text.
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
  dir_mode:
    description: Mode of O(dest) when the module creates it.
    type: raw
    default: "0750"
attributes:
  check_mode:
    support: full
    description: Reports what would be written without writing it.
  diff_mode:
    support: none
    description: The files written are reported by path, not diffed.
"""

EXAMPLES = r"""
- name: Validate and render the model on the controller
  ansible.builtin.set_fact:
    rendered: "{{ model | meshops.istio.traffic_render }}"

- name: Write the objects and the picture
  meshops.istio.traffic_outputs:
    dest: "{{ mesh_output_dir }}/traffic"
    name: "{{ rendered.name }}"
    manifest: "{{ rendered.manifest }}"
    dot: "{{ rendered.dot }}"
"""

RETURN = r"""
written:
  description: Files written (or that would be written in check mode) by this run, pictures included.
  returned: always
  type: list
  elements: str
files:
  description: Every output file that exists after the run.
  returned: always
  type: list
  elements: str
dot_missing:
  description: True when Graphviz's C(dot) was not found and no picture was rendered.
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


def _write(module, path, content):
    """Write content to path when it differs; return True when it did (or would)."""
    if _read(path) == content:
        return False
    if not module.check_mode:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".traffic-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        module.atomic_move(tmp, path)
    return True


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            name=dict(type="str", required=True),
            dot=dict(type="str", required=True),
            manifest=dict(type="str"),
            formats=dict(type="list", elements="str", default=["svg", "png"], choices=["svg", "png", "pdf"]),
            command=dict(type="str", default="dot"),
            mode=dict(type="raw", default="0640"),
            dir_mode=dict(type="raw", default="0750"),
        ),
        supports_check_mode=True,
    )
    dest, name = module.params["dest"], module.params["name"]
    if not name or os.sep in name or name.startswith("."):
        module.fail_json(msg="name=%r must be a plain file name" % name)
    result = {"changed": False, "written": [], "dot_missing": False}

    if not os.path.isdir(dest):
        result["changed"] = True
        result["written"].append(dest)
        if module.check_mode:
            module.exit_json(files=[], **result)
        os.makedirs(dest)
        module.set_mode_if_different(dest, module.params["dir_mode"], True)

    dot_path = os.path.join(dest, name + ".dot")
    texts = [(dot_path, module.params["dot"])]
    if module.params["manifest"] is not None:
        texts.insert(0, (os.path.join(dest, name + ".yaml"), module.params["manifest"]))
    dot_changed = False
    for path, text in texts:
        if _write(module, path, to_bytes(text)):
            result["written"].append(path)
            dot_changed = dot_changed or path == dot_path
        if os.path.exists(path) and module.set_mode_if_different(path, module.params["mode"], False):
            result["changed"] = True

    outputs = [(fmt, os.path.join(dest, "%s.%s" % (name, fmt))) for fmt in module.params["formats"]]
    todo = [(fmt, out) for fmt, out in outputs if dot_changed or not os.path.exists(out)]
    command = module.params["command"]
    dot_bin = None
    if outputs:
        if os.sep in command:
            dot_bin = command if os.access(command, os.X_OK) else None
        else:
            dot_bin = module.get_bin_path(command)
    if outputs and not dot_bin:
        result["dot_missing"] = True
        module.warn("Graphviz '%s' was not found, so only %s was written; install graphviz (apt-get install "
                    "graphviz) to get %s" % (command, dot_path, ", ".join(pair[1] for pair in outputs)))
        todo = []
    for fmt, out in todo:
        result["written"].append(out)
        if module.check_mode:
            continue
        fd, tmp = tempfile.mkstemp(dir=dest, prefix=".traffic-", suffix="." + fmt)
        os.close(fd)
        rc, _out, err = module.run_command([dot_bin, "-T" + fmt, "-o", tmp, dot_path])
        if rc != 0:
            os.unlink(tmp)
            module.fail_json(msg="%s -T%s %s failed (rc %d): %s" % (dot_bin, fmt, dot_path, rc, err.strip()), **result)
        module.atomic_move(tmp, out)
        module.set_mode_if_different(out, module.params["mode"], False)
    result["changed"] = result["changed"] or bool(result["written"])
    candidates = [pair[0] for pair in texts] + [pair[1] for pair in outputs]
    result["files"] = [p for p in candidates if os.path.exists(p)]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
