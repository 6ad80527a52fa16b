# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compare a recorded desired object with the live one, field by field, as JSON pointers.

Only what the desired object sets counts: a field the API server (or another controller) adds is
never drift. A desired value of null, or an empty string, list or map, matches a missing field.
Lists of maps that all carry a `name` are matched by name, other lists by position; list items the
desired list does not have are drift (someone added them). Kubernetes quantities compare by value
("1000m" equals "1"). A desired value recorded as a digest (see `digest_marker`) compares the
sha256 of the live value.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import hashlib
import json
import re
from decimal import Decimal, InvalidOperation

DIGEST_KEY = "$meshops.istio/sha256"

_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_SUFFIX = {None: 1, "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": 10 ** 3, "M": 10 ** 6,
           "G": 10 ** 9, "T": 10 ** 12, "P": 10 ** 15, "E": 10 ** 18, "Ki": 2 ** 10, "Mi": 2 ** 20,
           "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}


def canonical(value):
    """The JSON text of `value` with sorted keys (what digests are taken of)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def digest(value):
    return hashlib.sha256(canonical(value).encode("utf-8")).hexdigest()


def digest_marker(value):
    """What a record stores instead of `value` (a Secret's data, a value too large to keep)."""
    return {DIGEST_KEY: digest(value)}


def is_digest(value):
    return isinstance(value, dict) and list(value) == [DIGEST_KEY]


def escape(token):
    """One JSON pointer token (RFC 6901)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def unescape(token):
    return token.replace("~1", "/").replace("~0", "~")


def split_pointer(pointer):
    """The tokens of a JSON pointer ("" is the whole object)."""
    if pointer in ("", "/"):
        return []
    return [unescape(t) for t in pointer.split("/")[1:]]


def join_pointer(tokens):
    return "".join("/" + escape(t) for t in tokens)


def _quantity(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value)
    if not match:
        return None
    try:
        return Decimal(match.group(1)) * _SUFFIX[match.group(2)]
    except (InvalidOperation, KeyError):
        return None


def scalar_equal(desired, live):
    if desired == live and type(desired) is type(live):
        return True
    if isinstance(desired, bool) or isinstance(live, bool):
        return False
    if isinstance(desired, (int, float)) and isinstance(live, (int, float)):
        return desired == live
    if isinstance(desired, str) and isinstance(live, str) and desired != live:
        left, right = _quantity(desired), _quantity(live)
        return left is not None and right is not None and left == right
    if isinstance(desired, str) != isinstance(live, str):
        # an int-or-string field such as a quantity: 1 and "1", 500m and 0.5
        left, right = _quantity(desired), _quantity(live)
        return left is not None and right is not None and left == right
    return False


def empty(value):
    return value is None or value == "" or value == {} or value == []


def _keyed(items):
    """The key to match list items by, or None for positional matching."""
    if items and all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items):
        names = [i["name"] for i in items]
        if len(set(names)) == len(names):
            return "name"
    return None


def diff(desired, live, path=None):
    """[(tokens, desired value, live value)] where `live` differs from what `desired` sets; a
    missing live field has the live value None."""
    path = path or []
    if is_digest(desired):
        if live is None or digest(live) != desired[DIGEST_KEY]:
            return [(path, desired, None if live is None else digest_marker(live))]
        return []
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return [] if empty(desired) and live is None else [(path, desired, live)]
        out = []
        for key in desired:
            value = desired[key]
            if key not in live or live[key] is None:
                if not empty(value):
                    out.append((path + [key], value, None))
                continue
            out.extend(diff(value, live[key], path + [key]))
        return out
    if isinstance(desired, list):
        if not isinstance(live, list):
            return [] if empty(desired) and live is None else [(path, desired, live)]
        key = _keyed(desired)
        if key and _keyed(live) == key:
            return _diff_keyed(desired, live, path, key)
        out = []
        for index, item in enumerate(desired):
            if index >= len(live):
                out.append((path + [index], item, None))
            else:
                out.extend(diff(item, live[index], path + [index]))
        for index in range(len(desired), len(live)):
            out.append((path + [index], None, live[index]))
        return out
    if desired is None:
        return []
    if live is None:
        return [] if desired == "" else [(path, desired, None)]
    return [] if scalar_equal(desired, live) else [(path, desired, live)]


def _diff_keyed(desired, live, path, key):
    out = []
    live_index = dict((item[key], index) for index, item in enumerate(live))
    wanted = set()
    for index, item in enumerate(desired):
        wanted.add(item[key])
        if item[key] not in live_index:
            out.append((path + [index], item, None))
        else:
            out.extend(diff(item, live[live_index[item[key]]], path + [live_index[item[key]]]))
    for index, item in enumerate(live):
        if item[key] not in wanted:
            out.append((path + [index], None, item))
    return out


def remove_pointer(obj, tokens):
    """Remove the field at `tokens` from `obj` (in place); '*' matches every key or index."""
    if not tokens:
        return
    head, rest = tokens[0], tokens[1:]
    if isinstance(obj, dict):
        keys = list(obj) if head == "*" else ([head] if head in obj else [])
        for key in keys:
            if rest:
                remove_pointer(obj[key], rest)
            else:
                del obj[key]
    elif isinstance(obj, list):
        if head == "*":
            indexes = list(range(len(obj)))
        elif head.isdigit() and int(head) < len(obj):
            indexes = [int(head)]
        else:
            indexes = []
        for index in reversed(indexes):
            if rest:
                remove_pointer(obj[index], rest)
            else:
                del obj[index]


def has_digest(value):
    """True when `value` holds a digest marker anywhere (such a record cannot be re-applied as is)."""
    if is_digest(value):
        return True
    if isinstance(value, dict):
        return any(has_digest(v) for v in value.values())
    if isinstance(value, list):
        return any(has_digest(v) for v in value)
    return False
