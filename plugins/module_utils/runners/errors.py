# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every runner shares: the one error type it raises, and the hand-off from a module's main().

A runner is `run(params, check_mode=False, ..., kube_factory=Kube)`: it returns the module result (a
dict) and raises RunnerError when the run fails; it never exits. Commands are run through an injected
`run_command(cmd, data=None) -> (rc, stdout, stderr)` (module.run_command) so unit tests need no Ansible.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import traceback

from ansible_collections.meshops.istio.plugins.module_utils.kube.client import KubeClientError, kube_from_params


class RunnerError(Exception):
    """A run failed; the module fails with `msg=str(error)` and the `details` as further result keys."""

    def __init__(self, msg, **details):
        self.msg = msg
        self.details = details
        super(RunnerError, self).__init__(msg)

    def result(self):
        """The keyword arguments of module.fail_json for this error."""
        return dict(self.details, msg=self.msg)


def connect(params, kube_factory):
    """The runner's Kube for params' kubeconfig and context; RunnerError naming the kubeconfig when it
    cannot be loaded."""
    try:
        return kube_from_params(params, factory=kube_factory)
    except KubeClientError as exc:
        raise RunnerError(str(exc))


def run_module(module, run, what=None, **kwargs):
    """Call `run(module.params, check_mode=module.check_mode, **kwargs)`, then exit the module with its
    result, or fail it with the RunnerError's message and details.

    With `what` (such as "security model"), any other exception fails the module with
    "<what> failed: <error>" and the traceback; without it, it is not caught.
    """
    try:
        result = run(module.params, check_mode=module.check_mode, **kwargs)
    except RunnerError as exc:
        module.fail_json(**exc.result())
    except Exception as exc:  # pylint: disable=broad-except
        if what is None:
            raise
        module.fail_json(msg="%s failed: %s" % (what, exc), exception=traceback.format_exc())
    module.exit_json(**result)
