# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The work of the mesh_probe module: run the probe command, parse what it printed, summarise it.

Nothing here changes anything: a probe only sends test calls, so the result is never changed and
the probe runs in check mode too.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json

from ansible_collections.meshops.istio.plugins.module_utils.probe import result as probe_result
from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import RunnerError


def run(params, run_command):
    """One probe (source, to, ...) or, with ``probes``, all of them in one --batch run of the command.

    ``run_command(argv, data=None) -> (rc, stdout, stderr)``. Returns the module result; raises
    RunnerError when the command fails or prints no probe result."""
    try:
        if params.get("probes"):
            if params.get("source") or params.get("to"):
                raise probe_result.ProbeError("give either probes or source and to, not both")
            specs = [probe_result.batch_spec(p) for p in params["probes"]]
            argv = [str(part) for part in params.get("command") or []]
            if not argv:
                raise probe_result.ProbeError("command is empty: give the probe command's argv prefix (verify_probe_command)")
            argv.append("--batch")
            rc, out, err = run_command(argv, data=json.dumps(specs))
            if rc != 0:
                raise RunnerError("probe command failed (rc %d): %s" % (rc, (err or out or "").strip()[-1000:]), cmd=argv, rc=rc)
            results = [probe_result.with_summary(r) for r in probe_result.parse_output(out, batch=True)]
            if len(results) != len(specs):
                raise RunnerError("the probe command answered %d results for %d probes" % (len(results), len(specs)), cmd=argv)
            return {"changed": False, "cmd": argv, "results": results}
        argv = probe_result.probe_argv(params.get("command"), params.get("source"), params.get("to"), params.get("headers"),
                                       params.get("count") or 1, params.get("timeout") or 10.0, params.get("plain"))
        rc, out, err = run_command(argv)
        if rc != 0:
            details = {"cmd": argv, "rc": rc}
            try:
                details["probe"] = probe_result.parse_output(out)
            except probe_result.ProbeError:
                pass
            raise RunnerError("probe command failed (rc %d): %s" % (rc, (err or out or "").strip()[-1000:]), **details)
        parsed = probe_result.with_summary(probe_result.parse_output(out))
        parsed.update(changed=False, cmd=argv)
        return parsed
    except probe_result.ProbeError as exc:
        raise RunnerError(str(exc))
