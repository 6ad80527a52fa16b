#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: istio_release
short_description: Download, verify and unpack a pinned Istio release
version_added: "0.1.0"
description:
  - Ensures that the full Istio release archive for one version, OS and CPU architecture is
    unpacked as C(<install_dir>/istio-<version>/), beside any other versions already there.
  - The archive is downloaded to a temporary directory inside I(install_dir), its sha256 is
    checked against the published C(.sha256) file next to it and, when I(sha256) is given,
    against that pinned digest. Only a verified archive is unpacked, and the unpacked tree is
    moved into place with a rename. On any failure nothing is left behind and an existing
    release directory is not touched.
  - A verified release directory carries a C(.meshops-release.json) marker with the URL and
    digest. When the marker matches, the module makes no network access at all.
  - In check mode nothing is downloaded or written; the result says what would happen.
author:
  - meshops developers (@meshops)
options:
  version:
    description:
      - Istio release, C(MAJOR.MINOR.PATCH) with an optional pre-release suffix (C(1.31.0), C(1.31.0-rc.0)).
    type: str
    required: true
  os:
    description:
      - Operating system of the archive, as Istio names it (C(linux), C(osx)) or as the host
        reports it (C(Linux), C(Darwin)).
      - Empty means the OS of the host the module runs on.
    type: str
    default: ""
  arch:
    description:
      - CPU architecture of the archive, as Istio names it (C(amd64), C(arm64)) or as the host
        reports it (C(x86_64), C(aarch64), C(arm64)).
      - Empty means the architecture of the host the module runs on.
    type: str
    default: ""
  base_url:
    description:
      - Base of the release downloads. The archive URL is
        C(<base_url>/<version>/istio-<version>-<os>-<arch>.tar.gz) (macOS archives are
        C(istio-<version>-osx.tar.gz) and C(istio-<version>-osx-arm64.tar.gz)), and its digest is
        the same URL with C(.sha256) appended.
      - Point it at a mirror for air-gapped installs.
    type: str
    default: https://github.com/istio/istio/releases/download
  install_dir:
    description:
      - Directory under which releases are unpacked side by side as C(istio-<version>/).
      - Created when missing.
    type: path
    default: ~/.local/share/meshops-istio
  sha256:
    description:
      - Expected sha256 of the archive (64 hex digits). The download must match it as well as the
        published digest. A release installed with a different digest is downloaded again.
    type: str
  state:
    description:
      - C(present) ensures the release directory; C(absent) removes it (other versions stay).
    type: str
    choices: [present, absent]
    default: present
  timeout:
    description: Timeout in seconds for each HTTP request.
    type: int
    default: 60
  validate_certs:
    description: Verify TLS certificates of HTTPS downloads.
    type: bool
    default: true
notes:
  - Downloads use Ansible's URL handling (C(open_url)), so the usual C(https_proxy) and
    C(no_proxy) environment variables apply.
  - Supports check mode and diff mode.
requirements:
  - Python's standard library only (C(tarfile), C(hashlib)) on the host running the module.
seealso:
  - name: Istio releases
    description: Where the release archives and their digests are published.
    link: https://github.com/istio/istio/releases
"""

EXAMPLES = r"""
- name: Unpack Istio 1.31.0 for this host's platform
  meshops.istio.istio_release:
    version: "1.31.0"
  register: istio

- name: Use a local mirror and a pinned digest
  meshops.istio.istio_release:
    version: "1.31.0"
    os: linux
    arch: amd64
    base_url: http://127.0.0.1:8080/istio
    install_dir: /opt/istio
    sha256: 0f5d1c8d4e1b2a3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4

- name: Remove a release that is no longer used
  meshops.istio.istio_release:
    version: "1.30.4"
    state: absent
"""

RETURN = r"""
changed:
  description: Whether the release directory was created, replaced or removed (or would be, in check mode).
  returned: always
  type: bool
downloaded:
  description: Whether the archive was downloaded during this run. Always false in check mode.
  returned: always
  type: bool
operation:
  description: What was (or in check mode would be) done, C(none), C(install), C(reinstall) or C(remove).
  returned: always
  type: str
  sample: install
present:
  description: Whether the release directory exists after the run (false in check mode when it would be installed).
  returned: always
  type: bool
version:
  description: The Istio version.
  returned: always
  type: str
  sample: "1.31.0"
os:
  description: Istio's name for the OS of the archive.
  returned: always
  type: str
  sample: linux
arch:
  description: Istio's name for the CPU architecture of the archive.
  returned: always
  type: str
  sample: amd64
release_dir:
  description: The release directory, C(<install_dir>/istio-<version>).
  returned: always
  type: str
  sample: /home/user/.local/share/meshops-istio/istio-1.31.0
istioctl:
  description: Path of the istioctl binary inside the release directory.
  returned: always
  type: str
  sample: /home/user/.local/share/meshops-istio/istio-1.31.0/bin/istioctl
samples_dir:
  description: The release's C(samples/) directory (Bookinfo, addons).
  returned: always
  type: str
manifests_dir:
  description: The release's C(manifests/) directory.
  returned: always
  type: str
url:
  description: URL of the archive.
  returned: always
  type: str
  sample: https://github.com/istio/istio/releases/download/1.31.0/istio-1.31.0-linux-amd64.tar.gz
checksum_url:
  description: URL of the published digest.
  returned: always
  type: str
sha256:
  description: Verified sha256 of the installed archive; empty when nothing is installed or in check mode before an install.
  returned: always
  type: str
installed_versions:
  description: Versions with a verified release directory under I(install_dir) after the run, oldest first.
  returned: always
  type: list
  elements: str
  sample: ["1.30.4", "1.31.0"]
msg:
  description: What happened, in words.
  returned: always
  type: str
"""

import platform
from urllib.error import HTTPError, URLError

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.urls import open_url

from ansible_collections.meshops.istio.plugins.module_utils.istio.release import ReleaseError
from ansible_collections.meshops.istio.plugins.module_utils.istio.release_install import FetchError, ensure


def _fetcher(module):
    def fetch(url):
        try:
            return open_url(url, timeout=module.params["timeout"], validate_certs=module.params["validate_certs"],
                            http_agent="meshops.istio.istio_release", decompress=False)
        except HTTPError as exc:
            raise FetchError(url, exc.code, to_native(exc.reason))
        except URLError as exc:
            raise FetchError(url, None, to_native(exc.reason))
        except Exception as exc:  # socket timeouts, TLS errors
            raise FetchError(url, None, to_native(exc))
    return fetch


def main():
    module = AnsibleModule(
        argument_spec=dict(
            version=dict(type="str", required=True),
            os=dict(type="str", default=""),
            arch=dict(type="str", default=""),
            base_url=dict(type="str", default="https://github.com/istio/istio/releases/download"),
            install_dir=dict(type="path", default="~/.local/share/meshops-istio"),
            sha256=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            timeout=dict(type="int", default=60),
            validate_certs=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        result = ensure(
            install_dir=params["install_dir"],
            version=params["version"],
            os_name=params["os"] or platform.system(),
            arch=params["arch"] or platform.machine(),
            base_url=params["base_url"],
            pinned=params["sha256"],
            state=params["state"],
            check_mode=module.check_mode,
            diff=module._diff,
            fetch=_fetcher(module),
        )
    except ReleaseError as exc:
        module.fail_json(msg=to_native(exc), version=module.params["version"])
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot install Istio %s: %s" % (module.params["version"], to_native(exc)))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
