# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collects the errors of a traffic model check; each names the service (or gateway) and the field."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import difflib

from ansible_collections.meshops.istio.plugins.module_utils.kube.names import is_label_key, is_label_value
from ansible_collections.meshops.istio.plugins.module_utils.traffic.schema import (
    camel_to_snake, is_int, is_number, is_str, parse_duration_ms,
)


class Checker(object):
    """Collects errors; ``where`` is the human prefix naming the service and the field."""

    def __init__(self):
        self.errors = []

    def error(self, where, message):
        self.errors.append("%s: %s" % (where, message) if where else message)

    def mapping(self, value, where, accepted, required=()):
        """Check that value is a mapping with only accepted keys; return it (or {} when not)."""
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.error(where, "must be a mapping, got %s %r" % (type(value).__name__, value))
            return {}
        for key in value:
            if key not in accepted:
                self.error(where, "unknown key %r%s (accepted: %s)" % (
                    key, suggest(key, accepted), ", ".join(accepted)))
        for key in required:
            if key not in value or value[key] in (None, ""):
                self.error(where, "%r is required" % key)
        return value

    def sequence(self, value, where):
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(where, "must be a list, got %s %r" % (type(value).__name__, value))
            return []
        return value

    def string(self, value, where, rule=None, what=None):
        """A non-empty string; with ``rule`` (a predicate) one it accepts, else "not a valid <what>"."""
        if not is_str(value) or not value:
            self.error(where, "must be a non-empty string, got %r" % (value,))
            return False
        if rule is not None and not rule(value):
            self.error(where, "%r is not a valid %s" % (value, what or "value"))
            return False
        return True

    def integer(self, value, where, low, high):
        if not is_int(value):
            self.error(where, "must be an integer from %d to %d, got %r" % (low, high, value))
            return False
        if not low <= value <= high:
            self.error(where, "%d is out of range: use %d to %d" % (value, low, high))
            return False
        return True

    def percentage(self, value, where):
        if not is_number(value):
            self.error(where, "must be a number from 0 to 100, got %r" % (value,))
            return False
        if not 0 <= value <= 100:
            self.error(where, "%s is out of range: a percentage is 0 to 100" % (value,))
            return False
        return True

    def duration(self, value, where):
        millis = parse_duration_ms(value)
        if millis is None:
            self.error(where, "%r is not a duration (use e.g. '10s', '500ms', '1m30s' or a number of seconds)"
                       % (value,))
            return False
        if millis < 0:
            self.error(where, "%r is negative: a duration must be at least 1ms" % (value,))
            return False
        if millis < 1:
            self.error(where, "%r is too short: a duration must be at least 1ms" % (value,))
            return False
        if abs(millis - round(millis)) > 1e-6:
            self.error(where, "%r is finer than a millisecond, which Istio does not accept" % (value,))
            return False
        return True

    def labels(self, value, where):
        if not isinstance(value, dict):
            self.error(where, "must be a mapping of label names to strings, got %r" % (value,))
            return False
        good = True
        for key, val in value.items():
            if not is_label_key(key):
                self.error(where, "%r is not a valid label name" % (key,))
                good = False
            if not is_str(val):
                self.error(where, "label %s: value must be a string, got %r (quote it)" % (key, val))
                good = False
            elif not is_label_value(val):
                self.error(where, "label %s: %r is not a valid label value" % (key, val))
                good = False
        return good


def suggest(key, accepted):
    if not is_str(key):
        return ""
    snake = camel_to_snake(key)
    if snake != key and snake in accepted:
        return " (did you mean %r? model keys are snake_case)" % snake
    close = difflib.get_close_matches(key, accepted, n=1)
    return " (did you mean %r?)" % close[0] if close else ""
