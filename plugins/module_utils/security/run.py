# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the security modules (security_model, access_matrix) hand their run to module_utils and end."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import traceback


def exit_with(module, run, what):
    """Exit ``module`` with the result of ``run(module)``.

    A ValueError (bad input, an answer that cannot be used) fails the module with its message;
    anything else fails it with "<what> failed: <error>" and the traceback.
    """
    try:
        result = run(module)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="%s failed: %s" % (what, exc), exception=traceback.format_exc())
    module.exit_json(**result)
