"""Strategy `mitogen_linear`, the default of this checkout's runs (ansible.cfg's `strategy` and
`strategy_plugins`, which names this directory); `ANSIBLE_STRATEGY=linear` runs without it.

Mitogen for Ansible (the `mitogen` package, pinned in requirements.txt) runs each task's module in
a warm interpreter forked from one that already imported Ansible's module code, instead of
starting a new Python that imports it again for every task: the same tasks and results (its -vvv
output differs; figures in docs/DEVELOPING.md). This file only gives
Ansible's plugin loader the strategy under the package's canonical import name, so that its
classes are loaded once; naming the package's own plugin directory in ansible.cfg would hard-code
the venv's Python version.
"""

import ansible_mitogen.loaders  # pylint: disable=import-error
import ansible_mitogen.strategy  # pylint: disable=import-error

_LINEAR = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, _LINEAR):  # pylint: disable=too-few-public-methods
    """Ansible's linear strategy, with modules run by Mitogen."""
