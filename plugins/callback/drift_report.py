# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
name: drift_report
type: aggregate
short_description: Write a drift report of every task that changed (or would change)
description:
  - Records each task that reported C(changed), with its host, play, role, task name and diff.
  - Run with C(--check --diff) the report lists drift (what a run would correct) and nothing
    changes; run without C(--check) it lists what was corrected.
  - Writes C(drift-report.json) and C(drift-report.md) into I(report_dir) at the end of the run
    and prints a one-line summary.
  - Enable it with C(ANSIBLE_CALLBACKS_ENABLED=meshops.istio.drift_report).
options:
  report_dir:
    description: Directory for the report files; created when missing.
    type: path
    default: ~/.meshops-istio
    env:
      - name: MESHOPS_DRIFT_REPORT_DIR
    ini:
      - section: callback_drift_report
        key: report_dir
"""

import datetime
import json
import os

from ansible import context
from ansible.plugins.callback import CallbackBase

from ansible_collections.meshops.istio.plugins.plugin_utils.drift import (
    drift_entry,
    render_markdown,
    summarize,
)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "meshops.istio.drift_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None, options=None):
        super(CallbackModule, self).__init__(display=display, options=options)
        self._entries = []
        self._play = ""
        # --check on the command line; a play may also set check_mode itself
        self._check_mode = bool((context.CLIARGS or {}).get("check"))
        self._started = datetime.datetime.now(datetime.timezone.utc)

    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name()
        self._check_mode = self._check_mode or bool(getattr(play, "check_mode", False))

    def v2_runner_on_ok(self, result):
        task = result._task
        res = result._result
        if res.get("_ansible_no_log") or task.no_log:
            res = {"changed": res.get("changed", False)}
        entry = drift_entry(
            host=result._host.get_name(), play=self._play,
            role=task._role.get_name() if task._role else "",
            task=task.get_name(), action=task.action, result=res)
        if entry:
            self._entries.append(entry)

    def v2_playbook_on_stats(self, stats):
        self.set_options()
        report = summarize(self._entries, check_mode=self._check_mode, started=self._started.isoformat())
        directory = os.path.expanduser(self.get_option("report_dir"))
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "drift-report.json"), "w") as handle:
            json.dump(report, handle, indent=2, sort_keys=True)
        with open(os.path.join(directory, "drift-report.md"), "w") as handle:
            handle.write(render_markdown(report))
        self._display.display("DRIFT REPORT: %s (%s)" % (report["summary"], os.path.join(directory, "drift-report.md")))
